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
from stream.topics import RAW, RESOLVED
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
