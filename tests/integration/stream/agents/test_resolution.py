"""The resolution agent in a real worker: the messages of a suppressed person are dropped and
counted, neither resolved nor learned from."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from abm.core.privacy import Identity
from abm.core.timefmt import iso_ms
from abm.directory.store import DirectoryKeys
from abm.privacy.suppression import SuppressionList
from abm_cli.settings import Settings
from stream.topics import HEADER_REASON, RAW, RESOLVED, UNRESOLVED
from tests.support import factories
from tests.support.harness import (
    WorkerProcess,
    create_topics,
    load_directory,
    make_settings,
    read_topic,
    topic,
    worker_metric,
)

pytestmark = pytest.mark.integration


def message(kind: str, user_id: str, email: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "userId": user_id,
        "messageId": f"m-{uuid.uuid4().hex}",
        "timestamp": iso_ms(int(time.time() * 1000) - 60_000),
        "context": {"traits": {"email": email}},
        **fields,
    }


async def produce_plain(settings: Settings, messages: list[dict[str, Any]]) -> None:
    """Into the raw topic keyed by person, without the collector's router (which would learn
    from the identify call before the worker sees it)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for doc in messages:
            key = f"user:{doc['userId']}".encode()
            await producer.send_and_wait(topic(settings, RAW), orjson.dumps(doc), key=key)
    finally:
        await producer.stop()


async def test_a_suppressed_persons_messages_are_dropped_and_counted(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(kafka_bootstrap, redis_url, tmp_path)
    await create_topics(settings)
    await load_directory(
        settings,
        [factories.account("acme", domains=("acme.com",))],
        [factories.contact_record("dana@acme.com"), factories.contact_record("obj@acme.com")],
    )
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await SuppressionList(redis, settings.redis_prefix, settings.pseudonym_secret()).add(
            Identity("email", "obj@acme.com")
        )
        theirs = [
            message("identify", "u-obj", "obj@acme.com", traits={"email": "obj@acme.com"}),
            message("track", "u-obj", "obj@acme.com", event="Demo Requested"),
        ]
        others = message("track", "u-dana", "dana@acme.com", event="Demo Requested")
        await produce_plain(settings, [*theirs, others])
        worker = WorkerProcess(settings, tmp_path / "worker.log")
        worker.start()
        try:
            resolved = await read_topic(
                settings, RESOLVED, until=1, timeout_s=90, settle_s=3, worker=worker
            )
            assert [r.json()["mid"] for r in resolved] == [others["messageId"]]
            assert await worker_metric(settings, 'abm_suppressed_total{stage="resolution"}') == 2
        finally:
            worker.stop()
        person = DirectoryKeys(settings.redis_prefix).person("user:u-obj")
        assert not await redis.exists(person)  # the identify call taught nothing
    finally:
        await redis.aclose()


async def test_a_call_is_learned_before_the_touchpoints_after_it_in_the_same_batch(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """The worker looks a batch up at once, before writing what its identify and group calls
    taught: a touchpoint before such a call is resolved without it, one after it with it, as
    one message at a time would. The messages are in the topic before the worker starts, on one
    partition, so they arrive in one batch."""
    settings = make_settings(kafka_bootstrap, redis_url, tmp_path)
    await create_topics(settings)
    await load_directory(
        settings,
        [
            factories.account("acme", domains=("acme.com",)),
            factories.account("beta", domains=("beta.example",)),
        ],
        [factories.contact_record("dana@acme.com", account_id="acme")],
    )
    at = iso_ms(int(time.time() * 1000) - 60_000)

    def doc(kind: str, person: dict[str, str], mid: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "messageId": mid, "timestamp": at, **person, **fields}

    user, visitor = {"userId": "u-7"}, {"anonymousId": "a-1"}
    batch = [
        doc("track", user, "t-before-group", event="Demo Requested"),
        doc("group", user, "g-1", groupId="beta"),
        doc("track", user, "t-after-group", event="Demo Requested"),
        doc("page", visitor, "p-before-identify", properties={"path": "/pricing"}),
        doc("identify", visitor, "i-1", traits={"email": "Dana@Acme.com"}),
        doc("page", visitor, "p-after-identify", properties={"path": "/pricing"}),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for message_ in batch:
            await producer.send(topic(settings, RAW), orjson.dumps(message_), key=b"one-partition")
        await producer.flush()
    finally:
        await producer.stop()

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        resolved = await read_topic(
            settings, RESOLVED, until=2, timeout_s=90, settle_s=3, worker=worker
        )
        unresolved = await read_topic(settings, UNRESOLVED, until=2, timeout_s=30, worker=worker)
        for kind in ("group", "identify"):
            series = f'abm_directory_links_learned_total{{type="{kind}"}}'
            assert await worker_metric(settings, series) == 1
    finally:
        worker.stop()
    by_message = {r.json()["mid"]: r.json() for r in resolved}
    assert set(by_message) == {"t-after-group", "p-after-identify"}
    assert (
        by_message["t-after-group"]["account"]["id"],
        by_message["t-after-group"]["by"],
    ) == ("beta", "user_link")
    assert (
        by_message["p-after-identify"]["account"]["id"],
        by_message["p-after-identify"]["by"],
    ) == ("acme", "contact")
    assert sorted((r.json()["messageId"], r.headers[HEADER_REASON]) for r in unresolved) == [
        ("p-before-identify", "no_identity"),
        ("t-before-group", "no_identity"),
    ]
