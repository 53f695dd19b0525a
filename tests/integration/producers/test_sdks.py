"""The real Segment and RudderStack Python SDKs, pointed at the collector, deliver track, page,
identify and group calls that come out of Kafka as the expected touchpoints (the worker resolves
them), keyed by account on the raw topic, with the directory taught by identify and group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from abm.core.privacy import Identity
from abm.core.touchpoint import Touchpoint
from abm.plumbing.redis_clients import open_directory, redis_client
from stream.topics import RAW, RESOLVED
from tests.support.collector import (
    WRITE_KEY,
    Running,
    read_all,
    running_stack,
)
from tests.support.harness import Record, WorkerProcess
from tests.support.polling import until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Running, WorkerProcess]]:
    tmp = tmp_path_factory.mktemp("sdks")
    async with running_stack(kafka_bootstrap, redis_url, tmp) as (running, worker):
        yield running, worker


async def arrived(
    running: Running,
    spec: Any,
    wanted: Callable[[Record], bool],
    count: int,
    worker: WorkerProcess | None = None,
    timeout_s: float = 90.0,
) -> list[Record]:
    """The topic's records that match `wanted`, once there are `count` of them."""

    async def enough() -> list[Record] | AssertionError:
        found = [r for r in await read_all(running.settings, spec) if wanted(r)]
        if worker is not None:
            assert worker.alive(), worker.log_tail()
        return found if len(found) >= count else AssertionError(f"only {len(found)} of {count}")

    found: list[Record] = await until(enough, f"{count} records", timeout_s)
    return found


def drive(client: Any, user: str, email: str, title: str) -> list[Exception]:
    """The calls a website makes for one person, through an SDK client (in a thread)."""
    client.identify(user, {"email": email, "title": title})
    client.group(user, "acme", {"name": "Acme BV"})
    client.track(user, "Demo Requested", {"form": "demo"})
    client.page(user, "Docs", "Pricing",
                {"url": "https://www.vendor.example/pricing", "path": "/pricing"})  # fmt: skip
    client.flush()
    client.shutdown()
    return []


async def check_delivery(
    running: Running, worker: WorkerProcess, user: str, email: str, role: str, seniority: str
) -> None:
    raw = await arrived(running, RAW, lambda r: user.encode() in r.value, 4)
    assert {r.key for r in raw} == {b"account:acme"}, "identify/group first, then by account"
    kinds = sorted(r.json()["type"] for r in raw)
    assert kinds == ["group", "identify", "page", "track"]
    for record in raw:
        doc = record.json()
        assert "receivedAt" in doc and "writeKey" not in doc
        assert doc["context"]["library"]["name"]

    resolved = await arrived(running, RESOLVED, lambda r: user.encode() in raw_mids(raw, r), 2,
                              worker=worker)  # fmt: skip
    touchpoints = sorted((Touchpoint.from_json(r.value) for r in resolved), key=lambda t: t.event)
    person = Identity("email", email).pseudonym(running.settings.pseudonym_secret())
    assert [
        (t.event, t.account.account_id, t.contact, t.role, t.seniority) for t in touchpoints
    ] == [
        ("Demo Requested", "acme", person, role, seniority),
        ("Page Viewed", "acme", person, role, seniority),
    ]
    assert not any(email.encode() in r.value or user.encode() in r.value for r in resolved)
    assert touchpoints[1].path == "/pricing"
    assert {t.message_id for t in touchpoints} == {
        r.json()["messageId"] for r in raw if r.json()["type"] in ("track", "page")
    }
    for t in touchpoints:  # skew-corrected client time: within the run, not far off
        assert abs(t.at_ms - time.time() * 1000) < 600_000

    store = await open_directory(running.settings)
    client = redis_client(running.settings)
    try:
        assert await store.names_of([person]) == {person: email}  # how the edges name them
        link = await client.hgetall(store.keys.person(f"user:{user}"))
    finally:
        await store.close()
        await client.aclose()
    assert {_str(k): _str(v) for k, v in link.items()} == {
        "account_id": "acme",
        "email": email,
        "title": {"dana@acme.com": "CTO", "sam@acme.com": "Head of IT"}[email],
    }


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def raw_mids(raw: list[Record], resolved: Record) -> bytes:
    """The user of a resolved touchpoint's raw record (the touchpoint names the person by
    pseudonym only)."""
    mid = resolved.json()["mid"]
    for record in raw:
        if record.json()["messageId"] == mid:
            return record.value
    return b""


async def test_segment_analytics_python_delivers_touchpoints(
    stack: tuple[Running, WorkerProcess],
) -> None:
    from segment.analytics import Client

    running, worker = stack
    errors: list[Any] = []
    client = Client(
        write_key=WRITE_KEY,
        host=running.url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=2,
    )
    await asyncio.to_thread(drive, client, "u-segment", "dana@acme.com", "CTO")
    assert errors == []
    await check_delivery(running, worker, "u-segment", "dana@acme.com", "decision_maker", "c_level")


async def test_rudder_sdk_python_delivers_touchpoints(stack: tuple[Running, WorkerProcess]) -> None:
    from rudderstack.analytics.client import Client

    running, worker = stack
    errors: list[Any] = []
    client = Client(
        write_key=WRITE_KEY,
        host=running.url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=2,
    )  # gzip is on by default in this SDK
    await asyncio.to_thread(drive, client, "u-rudder", "sam@acme.com", "Head of IT")
    assert errors == []
    # sam is not in the contact directory: the domain resolves the account, and the title his
    # identify call taught tells the role and the seniority
    await check_delivery(
        running, worker, "u-rudder", "sam@acme.com", "technical_evaluator", "director"
    )
