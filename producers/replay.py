"""`abm replay FILE.jsonl`: Segment messages, one JSON object a line, into the raw topic.

Lines that are not JSON objects are reported with their line number and skipped; everything
else goes in as it is (the pipe itself validates the Segment contract and dead-letters what
breaks it, so replaying a file shows exactly what a live tracker would cause). Records are keyed
like the collector keys them (`stream.topics.raw_key`), produced idempotently with acks=all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from abm import waiting
from abm.core.segment import SegmentMessage
from abm.core.timefmt import iso_ms, parse_iso_ms
from abm.plumbing.redis_clients import open_directory, open_suppression
from producers.partition_keys import Router, routable
from producers.settings import CollectorSettings
from stream.topics import RAW

_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


@dataclass
class BadLine:
    line: int
    why: str


@dataclass
class ReplayReport:
    sent: int = 0
    suppressed: int = 0
    """Messages of persons on the suppression list: not sent (`abm privacy suppress`)."""
    bad_lines: list[BadLine] = field(default_factory=list)
    seconds: float = 0.0
    first_offset_ms: int | None = None
    """Wall-clock ms just before the first record was produced."""

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Line:
    number: int
    doc: dict[str, Any]


def read_lines(path: Path, report: ReplayReport) -> Iterator[Line]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.strip()
            if not text:
                continue
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                report.bad_lines.append(BadLine(number, f"not valid JSON: {exc}"))
                continue
            if not isinstance(doc, dict):
                report.bad_lines.append(
                    BadLine(number, f"a JSON {type(doc).__name__}, not an object")
                )
                continue
            yield Line(number, doc)


def shift_to_now_ms(path: Path, now_ms: int) -> int:
    """How far `--shift-to-now` moves every event time of the file: its latest event time to
    `now_ms` (0 for a file without one)."""
    latest = latest_timestamp(path)
    return now_ms - latest if latest is not None else 0


def latest_timestamp(path: Path) -> int | None:
    """The latest parseable event time in the file (for --shift-to-now)."""
    latest: int | None = None
    for line in read_lines(path, ReplayReport()):
        value = line.doc.get("timestamp")
        if isinstance(value, str):
            try:
                ms = parse_iso_ms(value)
            except ValueError:
                continue
            latest = ms if latest is None else max(latest, ms)
    return latest


def shift_times(doc: dict[str, Any], shift_ms: int) -> None:
    for name in _TIME_FIELDS:
        value = doc.get(name)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # left as is: the pipe dead-letters it
                doc[name] = iso_ms(parse_iso_ms(value) + shift_ms)


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for raw in handle if raw.strip())


async def replay(
    settings: CollectorSettings,
    path: Path,
    *,
    shift_to_now: bool = False,
    rate: float | None = None,
    progress: bool = True,
    topic: str | None = None,
) -> ReplayReport:
    report = ReplayReport()
    shift_ms = shift_to_now_ms(path, int(time.time() * 1000)) if shift_to_now else 0
    total = count_lines(path) if progress else None
    redis_service = waiting.redis(settings.redis_url.get_secret_value())
    await waiting.wait_for_all(waiting.kafka(settings.kafka_bootstrap_servers), redis_service)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=10,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )
    await producer.start()
    router = Router(await open_directory(settings))
    suppression = open_suppression(settings)
    await suppression.refresh(force=True)
    bar = _progress(total, path.name) if progress else None
    name = topic or RAW.name(settings.topic_prefix)
    start = time.monotonic()
    report.first_offset_ms = int(time.time() * 1000)
    pending: list[asyncio.Future[Any]] = []
    try:
        for line in read_lines(path, report):
            if shift_ms:
                shift_times(line.doc, shift_ms)
            value = orjson.dumps(line.doc)
            message = routable(value)
            if message is not None and suppression.suppresses(message):
                report.suppressed += 1  # neither sent nor learned from (the router learns)
                if bar is not None:
                    bar.update(1)
                continue
            key = await _key(router, message, f"line:{line.number}", redis_service)
            pending.append(await producer.send(name, value=value, key=key))
            report.sent += 1
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
            if bar is not None:
                bar.update(1)
            if rate:
                await _pace(start, report.sent, rate)
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
        await router.close()
        await suppression.close()
        if bar is not None:
            bar.close()
    report.seconds = time.monotonic() - start
    return report


async def _key(
    router: Router, message: SegmentMessage | None, fallback: str, redis: waiting.Service
) -> bytes:
    """The line's key; while Redis (the directory) is down, wait for it and ask again, so an
    outage in the middle of a replay delays it and loses nothing."""
    while True:
        try:
            return await router.key_for(message, fallback=fallback)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            if not await waiting.wait_for(redis):
                await asyncio.sleep(RETRY_S)  # it answers a ping: not again at once


RETRY_S = 0.2
"""Pause before a directory call that failed is made again while Redis answers pings
(seconds)."""


async def _pace(start: float, sent: int, rate: float) -> None:
    ahead = sent / rate - (time.monotonic() - start)
    if ahead > 0:
        await asyncio.sleep(ahead)


def _progress(total: int | None, name: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=f"replay {name}", unit="msg", unit_scale=True, leave=True)
