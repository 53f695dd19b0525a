"""Event -> alert latency through the real broker: touchpoint into Kafka -> worker -> MQA ->
`abm alerts` -> Slack (a local stand-in of the Web API in this process).

    .venv/bin/python bench/alert_latency.py [--alerts 200] [--rate 10] [--warmup 10]

Runs against the broker and Redis of the settings (`abm infra up`, or KAFKA_BOOTSTRAP_SERVERS /
REDIS_URL), in topics and keys of its own. It loads one tier-2 prospect account per alert (each
with its own owner, so Slack pacing of one message per second per channel never applies),
starts `abm worker` and `abm alerts` as processes, waits until both answer, then produces one
`Demo Requested` track event per account at `--rate` per second: each makes an act-now MQA at
once. For every MQA it takes `abm-ingest-ms` (when the touchpoint entered Kafka) and
`abm-emitted-ms` (when the worker sent the MQA) from the MQA record's headers and the time the
Slack stand-in received the alert, and prints p50 / p90 / p99 / max of event -> alert, with the
split event -> MQA and MQA -> alert. The first `--warmup` alerts are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from abm.core.records import AccountRecord, ContactRecord
from abm.core.timefmt import iso_ms
from abm.infra.process import free_port
from abm.plumbing.redis_clients import open_directory
from abm.plumbing.topics_admin import ensure_topics, partitions_of
from abm_cli.settings import Settings, get_settings
from stream.topics import HEADER_EMITTED_MS, HEADER_INGEST_MS, MQA, RAW

REPO = Path(__file__).resolve().parents[1]


class SlackStandIn:
    """chat.postMessage on 127.0.0.1 that notes when each alert arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: dict[str, int] = {}
        self._runner: web.AppRunner | None = None

    async def _post(self, request: web.Request) -> web.Response:
        now = int(time.time() * 1000)
        body = orjson.loads(await request.read())
        alert_id = body.get("metadata", {}).get("event_payload", {}).get("alert_id")
        if alert_id:
            self.received.setdefault(alert_id, now)
        return web.json_response({"ok": True, "ts": f"{now / 1000:.6f}"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/chat.postMessage", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def bench_settings(base: Settings, slack: SlackStandIn) -> Settings:
    run = f"bench-{uuid.uuid4().hex[:8]}"
    return base.model_copy(
        update={
            "app_id": run,
            "topic_prefix": run,
            "redis_prefix": run,
            "web_port": free_port(),
            "alert_port": free_port(),
            "alert_channels": "slack",
            "slack_bot_token": base.slack_bot_token or "xoxb-bench",
            "slack_api_url": f"http://127.0.0.1:{slack.port}/api/",
            "log_level": "warning",
        }
    )


def accounts(n: int) -> tuple[list[AccountRecord], list[ContactRecord]]:
    records = [
        AccountRecord(account_id=f"lat{i:04d}", name=f"Latency {i} BV",
                      domains=(f"lat{i:04d}.example",), tier=2, icp_fit=80.0,
                      lifecycle="prospect", owner_email=f"ae{i}@vendor.example",
                      owner_slack_id=f"U{i:06d}", value_score=None)
        for i in range(n)
    ]  # fmt: skip
    contacts = [
        ContactRecord(email=f"buyer@{r.domains[0]}", account_id=r.account_id, title="CTO",
                      role="decision_maker", seniority="c_level")
        for r in records
    ]  # fmt: skip
    return records, contacts


def start(settings: Settings, command: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "abm_cli", command],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


async def wait_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited during start-up (exit {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            await asyncio.sleep(0.3)
    raise SystemExit(f"{what} did not answer {url} within 120 s")


async def produce(settings: Settings, records: list[AccountRecord], rate: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all",
                                enable_idempotence=True, linger_ms=0)  # fmt: skip
    await producer.start()
    try:
        start_at = time.monotonic()
        for n, record in enumerate(records):
            await asyncio.sleep(max(0.0, start_at + n / rate - time.monotonic()))
            message = {
                "type": "track", "event": "Demo Requested", "messageId": f"m-{record.account_id}",
                "timestamp": iso_ms(int(time.time() * 1000)), "userId": f"u-{record.account_id}",
                "context": {"groupId": record.account_id,
                            "traits": {"email": f"buyer@{record.domains[0]}"}},
            }  # fmt: skip
            await producer.send_and_wait(RAW.name(settings.topic_prefix), orjson.dumps(message),
                                         key=f"account:{record.account_id}".encode())  # fmt: skip
    finally:
        await producer.stop()


async def mqa_headers(settings: Settings, expected: int) -> dict[str, tuple[int, int]]:
    """mqa_id -> (ingest ms, emitted ms) of the MQA topic's records."""
    name = MQA.name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    found: dict[str, tuple[int, int]] = {}
    try:
        tps = [TopicPartition(name, p) for p in
               (await partitions_of(settings.kafka_bootstrap_servers, [name]))[name]]  # fmt: skip
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 60
        while len(found) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                for r in batch:
                    headers = {k: int(v.decode()) for k, v in r.headers or ()}
                    times = (headers[HEADER_INGEST_MS], headers[HEADER_EMITTED_MS])
                    found.setdefault(orjson.loads(r.value)["mqa_id"], times)
    finally:
        await consumer.stop()
    return found


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return (f"p50 {pick(0.50):7.1f} ms | p90 {pick(0.90):7.1f} ms | p99 {pick(0.99):7.1f} ms | "
            f"max {ordered[-1]:7.1f} ms | mean {statistics.fmean(ordered):7.1f} ms")  # fmt: skip


async def main(args: argparse.Namespace) -> int:
    slack = SlackStandIn()
    await slack.start()
    settings = bench_settings(get_settings(), slack)
    total = args.alerts + args.warmup
    records, contacts = accounts(total)
    await ensure_topics(settings)
    store = await open_directory(settings)
    try:
        await store.load(records, contacts)
    finally:
        await store.close()
    logs = settings.state_dir / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    worker = start(settings, "worker", logs / f"{settings.app_id}-worker.log")
    alerts = start(settings, "alerts", logs / f"{settings.app_id}-alerts.log")
    try:
        await wait_http(f"http://127.0.0.1:{settings.web_port}/metrics", worker, "abm worker")
        await wait_http(f"http://127.0.0.1:{settings.alert_port}/healthz", alerts, "abm alerts")
        await asyncio.sleep(3.0)  # both consumer groups settle (partition assignment)
        load_before = os.getloadavg()
        began = time.monotonic()
        await produce(settings, records, args.rate)
        deadline = time.monotonic() + 120
        while len(slack.received) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        seconds = time.monotonic() - began
        load_after = os.getloadavg()
        headers = await mqa_headers(settings, total)
    finally:
        stop(alerts)
        stop(worker)
        await slack.stop()
    order = sorted(headers, key=lambda mqa_id: headers[mqa_id][0])[args.warmup :]
    measured = [m for m in order if m in slack.received]
    if not measured:
        print("no alert arrived", file=sys.stderr)
        return 1
    end_to_end = [float(slack.received[m] - headers[m][0]) for m in measured]
    to_mqa = [float(headers[m][1] - headers[m][0]) for m in measured]
    to_alert = [float(slack.received[m] - headers[m][1]) for m in measured]
    print(f"alerts measured : {len(measured)} of {args.alerts} (after {args.warmup} warm-up), "
          f"{len(slack.received)}/{total} delivered, touchpoints at {args.rate:g}/s, "
          f"run {seconds:.1f} s")  # fmt: skip
    print(f"machine         : {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; partitions {settings.partitions}")  # fmt: skip
    print(f"event -> alert  : {percentiles(end_to_end)}")
    print(f"event -> MQA    : {percentiles(to_mqa)}")
    print(f"MQA -> alert    : {percentiles(to_alert)}")
    return 0 if len(measured) == args.alerts else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=200, help="alerts measured")
    parser.add_argument("--rate", type=float, default=10.0, help="touchpoints per second")
    parser.add_argument("--warmup", type=int, default=10, help="first alerts left out")
    sys.exit(asyncio.run(main(parser.parse_args())))
