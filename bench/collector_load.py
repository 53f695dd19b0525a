"""Sustained accepted events/s of the collector: wrk posting /v1/batch on loopback, every event
acknowledged by Kafka (idempotent producer, acks=all).

Starts its own broker and Redis on free ports (or uses KAFKA_BOOTSTRAP_SERVERS / REDIS_URL),
the collector as a separate process (`abm collector`), loads a simulated directory, then runs
wrk with bench/collector_batch.lua. Reported: the collector's own count of accepted events and
the growth of the raw topic over the run, divided by wrk's duration.

    bench/collector_load.sh [--seconds 30] [--connections 16] [--threads 2] [--batch 100]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from abm.infra.kafka import LocalKafka
from abm.infra.process import free_port, port_open
from abm.infra.redis_server import LocalRedis
from abm.plumbing.topics_admin import ensure_topics, partitions_of
from abm_cli.settings import Settings
from producers.outputs import load_directory
from producers.simulator import SimConfig, Simulator
from stream.topics import RAW

REPO = Path(__file__).resolve().parents[1]
WRITE_KEY = "bench-write-key"


def body_template(batch: int) -> bytes:
    """A /v1/batch body of `batch` simulated page/track/identify messages (no malformed ones),
    messageIds replaced by a placeholder the Lua script fills in per request."""
    simulator = Simulator(SimConfig(accounts=200, days=30, seed=7))
    messages = [m for m in simulator.messages() if isinstance(m, dict) and "messageId" in m]
    chosen = messages[-batch:]
    for index, message in enumerate(chosen):
        message["messageId"] = f"__MID__{index}"
    return orjson.dumps({"batch": chosen})


async def raw_end_offsets(settings: Settings) -> int:
    name = RAW.name(settings.topic_prefix)
    partitions = await partitions_of(settings.kafka_bootstrap_servers, [name])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        tps = [TopicPartition(name, p) for p in partitions[name]]
        return int(sum((await consumer.end_offsets(tps)).values()))
    finally:
        await consumer.stop()


def accepted_events(url: str) -> float:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    pattern = re.compile(
        r'^abm_collector_events_total\{[^}]*outcome="accepted"[^}]*\} (\S+)$', re.M
    )
    return sum(float(m) for m in pattern.findall(text))


def answers(url: str) -> dict[str, float]:
    """Requests to /v1/batch by response code, from the collector's metrics."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    pattern = re.compile(
        r'^abm_collector_requests_total\{code="(\d+)",endpoint="batch"\} (\S+)$', re.M
    )
    return {code: float(n) for code, n in pattern.findall(text)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2

    home = Path(tempfile.mkdtemp(prefix="abm-bench-"))
    started: list[LocalKafka | LocalRedis] = []
    collector: subprocess.Popen[bytes] | None = None
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            port = next(p for p in iter(free_port, 0) if not port_open("127.0.0.1", p + 1))
            kafka = LocalKafka(home=home / "kafka", port=port, cache_dir=REPO / ".cache")
            started.append(kafka)
            kafka.start(timeout_s=120)
            bootstrap = kafka.bootstrap
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis = LocalRedis(home=home / "redis", port=free_port(), persist=False)
            started.append(redis)
            redis.start()
            redis_url = redis.url
        run = f"bench-{int(time.time())}"
        settings = Settings(
            kafka_bootstrap_servers=bootstrap,
            redis_url=SecretStr(redis_url),
            topic_prefix=run,
            redis_prefix=run,
            app_id=run,
            partitions=4,
            collector_port=free_port(),
            collector_write_keys=SecretStr(WRITE_KEY),
            state_dir=home / "state",
            log_level="warning",
        )
        asyncio.run(ensure_topics(settings))
        asyncio.run(
            load_directory(settings, *Simulator(SimConfig(accounts=200, days=30, seed=7)).records())
        )
        url = f"http://127.0.0.1:{settings.collector_port}"
        env = {**os.environ, **settings.to_env()}
        log = (home / "collector.log").open("wb")
        profile = os.environ.get("ABM_BENCH_PROFILE")  # a path: cProfile the collector
        python = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else [])]
        collector = subprocess.Popen(
            [*python, "-m", "abm_cli", "collector"], cwd=REPO, env=env, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/healthz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or collector.poll() is not None:
                print((home / "collector.log").read_text(), file=sys.stderr)
                return 1
            time.sleep(0.2)

        body = home / "body.json"
        body.write_bytes(body_template(args.batch))
        auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        wrk_env = {**os.environ, "ABM_BENCH_BODY": str(body), "ABM_BENCH_AUTH": auth}
        command = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s",
                   "--latency", "-s", str(REPO / "bench" / "collector_batch.lua"),
                   f"{url}/v1/batch"]  # fmt: skip
        print(
            f"body: {args.batch} events, {body.stat().st_size} bytes; collector pid {collector.pid}"
        )
        print("$ " + " ".join(command))
        before_events, before_offsets = accepted_events(url), asyncio.run(raw_end_offsets(settings))
        result = subprocess.run(command, env=wrk_env, capture_output=True, text=True, check=False)
        time.sleep(2)  # requests wrk left in flight finish: the counts below then agree
        after_events, after_offsets = accepted_events(url), asyncio.run(raw_end_offsets(settings))
        print(result.stdout + result.stderr)
        if result.returncode != 0:
            return result.returncode
        done = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", result.stdout)
        assert done is not None, "wrk printed no request count"
        seconds = float(done.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[done.group(3)]
        failed = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
        ok_requests = int(done.group(1)) - (int(failed.group(1)) if failed else 0)
        print(f"answers by code            : {answers(url)}")
        print(f"accepted (collector metric): {after_events - before_events:,.0f} events")
        print(f"raw topic grew by          : {after_offsets - before_offsets:,} records")
        print(
            f"sustained accepted rate    : {ok_requests * args.batch / seconds:,.0f} events/s "
            f"({ok_requests} requests of {args.batch} events answered 200 by wrk's count, "
            f"over {seconds:.1f} s)"
        )
        return 0
    finally:
        if collector is not None and os.environ.get("ABM_BENCH_SHOW_LOG"):
            print((home / "collector.log").read_text()[-5000:], file=sys.stderr)
        if collector is not None:
            collector.terminate()
            try:
                collector.wait(timeout=30)
            except subprocess.TimeoutExpired:
                collector.kill()
        for service in reversed(started):
            service.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
