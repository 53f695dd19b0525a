"""Figure 2: event -> MQA and event -> alert latency at a fixed produce rate, against the
broker's own produce -> consume round trip at the same rate.

Realistic background traffic (the simulator's mix, times moved to now) is produced into the raw
topic at `--rate` messages per second, with a demo request of a fresh, fit prospect account
mixed in every `--probe-every` messages: each one qualifies its account at once (act now), so
every probe gives one MQA and one alert. `abm worker` and `abm alerts` (console channel) run as
processes. Per probe:

- event -> MQA: from the raw record's timestamp (the producer's clock, header `abm-ingest-ms`)
  to the worker sending the MQA (header `abm-emitted-ms`);
- event -> alert: from the same timestamp to the console alert appearing on the alert
  service's standard output (read by this process as it is written).

Baseline: the same producer settings and rate into a plain topic, read by a plain aiokafka
consumer; latency from the record's timestamp to its arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from abm.core.records import AccountRecord, ContactRecord
from abm.core.timefmt import iso_ms, parse_iso_ms
from abm.infra.process import free_port
from abm.plumbing.redis_clients import open_directory
from abm.plumbing.topics_admin import ensure_topics, partitions_of
from abm_cli.settings import Settings
from bench.common import REPO, Worker, dataset, line, routed_keys, say, services
from stream.topics import HEADER_EMITTED_MS, HEADER_INGEST_MS, MQA, RAW

_ALERT_ID = re.compile(r"Id\s+:\s+(mqa_[0-9a-f]+)")


@dataclass
class Probes:
    accounts: list[AccountRecord] = field(default_factory=list)
    contacts: list[ContactRecord] = field(default_factory=list)

    @classmethod
    def make(cls, count: int) -> Probes:
        probes = cls()
        for n in range(count):
            account_id = f"probe-{n:05d}"
            domain = f"{account_id}.example"
            probes.accounts.append(
                AccountRecord(
                    account_id,
                    f"Probe {n}",
                    (domain,),
                    2,
                    80.0,
                    "prospect",
                    "ae@vendor.example",
                    "U0PROBE",
                    None,
                )
            )
            probes.contacts.append(
                ContactRecord(
                    f"buyer@{domain}", account_id, "VP Operations", "decision_maker", "vp"
                )
            )
        return probes

    def message(self, n: int, now_ms: int) -> tuple[bytes, bytes]:
        contact = self.contacts[n]
        doc = {
            "type": "track",
            "event": "Demo Requested",
            "messageId": f"probe-msg-{n}",
            "timestamp": iso_ms(now_ms),
            "userId": f"probe-user-{n}",
            "context": {"traits": {"email": contact.email}},
        }
        return f"account:{contact.account_id}".encode(), orjson.dumps(doc)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (
        f"p50 {pct(values, 50):.0f} ms | p95 {pct(values, 95):.0f} ms | "
        f"p99 {pct(values, 99):.0f} ms (n={len(values)})"
    )


async def _paced_send(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes, bytes]], rate: float
) -> None:
    started = time.monotonic()
    pending = []
    for sent, (key, value) in enumerate(records, start=1):
        pending.append(await producer.send(topic, value=value, key=key))
        ahead = sent / rate - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)
    await asyncio.gather(*pending)


async def baseline(settings: Settings, count: int, rate: float) -> list[float]:
    """Produce -> consume round trip of a plain topic at `rate`."""
    name = f"{settings.topic_prefix}.baseline"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(name, settings.partitions, 1)])
    await admin.close()
    partitions = await partitions_of(settings.kafka_bootstrap_servers, [name])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
    await consumer.start()
    tps = [TopicPartition(name, p) for p in partitions[name]]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    latencies: list[float] = []

    async def consume() -> None:
        while len(latencies) < count:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time() * 1000
            for records in batch.values():
                latencies.extend(now - r.timestamp for r in records)

    producer = _producer(settings)
    await producer.start()
    reader = asyncio.create_task(consume())
    try:
        payload = b'{"type":"page"}' * 20
        await _paced_send(producer, name, [(b"k%d" % n, payload) for n in range(count)], rate)
        await asyncio.wait_for(reader, 60)
    finally:
        await producer.stop()
        await consumer.stop()
    return latencies


def _producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
    )


class AlertService:
    """`abm alerts` on the console channel; notes when each alert's text appears."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen: dict[str, float] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            **self.settings.to_env(),
            "ABM_ALERT_CHANNELS": "console",
            "PYTHONUNBUFFERED": "1",
        }
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "abm_cli", "alerts", cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line_ := await self.proc.stdout.readline():
            match = _ALERT_ID.search(line_.decode(errors="replace"))
            if match:
                self.seen.setdefault(match.group(1), time.time() * 1000)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        if self.reader is not None:
            self.reader.cancel()


async def wait_http(url: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            await asyncio.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


async def mqa_headers(settings: Settings) -> dict[str, tuple[int, int]]:
    name = MQA.name(settings.topic_prefix)
    partitions = await partitions_of(settings.kafka_bootstrap_servers, [name])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
    await consumer.start()
    found: dict[str, tuple[int, int]] = {}
    try:
        tps = [TopicPartition(name, p) for p in partitions[name]]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp, offset in (await consumer.beginning_offsets(tps)).items():
            consumer.seek(tp, offset)
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    wanted = (HEADER_INGEST_MS, HEADER_EMITTED_MS)
                    headers = {k: int(v) for k, v in r.headers if k in wanted}
                    event = orjson.loads(r.value)
                    if event["account"]["id"].startswith("probe-"):
                        found.setdefault(
                            event["mqa_id"], (headers[HEADER_INGEST_MS], headers[HEADER_EMITTED_MS])
                        )
        return found
    finally:
        await consumer.stop()


async def run(rate: float, seconds: float, probe_every: int, accounts: int) -> None:
    data = dataset(accounts, days=30)
    total = int(rate * seconds)
    probes = Probes.make(total // probe_every + 2)
    with services() as env:
        settings = env.settings(alert_port=free_port())
        await ensure_topics(settings)
        store = await open_directory(settings)
        sim_accounts, sim_contacts = data.simulator.records()
        await store.load(sim_accounts + probes.accounts, sim_contacts + probes.contacts)
        await store.close()
        worker = Worker(settings)
        alerts = AlertService(settings)
        await alerts.start()
        try:
            await wait_http(f"http://127.0.0.1:{settings.web_port}/metrics")
            await wait_http(f"http://127.0.0.1:{settings.alert_port}/metrics")
            producer = _producer(settings)
            await producer.start()
            raw = RAW.name(settings.topic_prefix)
            # warm-up: one probe through the whole chain before timing
            key, value = probes.message(len(probes.accounts) - 1, int(time.time() * 1000))
            await (await producer.send(raw, key=key, value=value))
            while not alerts.seen:
                await asyncio.sleep(0.2)
            say(f"timed run: {total} messages at {rate:.0f}/s, a probe every {probe_every}")
            keys = routed_keys(data)
            shift = int(time.time() * 1000) - max(
                parse_iso_ms(orjson.loads(v)["timestamp"])
                for v in data.lines[-50:]
                if v.startswith(b"{") and b'"timestamp":"20' in v
            )
            records: list[tuple[bytes, bytes]] = []
            probe = 0
            for n in range(total):
                if n % probe_every == probe_every - 1:
                    records.append(probes.message(probe, int(time.time() * 1000)))
                    probe += 1
                else:
                    index = n % len(data.lines)
                    records.append((keys[index], _shifted(data.lines[index], shift, n)))
            await _paced_send(producer, raw, records, rate)
            await producer.stop()
            deadline = time.monotonic() + 120
            while len(alerts.seen) < probe + 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            headers = await mqa_headers(settings)
        finally:
            await alerts.stop()
            worker.stop()
        say("baseline: produce -> consume round trip at the same rate")
        base = await baseline(settings, min(total, 20_000), rate)
    to_mqa = [float(emitted - ingest) for ingest, emitted in headers.values()]
    to_alert = [alerts.seen[i] - ingest for i, (ingest, _) in headers.items() if i in alerts.seen]
    print(f"latency ({total} messages at {rate:.0f}/s, {len(to_mqa)} act-now MQAs, 4 partitions)")
    print(line("baseline: produce -> consume", summary(base)))
    print(line("event -> MQA", summary(to_mqa)))
    print(line("event -> alert (console)", summary(to_alert)))
    for q in (50, 99):
        print(line(f"event -> MQA / baseline, p{q}", f"{pct(to_mqa, q) / pct(base, q):.1f}"))
        print(line(f"event -> alert / baseline, p{q}", f"{pct(to_alert, q) / pct(base, q):.1f}"))
    print(line("mean event -> alert", f"{statistics.fmean(to_alert):.0f} ms"))


def _shifted(value: bytes, shift_ms: int, n: int) -> bytes:
    """A background message moved to now, with a fresh messageId for each pass."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if not isinstance(doc, dict):
        return value
    if isinstance(doc.get("timestamp"), str):
        with contextlib.suppress(ValueError):
            doc["timestamp"] = iso_ms(parse_iso_ms(doc["timestamp"]) + shift_ms)
    if isinstance(doc.get("messageId"), str):
        doc["messageId"] = f"{doc['messageId']}-{n}"
    return orjson.dumps(doc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench latency", description=__doc__)
    parser.add_argument("--rate", type=float, default=500.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--probe-every", type=int, default=25)
    parser.add_argument("--accounts", type=int, default=1000, help="background accounts")
    args = parser.parse_args(argv)
    asyncio.run(run(args.rate, args.seconds, args.probe_every, args.accounts))


if __name__ == "__main__":
    main()
