"""What every benchmark shares: its own broker and Redis, synthetic data, the worker process,
and reading times back from Kafka.

Each benchmark starts a fresh broker (and Redis) in a temporary folder, so figures are not
disturbed by other topics and the changelog's size on disk can be read directly. Ratios are
always taken between two measurements of the same run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, OfflineResult, run_offline
from abm.core.resolution import Unresolved, account_of, learn
from abm.core.segment import TOUCHPOINT_TYPES, SegmentMessage, parse_message
from abm.infra.kafka import LocalKafka
from abm.infra.process import free_port, free_port_pair
from abm.infra.redis_server import LocalRedis
from abm.plumbing.redis_clients import open_directory
from abm.plumbing.topics_admin import ensure_topics, partitions_of
from abm_cli.settings import Settings
from producers.simulator import SimConfig, Simulator
from stream.topics import RAW, raw_key

REPO = Path(__file__).resolve().parents[1]


def say(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class Services:
    home: Path
    kafka: LocalKafka
    redis: LocalRedis

    def settings(self, **overrides: Any) -> Settings:
        run = uuid.uuid4().hex[:8]
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.kafka.bootstrap,
            "redis_url": self.redis.url,
            "app_id": f"bench-{run}",
            "topic_prefix": f"bench-{run}",
            "redis_prefix": f"bench-{run}",
            "state_dir": self.home / f"state-{run}",
            "cache_dir": REPO / ".cache",
            "web_port": free_port(),
            "partitions": 4,
            "log_level": "warn",
            "session_timeout_s": 10.0,
        }
        values.update(overrides)
        return Settings(**values)

    def topic_bytes(self, topic: str) -> int:
        """Bytes of a topic's log segments on the broker's disk."""
        data = self.home / "kafka" / "data"
        return sum(
            f.stat().st_size
            for d in data.iterdir()
            if d.is_dir() and d.name.rpartition("-")[0] == topic
            for f in d.iterdir()
            if f.suffix == ".log"
        )


@contextmanager
def services() -> Iterator[Services]:
    """A fresh broker and Redis for one benchmark run."""
    home = Path(tempfile.mkdtemp(prefix="abm-bench-"))
    kafka = LocalKafka(
        home=home / "kafka", port=free_port_pair(), cache_dir=REPO / ".cache", heap="2g", tied=True
    )
    redis = LocalRedis(home=home / "redis", port=free_port(), persist=False, tied=True)
    say(f"starting Kafka on {kafka.bootstrap} and Redis on {redis.url} in {home}")
    redis.start()
    kafka.start(timeout_s=120)
    try:
        yield Services(home, kafka, redis)
    finally:
        kafka.stop()
        redis.stop()


@dataclass
class Dataset:
    simulator: Simulator
    lines: list[bytes]
    reference: OfflineResult

    @property
    def touchpoints(self) -> int:
        return self.reference.touchpoints


def dataset(accounts: int, days: int = 60, seed: int = 7) -> Dataset:
    """Simulated traffic and the in-memory reference result for it."""
    started = time.monotonic()
    simulator = Simulator(SimConfig(accounts=accounts, days=days, seed=seed))
    lines = [m.encode() if isinstance(m, str) else orjson.dumps(m) for m in simulator.messages()]
    accounts_, contacts = simulator.records()
    reference = run_offline(lines, InMemoryDirectory.of(accounts_, contacts), load_model())
    say(
        f"dataset: {accounts} accounts, {len(lines)} messages, {reference.touchpoints} "
        f"touchpoints, {len(reference.mqas)} MQAs ({time.monotonic() - started:.1f} s)"
    )
    return Dataset(simulator, lines, reference)


def routed_keys(data: Dataset) -> list[bytes]:
    """The raw-topic key of every message, as `producers.partition_keys.Router` computes it,
    but from the in-memory directory (the same core functions, no Redis round trip per
    message)."""
    accounts, contacts = data.simulator.records()
    directory = InMemoryDirectory.of(accounts, contacts)
    keys = []
    for number, line in enumerate(data.lines):
        parsed = parse_message(line, max_bytes=len(line) + 1)
        if not isinstance(parsed, SegmentMessage):
            keys.append(raw_key(None, None, f"line:{number}"))
            continue
        links = learn(parsed)
        if links is not None:
            directory.learn(links)
        account_id = None
        if parsed.type in TOUCHPOINT_TYPES or parsed.type == "group":
            result = account_of(parsed, directory.view_for(parsed))
            account_id = None if isinstance(result, Unresolved) else result[0].account_id
        keys.append(raw_key(parsed, account_id, f"line:{number}"))
    return keys


async def prepare(settings: Settings, data: Dataset, *, preload: bool = True) -> None:
    """Topics, the directory in Redis, and (optionally) every message in the raw topic."""
    await ensure_topics(settings)
    accounts, contacts = data.simulator.records()
    store = await open_directory(settings)
    try:
        for start in range(0, len(accounts), 5000):
            chunk = accounts[start : start + 5000]
            ids = {a.account_id for a in chunk}
            await store.load(chunk, [c for c in contacts if c.account_id in ids])
    finally:
        await store.close()
    if preload:
        await produce(settings, data.lines, routed_keys(data))


async def produce(
    settings: Settings, values: list[bytes], keys: list[bytes], topic: str | None = None
) -> float:
    """Produce records as fast as the broker takes them; returns the seconds it took."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    name = topic or RAW.name(settings.topic_prefix)
    started = time.monotonic()
    try:
        pending = []
        for key, value in zip(keys, values, strict=True):
            pending.append(await producer.send(name, value=value, key=key))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.monotonic() - started


class Worker:
    """`abm worker` as a child process (what a user runs)."""

    def __init__(self, settings: Settings, name: str = "worker") -> None:
        self.settings = settings
        self.log = settings.state_dir / f"{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "abm_cli", "worker"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started = time.monotonic()
        self.started_wall = time.time()
        """Wall-clock start, comparable with Kafka record timestamps."""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self, hard: bool = False) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def first_count_ms(settings: Settings, worker: Worker, counter: str) -> int:
    """Wall-clock ms (Kafka's record timestamps' clock) when a counter of the worker's
    `/metrics` first rose above 0, polled every 20 ms: when the worker began processing. Fails
    if the worker exits first."""
    import aiohttp

    url = f"http://127.0.0.1:{settings.web_port}/metrics"
    prefix = f"{counter} "
    async with aiohttp.ClientSession() as http:
        while worker.alive():
            try:
                async with http.get(url) as response:
                    text = await response.text()
            except aiohttp.ClientError:
                text = ""
            for row in text.splitlines():
                if row.startswith(prefix) and float(row[len(prefix) :]) > 0:
                    return int(time.time() * 1000)
            await asyncio.sleep(0.02)
    raise RuntimeError(f"the worker exited before {counter} rose:\n{worker.tail()}")


async def scan(
    settings: Settings, topic: str, visit: Callable[[ConsumerRecord[Any, Any]], None]
) -> None:
    """Every record of a whole topic, partition by partition in offset order per partition."""
    partitions = await partitions_of(settings.kafka_bootstrap_servers, [topic])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=50 * 1024 * 1024,
        max_partition_fetch_bytes=10 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions[topic]]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await seek_start(consumer, tps)
        while not await at_end(consumer, ends):
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                for record in records:
                    visit(record)
    finally:
        await consumer.stop()


async def topic_times(settings: Settings, topic: str) -> tuple[int, int, int]:
    """(record count, first and last record timestamp in ms) of a whole topic."""
    seen = [0, 2**62, 0]

    def visit(record: ConsumerRecord[Any, Any]) -> None:
        seen[0] += 1
        seen[1] = min(seen[1], record.timestamp)
        seen[2] = max(seen[2], record.timestamp)

    await scan(settings, topic, visit)
    return seen[0], seen[1], seen[2]


async def read_values(settings: Settings, topic: str) -> list[bytes]:
    partitions = await partitions_of(settings.kafka_bootstrap_servers, [topic])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        tps = [TopicPartition(topic, p) for p in partitions[topic]]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await seek_start(consumer, tps)
        while not await at_end(consumer, ends):
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                values.extend(r.value for r in records if r.value is not None)
        return values
    finally:
        await consumer.stop()


async def seek_start(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
    """Seek to the first offsets now (seek_to_beginning is lazy, and position() may answer
    before it took effect)."""
    for tp, offset in (await consumer.beginning_offsets(tps)).items():
        consumer.seek(tp, offset)


async def at_end(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """True when the consumer's position reached the end offset of every partition (offsets
    may have gaps, so the last record's offset is not enough)."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


def mqa_ids(values: list[bytes]) -> set[str]:
    return {orjson.loads(v)["mqa_id"] for v in values}


def line(label: str, value: str) -> str:
    return f"  {label:<44} {value}"
