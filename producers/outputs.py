"""Where `abm simulate` sends its traffic: a JSONL file (always written), the HTTP collector, or
Kafka directly. Both live outputs load the simulated directory first, so records are keyed by
account from the first message on, and both can be paced (`rate`, messages per second).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from abm.core.records import AccountRecord, ContactRecord
from abm.plumbing.redis_clients import open_directory
from producers.replay import ReplayReport, replay, shift_times
from producers.settings import CollectorSettings


@dataclass
class PostReport:
    """What posting to the collector did: messages accepted (200), refused with their request
    (4xx: only the simulator's deliberately broken lines should be), 503 answers waited out."""

    sent: int = 0
    refused: int = 0
    unavailable: int = 0
    requests: int = 0
    seconds: float = 0.0
    refusals: list[str] = field(default_factory=list)
    """The collector's reasons for the first refusals (status and message)."""

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


async def load_directory(
    settings: CollectorSettings, accounts: list[AccountRecord], contacts: list[ContactRecord]
) -> None:
    store = await open_directory(settings)
    try:
        await store.load(accounts, contacts)
    finally:
        await store.close()


async def to_kafka(
    settings: CollectorSettings,
    jsonl: Path,
    *,
    rate: float | None,
    progress: bool,
    shift_to_now: bool,
) -> ReplayReport:
    """Produce the JSONL straight into the raw topic (lines that are not JSON are skipped and
    reported, as `abm replay` does)."""
    return await replay(settings, jsonl, rate=rate, progress=progress, shift_to_now=shift_to_now)


def _chunks(jsonl: Path, batch_size: int, shift_ms: int) -> Iterator[tuple[bytes | None, int]]:
    """(body, messages) per request: batches of JSON lines, and every line that is not JSON on
    its own (body None is never yielded; a broken line is sent raw to /v1/track)."""
    batch: list[Any] = []
    with jsonl.open("rb") as handle:
        for raw in handle:
            text = raw.strip()
            if not text:
                continue
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError:
                if batch:
                    yield orjson.dumps({"batch": batch}), len(batch)
                    batch = []
                yield text, -1  # -1: a raw, broken single event
                continue
            if shift_ms and isinstance(doc, dict):
                shift_times(doc, shift_ms)
            batch.append(doc)
            if len(batch) >= batch_size:
                yield orjson.dumps({"batch": batch}), len(batch)
                batch = []
    if batch:
        yield orjson.dumps({"batch": batch}), len(batch)


async def to_collector(
    url: str,
    write_key: str,
    jsonl: Path,
    *,
    rate: float | None,
    progress: bool,
    batch_size: int = 100,
    shift_ms: int = 0,
    max_attempts: int = 30,
) -> PostReport:
    """POST the JSONL to the collector's /v1/batch, in order, `batch_size` messages a request,
    waiting out 503 answers (Retry-After) like an SDK. Raises RuntimeError when the collector
    cannot be reached or keeps answering 503."""
    report = PostReport()
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    total = sum(1 for line in jsonl.open("rb") if line.strip()) if progress else None
    bar = _progress(total, jsonl.name) if progress else None
    start = time.monotonic()
    messages = 0
    try:
        async with aiohttp.ClientSession(base_url=url.rstrip("/") + "/") as session:
            for body, count in _chunks(jsonl, batch_size, shift_ms):
                assert body is not None
                path = "v1/batch" if count > 0 else "v1/track"
                status, reason = await _post(session, path, body, headers, report, max_attempts)
                size = max(count, 1)
                messages += size
                if status == 200:
                    report.sent += size
                else:
                    report.refused += size
                    if len(report.refusals) < 20:
                        report.refusals.append(f"{status}: {reason}")
                if bar is not None:
                    bar.update(size)
                if rate:
                    ahead = messages / rate - (time.monotonic() - start)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
    except aiohttp.ClientError as exc:
        raise RuntimeError(f"cannot reach the collector at {url}: {exc}") from None
    finally:
        if bar is not None:
            bar.close()
    report.seconds = time.monotonic() - start
    return report


async def _post(
    session: aiohttp.ClientSession,
    path: str,
    body: bytes,
    headers: dict[str, str],
    report: PostReport,
    max_attempts: int,
) -> tuple[int, str]:
    for _ in range(max_attempts):
        report.requests += 1
        async with session.post(path, data=body, headers=headers) as response:
            text = await response.text()
            if response.status == 401:
                raise RuntimeError("the collector refused the write key (401)")
            if response.status != 503:
                try:
                    reason = str(orjson.loads(text).get("message", text))
                except (orjson.JSONDecodeError, AttributeError):
                    reason = text
                return response.status, reason
            report.unavailable += 1
            wait = response.headers.get("Retry-After", "1")
        await asyncio.sleep(float(wait) if wait.isdigit() else 1.0)
    raise RuntimeError(f"the collector answered 503 {max_attempts} times in a row")


def _progress(total: int | None, name: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=f"post {name}", unit="msg", unit_scale=True, leave=True)
