"""Started before Kafka or Redis: `abm worker`, `abm alerts`, `abm collector` and `abm replay` say
once what they wait for, without a traceback, and go on when the service answers; `abm replay`
also waits through a Redis outage in the middle of its run and loses nothing.

Kafka "comes back" through a port where nothing listens until the test opens it, then forwards
to the session broker (which advertises its own address, so the clients reach it directly after
their first metadata request); Redis comes back as a fresh redis-server on the port the process
was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from abm.infra.process import free_port
from abm.infra.redis_server import LocalRedis
from abm_cli.settings import Settings
from stream.topics import DEAD_LETTER, RAW
from tests.faults.processes import AbmProcess
from tests.faults.services import LatePort, start_kafka
from tests.support.collector import auth, collector_settings
from tests.support.harness import (
    create_topics,
    make_settings,
    produce_raw,
    read_topic,
)

pytestmark = pytest.mark.integration


async def waits_once(process: AbmProcess, what: str) -> None:
    """The process says once that it waits for `what` ("Kafka at host:port"), and is still
    waiting, without a traceback, a few seconds later."""
    await process.shows(f"waiting for {what} (")
    await asyncio.sleep(3)
    assert process.alive(), process.log_tail()
    text = process.text()
    assert text.count("waiting for ") == 1, text
    assert "Traceback" not in text, text


def goes_on(process: AbmProcess, what: str) -> str:
    text = process.text()
    assert f"{what} answers; going on after" in text, text
    assert "Traceback" not in text, text
    return text


def late_redis(tmp: Path) -> LocalRedis:
    """A Redis on a free port, not started yet."""
    return LocalRedis(home=tmp / "late-redis", port=free_port(), persist=False, tied=True)


async def http_status(url: str, timeout_s: float = 60.0, want: int = 200) -> int:
    """GET `url` until it answers `want` (or the timeout); the last status (0: no answer)."""
    deadline = time.monotonic() + timeout_s
    status = 0
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url) as response:
                    status = response.status
                    if status == want:
                        return status
            await asyncio.sleep(0.2)
    return status


async def worker_processes(settings: Settings, worker: AbmProcess) -> None:
    """The worker reads the raw topic: a line that is not JSON reaches its dead-letter topic."""
    await create_topics(settings)
    await produce_raw(settings, [b"not json"])
    dead = await read_topic(settings, DEAD_LETTER, until=1, timeout_s=90, worker=worker)
    assert len(dead) == 1


# --- abm worker -------------------------------------------------------------------------------


async def test_worker_started_before_kafka_waits_then_works_and_writes_no_terminal_codes(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    late = LatePort(kafka_bootstrap)
    settings = make_settings(late.address, redis_url, tmp_path)
    worker = AbmProcess(settings, tmp_path / "worker.log", "worker")
    worker.start()
    try:
        await waits_once(worker, f"Kafka at {late.address}")
        late.open()
        await worker.shows(f"Kafka at {late.address} answers")
        direct = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap})
        await worker_processes(direct, worker)
    finally:
        worker.stop()
        late.close()
    text = goes_on(worker, f"Kafka at {late.address}")
    # Faust's spinner wrote "\x1b[?25l" and friends into the log file
    assert "\x1b" not in text, repr(text[-2000:])


async def test_worker_started_before_redis_waits_then_works(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    redis = late_redis(tmp_path)
    settings = make_settings(kafka_bootstrap, redis.url, tmp_path)
    worker = AbmProcess(settings, tmp_path / "worker.log", "worker")
    worker.start()
    try:
        await waits_once(worker, f"Redis at {redis.url}")
        await asyncio.to_thread(redis.start)
        await worker.shows(f"Redis at {redis.url} answers")
        await worker_processes(settings, worker)
    finally:
        worker.stop()
        redis.stop()
    goes_on(worker, f"Redis at {redis.url}")


# --- abm alerts -------------------------------------------------------------------------------


async def test_alerts_started_before_kafka_waits_then_serves(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    late = LatePort(kafka_bootstrap)
    settings = make_settings(late.address, redis_url, tmp_path, alert_port=free_port())
    alerts = AbmProcess(settings, tmp_path / "alerts.log", "alerts")
    alerts.start()
    try:
        await waits_once(alerts, f"Kafka at {late.address}")
        late.open()
        url = f"http://127.0.0.1:{settings.alert_port}/metrics"
        assert await http_status(url, timeout_s=90) == 200, alerts.log_tail()
    finally:
        alerts.stop()
        late.close()
    goes_on(alerts, f"Kafka at {late.address}")


async def test_alerts_started_before_redis_waits_then_serves(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    redis = late_redis(tmp_path)
    settings = make_settings(kafka_bootstrap, redis.url, tmp_path, alert_port=free_port())
    alerts = AbmProcess(settings, tmp_path / "alerts.log", "alerts")
    alerts.start()
    try:
        await waits_once(alerts, f"Redis at {redis.url}")
        await asyncio.to_thread(redis.start)
        url = f"http://127.0.0.1:{settings.alert_port}/metrics"
        assert await http_status(url, timeout_s=90) == 200, alerts.log_tail()
    finally:
        alerts.stop()
        redis.stop()
    goes_on(alerts, f"Redis at {redis.url}")


# --- abm collector ----------------------------------------------------------------------------


async def test_collector_started_before_redis_says_so_once_then_is_healthy(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    redis = late_redis(tmp_path)
    secret_url = f"redis://:pw-s3cret@127.0.0.1:{redis.port}/0"
    settings = collector_settings(kafka_bootstrap, secret_url, tmp_path)
    collector = AbmProcess(settings, tmp_path / "collector.log", "collector")
    collector.start()
    redacted = f"redis://:***@127.0.0.1:{redis.port}/0"
    healthz = f"http://127.0.0.1:{settings.collector_port}/healthz"
    try:
        await waits_once(collector, f"Redis at {redacted}")
        assert await http_status(healthz, timeout_s=5, want=503) == 503  # listening meanwhile
        await asyncio.to_thread(_start_with_password, redis, "pw-s3cret")
        assert await http_status(healthz, timeout_s=60) == 200, collector.log_tail()
        await collector.shows(f"Redis at {redacted} answers")
    finally:
        collector.stop()
        redis.stop()
    text = goes_on(collector, f"Redis at {redacted}")
    assert "pw-s3cret" not in text


def _start_with_password(redis: LocalRedis, password: str) -> None:
    """`LocalRedis.start`, then a password on the running server."""
    redis.start()
    with socket.create_connection(("127.0.0.1", redis.port), timeout=5) as sock:
        sock.sendall(f"CONFIG SET requirepass {password}\r\n".encode())
        assert sock.recv(16).startswith(b"+OK")


async def test_collector_started_before_kafka_says_so_once_then_takes_events(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    late = LatePort(kafka_bootstrap)
    settings = collector_settings(late.address, redis_url, tmp_path)
    collector = AbmProcess(settings, tmp_path / "collector.log", "collector")
    collector.start()
    body = {"batch": [{"type": "track", "event": "Demo Requested", "userId": "u-1",
                       "messageId": "late-kafka-1"}]}  # fmt: skip
    try:
        await waits_once(collector, f"Kafka at {late.address}")
        late.open()
        status = await post_until_ok(settings, body)
        assert status == 200, collector.log_tail()
    finally:
        collector.stop()
        late.close()
    goes_on(collector, f"Kafka at {late.address}")


async def post_until_ok(settings: Settings, body: dict[str, Any], timeout_s: float = 60) -> int:
    url = f"http://127.0.0.1:{settings.collector_port}/v1/batch"
    deadline = time.monotonic() + timeout_s
    status = 0
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.post(url, data=orjson.dumps(body), headers={
                        **auth(), "Content-Type": "application/json"}) as response:  # fmt: skip
                    status = response.status
                    if status == 200:
                        return status
            await asyncio.sleep(0.5)
    return status


# --- abm replay -------------------------------------------------------------------------------


def segment_file(path: Path, count: int) -> Path:
    lines = [
        orjson.dumps({"type": "track", "event": "Pricing Page Viewed", "userId": f"u-{i}",
                      "messageId": f"replay-{i}", "timestamp": "2026-12-01T10:00:00.000Z"})
        for i in range(count)
    ]  # fmt: skip
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


async def raw_count(settings: Settings, expected: int) -> int:
    return len(await read_topic(settings, RAW, until=expected, timeout_s=30, settle_s=1.0))


async def test_replay_started_before_kafka_waits_then_sends_everything(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    late = LatePort(kafka_bootstrap)
    settings = make_settings(late.address, redis_url, tmp_path)
    direct = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap})
    await create_topics(direct)
    file = segment_file(tmp_path / "in.jsonl", 20)
    replay = AbmProcess(settings, tmp_path / "replay.log", "replay", "--no-progress", str(file))
    replay.start()
    try:
        await waits_once(replay, f"Kafka at {late.address}")
        late.open()
        assert await replay.exited() == 0, replay.log_tail()
    finally:
        replay.stop()
        late.close()
    assert "sent 20 messages" in goes_on(replay, f"Kafka at {late.address}")
    assert await raw_count(direct, 20) == 20


async def test_replay_waits_through_a_redis_outage_in_its_run_and_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    redis = late_redis(tmp_path)
    settings = make_settings(kafka_bootstrap, redis.url, tmp_path)
    await create_topics(settings)
    file = segment_file(tmp_path / "in.jsonl", 400)
    replay = AbmProcess(
        settings, tmp_path / "replay.log", "replay", "--no-progress", "--rate", "100", str(file)
    )
    try:
        # down at the start
        replay.start()
        await waits_once(replay, f"Redis at {redis.url}")
        await asyncio.to_thread(redis.start)
        await replay.shows(f"Redis at {redis.url} answers")
        # and down again in the middle of the run (400 lines at 100/s: 4 s)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(redis.stop)
        await replay.shows(f"waiting for Redis at {redis.url}", timeout_s=10)
        await asyncio.sleep(2.0)
        assert replay.alive(), replay.log_tail()
        await asyncio.to_thread(redis.start)
        assert await replay.exited() == 0, replay.log_tail()
    finally:
        replay.stop()
        redis.stop()
    text = goes_on(replay, f"Redis at {redis.url}")
    assert text.count(f"waiting for Redis at {redis.url}") == 2, text  # once per outage
    assert "sent 400 messages" in text, text
    assert await raw_count(settings, 400) == 400


# --- the log during an outage -----------------------------------------------------------------


async def test_a_broker_outage_logs_its_connection_errors_once_per_interval(
    redis_url: str, tmp_path: Path
) -> None:
    """The worker and the alert service lose their broker for about 12 s, with the interval at
    4 s: a few "Unable connect" lines each, the later ones with the count of those left out
    (each process wrote hundreds before: one per connection attempt)."""
    kafka = await asyncio.to_thread(start_kafka, tmp_path, 3, "512m")
    settings = make_settings(
        kafka.bootstrap, redis_url, tmp_path, alert_port=free_port(),
        log_connection_error_interval_s=4.0,
    )  # fmt: skip
    processes = [
        AbmProcess(settings, tmp_path / "alerts.log", "alerts"),
        AbmProcess(settings, tmp_path / "worker.log", "worker"),
    ]
    try:
        for process in processes:
            process.start()
        alerts_metrics = f"http://127.0.0.1:{settings.alert_port}/metrics"
        assert await http_status(alerts_metrics, timeout_s=90) == 200, processes[0].log_tail()
        await worker_processes(settings, processes[1])  # started: its consumers are reading
        before = [len(p.text().splitlines()) for p in processes]
        await asyncio.to_thread(kafka.stop)
        await asyncio.sleep(12)
        for process in processes:
            assert process.alive(), process.log_tail()
        logs = [p.text().splitlines()[start:] for p, start in zip(processes, before, strict=True)]
    finally:
        for process in processes:
            process.kill()  # a stop waits for the broker that is not there
        await asyncio.to_thread(kafka.stop)
    for during in logs:
        unable = [line for line in during if "Unable connect" in line]
        assert 1 <= len(unable) <= 5, "\n".join(during[-40:])
        assert any("more Kafka connection errors in the last" in line for line in unable), unable
