"""The collector in the test's event loop, on a free loopback port, against the real services."""

from __future__ import annotations

import base64
import contextlib
import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from abm.infra.process import free_port
from abm.plumbing.topics_admin import partitions_of
from abm.settings import Settings
from producers.collector import Collector, CollectorSite, make_app, make_runner
from stream.topics import RAW, TopicSpec
from tests.support import factories
from tests.support.harness import (
    Record,
    WorkerProcess,
    create_topics,
    load_directory,
    make_settings,
)

WRITE_KEY = "test-write-key"
EMAIL_SECRET = "whsec_" + base64.b64encode(b"email-signing-key-for-tests").decode()
ZOOM_SECRET = "zoom-secret-for-tests"
LINKEDIN_SECRET = "linkedin-secret-for-tests"


def collector_settings(kafka: str, redis: str, tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "collector_port": free_port(),
        "collector_write_keys": f"other-key,{WRITE_KEY}",
        "collector_ack_timeout_s": 5.0,
        "collector_retry_after_s": 1,
        "webhook_email_secret": EMAIL_SECRET,
        "webhook_zoom_secret": ZOOM_SECRET,
        "webhook_linkedin_secret": LINKEDIN_SECRET,
    }
    values.update(overrides)
    return make_settings(kafka, redis, tmp, **values)


async def prepare_services(settings: Settings) -> None:
    """Topics, and a directory with acme (acme.com) and its contact dana@acme.com."""
    await create_topics(settings)
    await load_directory(
        settings,
        [factories.account("acme", domains=("acme.com",))],
        [factories.contact_record("dana@acme.com", role="decision_maker", seniority="c_level",
                                  title="CTO")],
    )  # fmt: skip


@dataclass
class Running:
    settings: Settings
    collector: Collector

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.collector_port}"


@contextlib.asynccontextmanager
async def running_collector(settings: Settings) -> AsyncIterator[Running]:
    collector = await Collector.open(settings)
    runner = make_runner(make_app(collector))
    await runner.setup()
    site = CollectorSite(runner, settings, host="127.0.0.1")
    await site.start()
    try:
        yield Running(settings, collector)
    finally:
        await runner.cleanup()
        await collector.close()


@contextlib.asynccontextmanager
async def running_stack(
    kafka_bootstrap: str, redis_url: str, tmp: Path
) -> AsyncIterator[tuple[Running, WorkerProcess]]:
    """A collector in this process and an `abm worker` behind it, on prepared services."""
    settings = collector_settings(kafka_bootstrap, redis_url, tmp)
    await prepare_services(settings)
    worker = WorkerProcess(settings, tmp / "worker.log")
    worker.start()
    try:
        async with running_collector(settings) as running:
            yield running, worker
    finally:
        worker.stop()


def auth(key: str = WRITE_KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def post(
    url: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    gzipped: bool = False,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    sent = {"Content-Type": "application/json", **(headers if headers is not None else auth())}
    if gzipped:
        data = gzip.compress(data)
        sent["Content-Encoding"] = "gzip"
    async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=sent) as r:
        text = await r.read()
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            doc = {"raw": text.decode(errors="replace")}
        return r.status, doc, dict(r.headers)


async def read_all(settings: Settings, spec: TopicSpec = RAW) -> list[Record]:
    """Every record of the topic up to its current end: what was acknowledged so far (no
    waiting for records that might still come)."""
    name = spec.name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    records: list[Record] = []
    try:
        partitions = await partitions_of(settings.kafka_bootstrap_servers, [name])
        tps = [TopicPartition(name, p) for p in partitions[name]]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, items in batch.items():
                for r in items:
                    if r.offset < ends[tp]:
                        records.append(
                            Record(
                                key=r.key,
                                value=r.value,
                                headers={k: v.decode() for k, v in (r.headers or ())},
                                partition=r.partition,
                                offset=r.offset,
                            )
                        )
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return records
