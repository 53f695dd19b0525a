"""The collector in the test's event loop, on a free loopback port, against the real services;
what a tracker's calls became on the raw and resolved topics (the SDK and browser tests)."""

from __future__ import annotations

import base64
import contextlib
import gzip
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from abm.core.privacy import Identity
from abm.core.touchpoint import Touchpoint
from abm.infra.process import free_port
from abm.plumbing.redis_clients import open_directory, redis_client
from abm_cli.settings import Settings
from producers.collector import Collector, CollectorSite, make_app, make_runner
from stream.topics import RAW, RESOLVED, TopicSpec
from tests.support import factories
from tests.support.harness import (
    Record,
    WorkerProcess,
    as_record,
    create_topics,
    load_directory,
    make_settings,
    reading_from_start,
)
from tests.support.polling import until

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
    records: list[Record] = []
    async with reading_from_start(settings, spec.name(settings.topic_prefix)) as (consumer, tps):
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, items in batch.items():
                records.extend(as_record(r) for r in items if r.offset < ends[tp])
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    return records


# --- what a tracker's calls became ------------------------------------------------------------


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
