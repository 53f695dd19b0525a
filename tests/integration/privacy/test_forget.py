"""`abm privacy forget` against a running worker: the person leaves the account states, the
changelog's latest records, the account page and Redis; their new events are suppressed; the
audit log names them by pseudonym only. Before and after, the long-lived topics name persons by
pseudonym only, and the account page names them (looked up at the edge)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from abm.core.privacy import Identity
from abm.core.state import AccountState
from abm_cli.main import app
from abm_cli.settings import Settings, get_settings
from stream.topics import MQA, RESOLVED, engagement_changelog
from tests.integration.privacy.helpers import everything_stored
from tests.support.factories import account, touchpoint
from tests.support.harness import (
    WorkerProcess,
    create_topics,
    load_directory,
    make_settings,
    produce_raw,
    read_topic,
    topic,
    worker_metric,
)
from tests.support.polling import until
from tests.support.stories import buying_group, page_view

pytestmark = pytest.mark.integration

FORGOTTEN = b"p0@buyer.example"
KEPT = b"p1@buyer.example"
IDENTITIES = (b"@buyer.example", b"buyer-u")
"""What names the story's persons in the clear: their e-mails and userIds."""


async def assert_pseudonymous(settings: Settings, *, topics: bool = True) -> None:
    """The resolved touchpoints and the MQAs (with `topics`) and every changelog record name
    nobody in the clear."""
    for name in (RESOLVED.name(settings.topic_prefix), MQA.name(settings.topic_prefix)):
        if not topics:
            break
        for record in await read_topic(settings, name, timeout_s=3):
            assert not any(i in record.value for i in IDENTITIES), (name, record.value[:300])
    for record in await read_topic(settings, engagement_changelog(settings.app_id), timeout_s=3):
        if record.value:
            text = orjson.dumps(AccountState.from_bytes(record.value).to_dict())
            assert not any(i in text for i in IDENTITIES), text[:300]


async def latest_state(settings: Settings, account_id: bytes) -> AccountState:
    records = await read_topic(settings, engagement_changelog(settings.app_id), timeout_s=5)
    values = [r.value for r in records if r.key == account_id]
    return AccountState.from_bytes(values[-1])


async def account_page(settings: Settings, account_id: str) -> bytes:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://127.0.0.1:{settings.web_port}/accounts/{account_id}",
            headers={"Accept": "application/json"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.read()


async def shown(email: str) -> dict[str, Any]:
    """`abm privacy show --email EMAIL`, as JSON."""
    result = await asyncio.to_thread(CliRunner().invoke, app, ["privacy", "show", "--email", email])
    assert result.exit_code == 0, result.output
    held: dict[str, Any] = orjson.loads(result.stdout)
    return held


@pytest.fixture
async def stack(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Settings, WorkerProcess]]:
    settings = make_settings(
        kafka_bootstrap, redis_url, tmp_path, pseudonym_key="the test deployment's key"
    )
    for name, value in settings.to_env().items():  # the CLI sees what the worker sees
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    story = buying_group("buyer", int(time.time() * 1000) - 7 * 86_400_000)
    await create_topics(settings)
    await load_directory(settings, story.accounts, story.contacts)
    await produce_raw(settings, story.messages)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        yield settings, worker
    finally:
        worker.stop()
        get_settings.cache_clear()


async def test_a_forgotten_person_leaves_the_states_the_page_and_redis(
    stack: tuple[Settings, WorkerProcess], redis_url: str
) -> None:
    settings, worker = stack
    [mqa] = await read_topic(settings, MQA, until=1, timeout_s=90, settle_s=1, worker=worker)
    secret = settings.pseudonym_secret()
    pseudonym = Identity("email", "p0@buyer.example").pseudonym(secret)
    assert pseudonym.encode() in mqa.value  # named in the explanation before, by pseudonym
    await until(
        lambda: worker_metric(settings, "abm_engagement_flushes_total"), "the states' write"
    )
    assert pseudonym in (await latest_state(settings, b"buyer")).contacts
    await assert_pseudonymous(settings)
    page = await account_page(settings, "buyer")
    assert FORGOTTEN in page and KEPT in page and pseudonym.encode() not in page  # the edge

    held = await shown("p0@buyer.example")
    assert not held["suppressed"]
    assert [c["email"] for c in held["directory"]["contacts"]] == ["p0@buyer.example"]
    assert held["directory"]["pseudonym_index"] == [pseudonym]
    [account_held] = held["accounts"]
    assert account_held["account_id"] == "buyer" and account_held["mqas_naming_them"]
    assert [c["contact"] for c in account_held["contacts"]] == [pseudonym]

    forgot = await asyncio.to_thread(
        CliRunner().invoke, app, ["privacy", "forget", "--email", "P0@buyer.example"]
    )
    assert forgot.exit_code == 0, forgot.output
    assert "forgotten: the e-mail and 0 linked id(s); its contact record and links deleted" in (
        forgot.output
    )

    async def scrubbed() -> bool:
        return await worker_metric(settings, "abm_accounts_scrubbed_total") >= 1

    await until(scrubbed, "the worker's scrub")
    state = orjson.dumps((await latest_state(settings, b"buyer")).to_dict())
    kept = Identity("email", "p1@buyer.example").pseudonym(secret).encode()
    assert pseudonym.encode() not in state and kept in state
    held = await shown("p0@buyer.example")
    assert held["suppressed"] and held["accounts"] == []
    assert held["directory"] == {"contacts": [], "person_links": [], "pseudonym_index": []}
    page = await account_page(settings, "buyer")
    assert FORGOTTEN not in page and KEPT in page
    redis = aioredis.Redis.from_url(redis_url)
    try:
        stored = await everything_stored(redis, settings.redis_prefix)
        assert FORGOTTEN not in stored and KEPT in stored
        [(_, audit)] = await redis.xrange(f"{settings.redis_prefix}:privacy:audit") or []
        assert audit is not None
        assert audit[b"pseudonym"] == pseudonym.encode() and audit[b"action"] == b"forget"
    finally:
        await redis.aclose()

    # their new events are suppressed, counted, and never resolved
    resolved_before = len(await read_topic(settings, RESOLVED, timeout_s=3))
    later = page_view("p0@buyer.example", "buyer-u0", "/pricing", int(time.time() * 1000), "new")
    await produce_raw(settings, [later])

    async def suppressed() -> bool:
        return await worker_metric(settings, 'abm_suppressed_total{stage="resolution"}') >= 1

    await until(suppressed, "the suppression of the new event")
    assert len(await read_topic(settings, RESOLVED, timeout_s=3)) == resolved_before

    # one of theirs already resolved before the erasure (a backlog) is not applied either
    backlog = touchpoint(
        "Demo Requested", contact="p0@buyer.example", account_record=account("buyer")
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic(settings, RESOLVED), backlog.to_json(), key=b"buyer")
    finally:
        await producer.stop()

    async def dropped() -> bool:
        series = 'abm_suppressed_total{stage="engagement"}'
        return await worker_metric(settings, series) >= 1

    await until(dropped, "the engagement agent's drop")
    assert FORGOTTEN not in await account_page(settings, "buyer")
    await assert_pseudonymous(settings, topics=False)  # the backlog record above is ours


def test_forget_refuses_bad_input_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(app, ["privacy", "forget", "--email", "not-an-address"])
    finally:
        get_settings.cache_clear()
    assert refused.exit_code == 2
    assert "is not an e-mail address" in refused.output
