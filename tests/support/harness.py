"""Integration-test harness: isolated settings, the worker as a real process, Kafka I/O."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, OfflineResult, run_offline
from abm.core.records import AccountRecord, ContactRecord
from abm.core.segment import SegmentMessage, parse_message
from abm.infra.process import free_port
from abm.plumbing.redis_clients import open_directory
from abm.plumbing.topics_admin import ensure_topics, partitions_of
from abm_cli.settings import Settings
from producers.partition_keys import Router
from stream.topics import RAW, TopicSpec
from tests.faults.processes import REPO as REPO
from tests.faults.processes import AbmProcess
from tests.support.stories import simulated_sample


def make_settings(kafka: str, redis: str, tmp: Path, **overrides: Any) -> Settings:
    """Settings of one test: its own app id, topic prefix and Redis prefix on the shared
    services."""
    run = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka,
        "redis_url": redis,
        "app_id": f"t-{run}",
        "topic_prefix": f"t-{run}",
        "redis_prefix": f"t-{run}",
        "state_dir": tmp / "state",
        "cache_dir": REPO / ".cache",
        "web_port": free_port(),
        "partitions": 2,
        "session_timeout_s": 10.0,
        "log_level": "warn",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Record:
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    partition: int
    offset: int

    def json(self) -> Any:
        return orjson.loads(self.value)


class WorkerProcess(AbmProcess):
    """`abm worker` in a child process with the test's settings."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        super().__init__(settings, log_path, "worker")


def topic(settings: Settings, spec: TopicSpec) -> str:
    return spec.name(settings.topic_prefix)


async def create_topics(settings: Settings) -> None:
    await ensure_topics(settings)


async def produce_raw(settings: Settings, messages: Iterable[dict[str, Any] | bytes]) -> int:
    """Produce Segment messages (dicts) or raw bytes into the raw topic, keyed like the
    collector keys them."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    router = Router(await open_directory(settings))
    count = 0
    try:
        futures = []
        for message in messages:
            value = message if isinstance(message, bytes) else orjson.dumps(message)
            parsed = parse_message(value, max_bytes=len(value) + 1)
            key = await router.key_for(
                parsed if isinstance(parsed, SegmentMessage) else None, f"n{count}"
            )
            futures.append(await producer.send(topic(settings, RAW), value=value, key=key))
            count += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
        await router.close()
    return count


async def read_topic(
    settings: Settings,
    spec: TopicSpec | str,
    *,
    until: int | None = None,
    timeout_s: float = 60.0,
    settle_s: float = 0.0,
    worker: AbmProcess | None = None,
) -> list[Record]:
    """Every record of a topic from the beginning: waits until `until` records arrived (or
    the timeout), then `settle_s` more seconds to catch any extra (duplicate) record. With
    `worker`, fails at once (with its log) if that worker dies meanwhile. `spec` may be a
    topic's full name (a changelog)."""
    name = spec if isinstance(spec, str) else topic(settings, spec)
    records: list[Record] = []
    async with reading_from_start(settings, name) as (consumer, _):
        deadline = time.monotonic() + timeout_s
        settle_until: float | None = None
        while time.monotonic() < (settle_until or deadline):
            if worker is not None and not worker.alive():
                raise AssertionError(f"the worker died:\n{worker.log_tail()}")
            batch = await consumer.getmany(timeout_ms=300)
            for batch_records in batch.values():
                records.extend(as_record(r) for r in batch_records)
            if settle_until is None and until is not None and len(records) >= until:
                settle_until = time.monotonic() + settle_s
            if until is None and not batch and time.monotonic() > deadline - timeout_s + 2:
                break
    return records


@contextlib.asynccontextmanager
async def reading_from_start(
    settings: Settings, name: str
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """A consumer without a group, assigned every partition of topic `name` (its full name)
    from the first record, and those partitions; stopped on leaving."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = await partitions_of(settings.kafka_bootstrap_servers, [name])
        tps = [TopicPartition(name, p) for p in partitions[name]]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        yield consumer, tps
    finally:
        await consumer.stop()


def as_record(r: Any) -> Record:
    """A fetched record (aiokafka's `ConsumerRecord`) as the tests compare it."""
    return Record(
        key=r.key,
        value=r.value,
        headers={k: v.decode() for k, v in (r.headers or ())},
        partition=r.partition,
        offset=r.offset,
    )


def by_account(mqas: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in mqas:
        grouped.setdefault(event["account"]["id"], []).append(event)
    return grouped


async def load_directory(
    settings: Settings, accounts: Sequence[AccountRecord], contacts: Sequence[ContactRecord]
) -> None:
    store = await open_directory(settings)
    try:
        await store.load(list(accounts), list(contacts))
    finally:
        await store.close()


async def worker_metric(settings: Settings, series: str) -> float:
    """The value of one series (`name` or `name{labels}` as exposed) on the worker's /metrics;
    0 while it is not exposed."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{settings.web_port}/metrics") as response,
    ):
        text = await response.text()
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    return 0.0


async def replay_sample(settings: Settings) -> OfflineResult:
    """The simulated sample (`simulated_sample`) ready for a worker: its topics created, its
    directory loaded, its messages in the raw topic; returns what the in-memory reference
    computes from it."""
    simulator, lines = simulated_sample()
    accounts, contacts = simulator.records()
    reference = run_offline(lines, InMemoryDirectory.of(accounts, contacts), load_model())
    await create_topics(settings)
    await load_directory(settings, accounts, contacts)
    await produce_raw(settings, lines)
    return reference


def gap_producer_sequence(producer: Any) -> None:
    """Put a gap in an idempotent aiokafka producer's sequence numbers, so that the broker
    refuses its next batch with OUT_OF_ORDER_SEQUENCE_NUMBER, as it refuses every batch of a
    producer whose sequence was lost in an outage."""
    numbers = producer._txn_manager
    for partition in list(numbers._sequence_numbers):
        numbers.increment_sequence_number(partition, 10)
