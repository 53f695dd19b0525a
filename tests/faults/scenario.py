"""A fault run: touchpoints through the whole alert path (tracker -> `abm collector` -> Kafka ->
`abm worker` -> MQA -> `abm alerts` -> Slack (bot token) and e-mail), in rounds; each round sends
the touchpoints of a few new accounts, each of which qualifies at once (a demo request from a
decision maker: one act-now MQA), injects one fault while they flow, and waits until every alert
of the round reached its provider or was dead-lettered (or a time limit). The run has a broker,
a Redis, a Slack stand-in and an SMTP server of its own, so it can stop and break them.

Everything random comes from the plan's seed: the order of the rounds, the accounts per round,
when a fault strikes and how long it lasts. What is expected is the in-memory reference's MQAs
(`abm.core.offline.run_offline`) for the touchpoints sent; the count is `tests.faults.tally`.

The tracker behaves like a Segment SDK: it posts batches to `/v1/batch` and sends a batch again
(same message ids) until the collector answers 200. A process that exits on its own is counted
and started again (a supervisor's restart policy).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, run_offline
from abm.core.records import AccountRecord, ContactRecord
from abm.core.timefmt import iso_ms
from abm.infra.kafka import LocalKafka
from abm.infra.process import free_port
from abm.infra.redis_server import LocalRedis
from abm.plumbing.topics_admin import partitions_of
from abm_cli.settings import Settings
from stream.topics import ALERTS_DEAD_LETTER, MQA
from tests.faults.processes import AbmProcess
from tests.faults.providers import SlackStandIn, SmtpServer
from tests.faults.services import outage, start_kafka, start_redis
from tests.faults.tally import DeadLetter, Row, tally
from tests.support.collector import auth, collector_settings
from tests.support.factories import account, contact_record
from tests.support.harness import create_topics, load_directory

PROCESSES: Final = ("worker", "alerts", "collector")
"""The long-running processes of the alert path, each killed with `kill -9`."""
NO_FAULT: Final = "no fault"
KILLS: Final = {f"kill -9 abm {name}": name for name in PROCESSES}
KAFKA_OUTAGE: Final = "Kafka outage"
REDIS_OUTAGE: Final = "Redis outage"
PROVIDER_FAULTS: Final = (
    "Slack 429", "Slack 5xx", "Slack hang", "Slack slow", "SMTP 4xx", "SMTP hang",
)  # fmt: skip
SLACK_UNREACHABLE: Final = frozenset({"Slack hang"})
"""Fault kinds during which Slack cannot be asked (its history hangs too)."""
CHANNELS: Final = ("slack", "email")
OWNERS: Final = 6
"""Account executives the accounts are spread over (Slack direct messages, mailboxes)."""
SUSPENDED_S: Final = 5.0
"""A pause of the run's own loop longer than this (it sleeps 0.2 s) means the machine was
suspended."""
ALERT_TIMEOUT_S: Final = 2.0
"""The alert service's request timeout in the run; a hang lasts longer than this."""


@dataclass(frozen=True)
class Plan:
    seed: int
    kills: int = 20
    """Kills of each process."""
    killed: tuple[str, ...] = PROCESSES
    """The processes killed."""
    kafka_outages: int = 1
    redis_outages: int = 1
    provider_faults: int = 1
    """Rounds of each provider fault kind."""
    outage_s: tuple[float, float] = (5.0, 15.0)
    provider_fault_s: tuple[float, float] = (2.0, 6.0)
    accounts: tuple[int, int] = (4, 10)
    """New accounts (so MQAs) per round."""
    settle_timeout_s: float = 240.0

    def kinds(self) -> list[str]:
        """The fault kind of every round: one round without a fault first (the processes
        start), then the others in a random order."""
        kinds = [kind for kind, name in KILLS.items() if name in self.killed
                 for _ in range(self.kills)]  # fmt: skip
        kinds += [KAFKA_OUTAGE] * self.kafka_outages + [REDIS_OUTAGE] * self.redis_outages
        kinds += [kind for kind in PROVIDER_FAULTS for _ in range(self.provider_faults)]
        random.Random(self.seed).shuffle(kinds)
        return [NO_FAULT, *kinds]


@dataclass(frozen=True)
class Round:
    index: int
    kind: str
    accounts: list[AccountRecord]
    contacts: list[ContactRecord]
    messages: list[dict[str, Any]]
    strike_s: float
    """Seconds after the round's first touchpoint left when the fault strikes."""
    down_s: float
    """How long the fault lasts (a killed process stays down this long)."""


def make_rounds(plan: Plan, base_ms: int) -> list[Round]:
    rng = random.Random(plan.seed + 1)
    rounds: list[Round] = []
    at_ms = base_ms
    n = 0
    for index, kind in enumerate(plan.kinds()):
        accounts: list[AccountRecord] = []
        contacts: list[ContactRecord] = []
        messages: list[dict[str, Any]] = []
        for _ in range(rng.randint(*plan.accounts)):
            n += 1
            owner = n % OWNERS
            record = account(f"chaos{n}", name=f"Chaos {n} BV", domains=(f"chaos{n}.example",),
                             owner_email=f"ae{owner}@vendor.example",
                             owner_slack_id=f"U0AE{owner}")  # fmt: skip
            email = f"dana@chaos{n}.example"
            accounts.append(record)
            contacts.append(contact_record(email, account_id=record.account_id))
            for page in range(rng.randint(0, 2)):
                at_ms += 1000
                url = {"url": "https://www.vendor.example/pricing"}
                messages.append(_message(f"r{index}-a{n}-p{page}", "page", email, at_ms,
                                         properties=url))  # fmt: skip
            at_ms += 1000
            messages.append(_message(f"r{index}-a{n}-demo", "track", email, at_ms,
                                     event="Demo Requested"))  # fmt: skip
        rng.shuffle(messages)  # accounts interleave; each account's own order is by time
        messages = _per_user_in_order(messages)
        if kind in KILLS:
            down = rng.uniform(0.0, 1.0)
        elif kind in (KAFKA_OUTAGE, REDIS_OUTAGE):
            down = rng.uniform(*plan.outage_s)
        elif kind in PROVIDER_FAULTS:
            down = rng.uniform(*plan.provider_fault_s)
        else:
            down = 0.0
        rounds.append(Round(index, kind, accounts, contacts, messages,
                            strike_s=rng.uniform(0.0, 2.5), down_s=down))  # fmt: skip
    return rounds


def _message(message_id: str, kind: str, email: str, at_ms: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "messageId": message_id, "userId": email, "timestamp": iso_ms(at_ms),
            "context": {"traits": {"email": email, "title": "CTO"}}, **fields}  # fmt: skip


def _per_user_in_order(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the shuffled interleaving of users but each user's messages in time order."""
    mine: dict[str, list[dict[str, Any]]] = {}
    for message in sorted(messages, key=lambda m: m["timestamp"]):
        mine.setdefault(message["userId"], []).append(message)
    return [mine[m["userId"]].pop(0) for m in messages]


class TopicTail:
    """Every record of a topic from the beginning, read in the background, through outages."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.name = name
        self.values: list[bytes] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                    group_id=None, enable_auto_commit=False)  # fmt: skip
        await consumer.start()
        try:
            partitions = (await partitions_of(self.settings.kafka_bootstrap_servers, [self.name]))[
                self.name
            ]
            tps = [TopicPartition(self.name, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while True:
                try:
                    batch = await consumer.getmany(timeout_ms=300)
                except KafkaError:
                    await asyncio.sleep(0.5)
                    continue
                for records in batch.values():
                    self.values.extend(r.value for r in records if r.value is not None)
        finally:
            await consumer.stop()

    def check(self) -> None:
        """Raise the reader's error if it stopped."""
        if self._task is not None and self._task.done():
            self._task.result()
            raise AssertionError(f"the reader of {self.name} stopped")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, KafkaError):
                await self._task


class Tracker:
    """Posts Segment batches to the collector like an SDK: again, unchanged, until a 200."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.retries = 0

    async def send(self, messages: list[dict[str, Any]], spread_s: float, batch: int = 3) -> None:
        chunks = [messages[i : i + batch] for i in range(0, len(messages), batch)]
        pause = spread_s / max(1, len(chunks))
        headers = {**auth(), "Content-Type": "application/json"}
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for chunk in chunks:
                body = orjson.dumps({"batch": chunk})
                while True:
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                        async with session.post(self.url, data=body, headers=headers) as answer:
                            if answer.status == 200:
                                break
                            if answer.status < 500 and answer.status != 429:
                                raise AssertionError(f"collector: {answer.status} "
                                                     f"{await answer.text()}")  # fmt: skip
                    self.retries += 1
                    await asyncio.sleep(0.3)
                await asyncio.sleep(pause)


@dataclass
class Outcome:
    rows: list[Row]
    rounds: int
    kinds: Counter[str]
    reference_mqas: int
    produced_mqas: int
    mqa_records: int
    unexpected_exits: Counter[str]
    unsettled_rounds: list[int]
    """Rounds whose alerts were not all settled when the next round began."""
    settled_at_end: bool
    missing: list[str]
    """The lost alerts: `alert id on channel (fault kind)`."""
    suspended_s: float
    tracker_retries: int
    seconds: float

    def failures(self) -> list[str]:
        """Why the run fails: duplicates, lost alerts, unconfirmed Slack alerts while Slack
        answered, MQAs the engine did not produce."""
        why = []
        for row in self.rows:
            if row.duplicated:
                why.append(f"{row.duplicated} duplicated ({row.kind}, {row.channel})")
            if row.lost:
                why.append(f"{row.lost} lost ({row.kind}, {row.channel})")
            if row.channel == "slack" and row.unconfirmed and row.kind not in SLACK_UNREACHABLE:
                why.append(f"{row.unconfirmed} unconfirmed on Slack while it answered "
                           f"({row.kind})")  # fmt: skip
        if self.produced_mqas != self.reference_mqas:
            why.append(f"the engine produced {self.produced_mqas} of {self.reference_mqas} MQAs")
        return why


@dataclass
class FaultRun:
    """The run's services, stand-ins and processes; `run()` plays the plan's rounds."""

    plan: Plan
    home: Path
    progress: Callable[[str], None] = print
    kafka: LocalKafka | None = None
    redis: LocalRedis | None = None
    slack: SlackStandIn = field(default_factory=lambda: SlackStandIn(delay_s=0.1))
    smtp: SmtpServer = field(default_factory=lambda: SmtpServer(port=free_port(), delay_s=0.1))
    processes: dict[str, AbmProcess] = field(default_factory=dict)
    exits: Counter[str] = field(default_factory=Counter)
    suspended_s: float = 0.0
    _tails: list[TopicTail] = field(default_factory=list)

    async def start(self) -> Settings:
        self.kafka = await asyncio.to_thread(start_kafka, self.home)
        self.redis = await asyncio.to_thread(start_redis, self.home / "redis", True)
        await self.slack.start()
        self.smtp.start()
        settings = collector_settings(
            self.kafka.bootstrap, self.redis.url, self.home,
            partitions=2,
            session_timeout_s=6.0,
            log_level="info",
            alert_channels=",".join(CHANNELS),
            slack_bot_token="xoxb-chaos",
            slack_api_url=self.slack.api_url,
            slack_min_interval_s=0.05,
            smtp_host="127.0.0.1",
            smtp_port=self.smtp.port,
            smtp_starttls=False,
            alert_claim_lease_s=3.0,
            alert_backoff_s=0.2,
            alert_backoff_max_s=2.0,
            alert_max_attempts=30,
            alert_timeout_s=ALERT_TIMEOUT_S,
            alert_port=0,
        )  # fmt: skip
        await create_topics(settings)
        self.processes = {
            name: AbmProcess(settings, self.home / "logs" / f"{name}.log", name)
            for name in PROCESSES
        }
        prefix = settings.topic_prefix
        self._tails = [TopicTail(settings, MQA.name(prefix)),
                       TopicTail(settings, ALERTS_DEAD_LETTER.name(prefix))]  # fmt: skip
        for tail in self._tails:
            tail.start()
        return settings

    async def close(self) -> None:
        for tail in self._tails:
            await tail.stop()
        for process in self.processes.values():
            await asyncio.to_thread(process.stop, 20.0)
        self.smtp.stop()
        await self.slack.stop()
        for service in (self.redis, self.kafka):
            if service is not None:
                await asyncio.to_thread(service.stop)

    # --- what the providers and the topics hold ---

    def received(self) -> dict[str, Counter[str]]:
        return {"slack": Counter(self.slack.by_alert()), "email": Counter(self.smtp.by_alert())}

    def dead_letters(self) -> list[DeadLetter]:
        letters = []
        for value in self._tails[1].values:
            doc = orjson.loads(value)
            if doc.get("alert_id"):
                letters.append(DeadLetter(doc["alert_id"], doc.get("channel") or "", doc["reason"]))
        return letters

    def produced(self) -> tuple[int, int]:
        """(distinct MQA ids, MQA records) on the topic."""
        values = self._tails[0].values
        return len({orjson.loads(v)["mqa_id"] for v in values}), len(values)

    # --- the run ---

    def supervise(self) -> None:
        """Start again a process that exited on its own (and count it)."""
        for name, process in self.processes.items():
            if not process.alive():
                if process.proc is not None:
                    self.exits[name] += 1
                    code = process.proc.returncode
                    self.progress(f"abm {name} exited on its own ({code}); starting it again. "
                                  f"Its log:\n{process.log_tail(15)}")  # fmt: skip
                process.start()

    async def inject(self, r: Round) -> None:
        assert self.kafka is not None and self.redis is not None
        if r.kind in KILLS:
            process = self.processes[KILLS[r.kind]]
            process.kill()
            await asyncio.sleep(r.down_s)
            process.start()
        elif r.kind == KAFKA_OUTAGE:
            await outage(self.kafka, r.down_s)
        elif r.kind == REDIS_OUTAGE:
            await outage(self.redis, r.down_s)
        elif r.kind in PROVIDER_FAULTS:
            provider, fault = r.kind.split(" ", 1)
            if provider == "Slack":
                if fault == "429":
                    self.slack.fail_with(429, {"ok": False, "error": "ratelimited"},
                                         {"Retry-After": "1"})  # fmt: skip
                elif fault == "5xx":
                    self.slack.fail_with(503, {"ok": False, "error": "service_unavailable"})
                elif fault == "hang":
                    self.slack.hang(ALERT_TIMEOUT_S + 1)
                else:
                    self.slack.slow(ALERT_TIMEOUT_S + 1)
            elif fault == "4xx":
                self.smtp.fail_with("451 4.3.0 Busy, try again later")
            else:
                self.smtp.hang(ALERT_TIMEOUT_S + 1)
            await asyncio.sleep(r.down_s)
            self.slack.heal()
            self.smtp.heal()

    async def settle(self, wanted: set[tuple[str, str]], timeout_s: float) -> bool:
        """Until every wanted (alert id, channel) is at its provider or dead-lettered. Time the
        whole machine stood still (a suspended virtual machine: nothing ran, the clock went on)
        does not count against `timeout_s`; it is added up in `suspended_s`."""
        deadline = time.monotonic() + timeout_s
        last = time.monotonic()
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now - last > SUSPENDED_S:
                deadline += now - last
                self.suspended_s += now - last
            last = now
            self.supervise()
            for tail in self._tails:
                tail.check()
            received = self.received()
            done = {(d.alert_id, d.channel) for d in self.dead_letters()}
            if all(key in done or received[key[1]][key[0]] for key in wanted):
                return True
            await asyncio.sleep(0.2)
        return False

    async def run(self) -> Outcome:
        started = time.monotonic()
        settings = await self.start()
        try:
            return await self._rounds(settings, started)
        finally:
            await self.close()

    async def _rounds(self, settings: Settings, started: float) -> Outcome:
        base_ms = (int(time.time() * 1000) - 86_400_000) // 3_600_000 * 3_600_000
        rounds = make_rounds(self.plan, base_ms)
        accounts = [a for r in rounds for a in r.accounts]
        contacts = [c for r in rounds for c in r.contacts]
        await load_directory(settings, accounts, contacts)
        directory = InMemoryDirectory.of(accounts, contacts)
        model = load_model()
        tracker = Tracker(f"http://127.0.0.1:{settings.collector_port}/v1/batch")
        expected: dict[tuple[str, str], str] = {}
        all_lines: list[bytes] = []
        unsettled: list[int] = []
        self.supervise()
        for r in rounds:
            lines = [orjson.dumps(m) for m in r.messages]
            all_lines += lines
            mqas = run_offline(lines, directory, model).mqas
            wanted = {(m["mqa_id"], channel) for m in mqas for channel in CHANNELS}
            expected.update(dict.fromkeys(wanted, r.kind))
            round_started = time.monotonic()
            send = asyncio.ensure_future(tracker.send(r.messages, spread_s=2.0))
            if r.kind != NO_FAULT:
                await asyncio.sleep(r.strike_s)
                await self.inject(r)
            await send
            ok = await self.settle(wanted, self.plan.settle_timeout_s)
            if not ok:
                unsettled.append(r.index)
            rows = tally(expected, self.received(), self.dead_letters())
            dup = sum(x.duplicated for x in rows)
            unconfirmed = sum(x.unconfirmed for x in rows)
            lost = sum(x.lost for x in rows)
            self.progress(f"round {r.index + 1}/{len(rounds)} {r.kind}: {len(mqas)} MQAs, "
                          f"{'settled' if ok else 'NOT settled'} in "
                          f"{time.monotonic() - round_started:.1f} s; so far {dup} duplicated, "
                          f"{unconfirmed} unconfirmed, {lost} lost")  # fmt: skip
        # what a round left unsettled may still come; then a late duplicate would arrive now
        final_ok = await self.settle(set(expected), self.plan.settle_timeout_s)
        await asyncio.sleep(3.0)
        reference = run_offline(all_lines, directory, model).mqas
        produced, records = self.produced()
        received, done = self.received(), {(d.alert_id, d.channel) for d in self.dead_letters()}
        missing = sorted(f"{alert_id} on {channel} ({kind})"
                         for (alert_id, channel), kind in expected.items()
                         if not received[channel][alert_id]
                         and (alert_id, channel) not in done)  # fmt: skip
        order = [NO_FAULT, *KILLS, KAFKA_OUTAGE, REDIS_OUTAGE, *PROVIDER_FAULTS]
        rows = tally(expected, self.received(), self.dead_letters())
        rows.sort(key=lambda x: (order.index(x.kind) if x.kind in order else len(order),
                                 CHANNELS.index(x.channel)))  # fmt: skip
        return Outcome(
            rows=rows,
            rounds=len(rounds),
            kinds=Counter(r.kind for r in rounds),
            reference_mqas=len(reference),
            produced_mqas=produced,
            mqa_records=records,
            unexpected_exits=self.exits,
            unsettled_rounds=unsettled,
            settled_at_end=final_ok,
            missing=missing,
            suspended_s=self.suspended_s,
            tracker_retries=tracker.retries,
            seconds=time.monotonic() - started,
        )
