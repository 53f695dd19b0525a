"""Figure: one hot account. A tier-1 fit prospect receives `--hot` touchpoints over 30 days (80%
anonymous page views from 10,000 visitors carrying `context.groupId`, 20% pages and track events
of 500 known people of the directory), interleaved with the simulator's traffic for `--others`
other accounts (bench/hot_data.py, seeded).

The input is the resolved-touchpoint topic, pre-resolved by the offline reference in order: the
figure is about the engagement step (per-account state, its changelog, the MQA rule), and
resolution (directory lookups in Redis) would only add a constant cost per touchpoint in front
of it. The same reference gives the expected MQAs.

What it reports:

a. cost per touchpoint of the hot account's last 10% against its first 10% (goal: within 1.5x):
   - pure core, in this process: `apply` on every touchpoint in order, the state decoded before
     and encoded after each step (`from_bytes`/`to_bytes`, the agent's cache-miss path), and
     with decoded states kept in a dict (the cache-hit path); mean microseconds per hot
     touchpoint;
   - worker, from outside: `abm worker` on the pre-loaded topic with ONE partition, so it takes
     the records in offset order; each changelog record of the hot account carries its state,
     whose clock (latest event time) tells how many hot touchpoints it has applied, and its
     Kafka timestamp tells when. Microseconds per input record (all accounts) between the
     record that first shows 0% / 10% / 90% / 100% of the hot touchpoints applied;
b. the largest stored state: the largest record value on the engagement changelog topic
   (`{app_id}-engagement-changelog`), and the hot account's final state;
c. the largest record of every topic the worker wrote, against the broker's `message.max.bytes`;
d. the other accounts' event -> MQA latency (headers `abm-ingest-ms` -> `abm-emitted-ms`, 4
   partitions) while the hot account streams, and without it, in the same run: the traffic is
   replayed at the pace of its event times, 30 days squeezed into `--seconds`; the other
   accounts' records are sent at the same moments in both runs;
e. every run's MQA set against the in-memory reference.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import ConsumerRecord

from abm.core.engagement import apply
from abm.core.model import ScoringModel, load_model
from abm.core.offline import InMemoryDirectory, OfflineResult, run_offline
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint
from abm.plumbing.consumer_lag import wait_caught_up
from abm.plumbing.topics_admin import ensure_topics
from abm_cli.settings import Settings
from bench.common import (
    Services,
    Worker,
    line,
    produce,
    say,
    scan,
    services,
)
from bench.hot_data import HOT_ID, HotConfig, HotData, hot_data
from bench.latency import pct
from stream.topics import HEADER_EMITTED_MS, HEADER_INGEST_MS, MQA, RESOLVED, account_key

DEFAULT_MESSAGE_MAX_BYTES = 1_048_588
"""The broker's default `message.max.bytes` (1 MiB + 12 bytes of batch overhead)."""
WARM_UP = "bench-warm-up"
"""Account ids of warm-up touchpoints start so; their MQAs (none expected) are left out."""
WARM_UP_RECORDS = 2000
"""Records ahead of the timed ones in the one-partition run, so the worker's start-up (fetcher,
producer, first allocations) is over when the hot account's first touchpoint comes."""
NEAR_LIMIT = 0.5
"""A record above this share of the limit counts as near it."""


def warm_up(touchpoints: list[Touchpoint], count: int) -> list[Touchpoint]:
    """`count` page views, each of an account of its own: one blog view qualifies nobody."""
    pages = [t for t in touchpoints if t.event == "Page Viewed"] or touchpoints
    page = next((t for t in pages if (t.path or "").startswith("/blog")), pages[0])
    return [
        replace(
            page,
            message_id=f"{WARM_UP}-{n}",
            account=replace(page.account, account_id=f"{WARM_UP}-{n}"),
        )
        for n in range(count)
    ]


def window_mean(values: list[float], first: bool, share: float = 0.1) -> float:
    """Mean of the first (or last) `share` of `values`."""
    size = max(1, int(len(values) * share))
    part = values[:size] if first else values[-size:]
    return statistics.fmean(part)


@dataclass
class CoreCost:
    """Pure-core cost of each hot touchpoint, in microseconds, in order."""

    stored_us: list[float] = field(default_factory=list)
    plain_us: list[float] = field(default_factory=list)
    largest_state: int = 0
    hot_final_state: int = 0
    mqas: set[str] = field(default_factory=set)


def core_cost(touchpoints: list[Touchpoint], model: ScoringModel) -> CoreCost:
    """Both loops over every touchpoint in order; only the hot account's steps are timed, each
    on its own (`perf_counter` around decode + apply + encode, or around apply alone)."""
    result = CoreCost()
    stored: dict[str, bytes] = {}
    for number, touchpoint in enumerate(touchpoints):
        key = touchpoint.account.account_id
        started = time.perf_counter()
        raw = stored.get(key)
        state = AccountState.from_bytes(raw) if raw is not None else None
        outcome = apply(state, touchpoint, model, f"0/{number}")
        value = outcome.state.to_bytes()
        if key == HOT_ID:
            result.stored_us.append((time.perf_counter() - started) * 1e6)
        stored[key] = value
        result.largest_state = max(result.largest_state, len(value))
        if outcome.new_mqa and outcome.mqa is not None:
            result.mqas.add(outcome.mqa["mqa_id"])
    result.hot_final_state = len(stored.get(HOT_ID, b""))
    states: dict[str, AccountState] = {}
    for number, touchpoint in enumerate(touchpoints):
        key = touchpoint.account.account_id
        started = time.perf_counter()
        outcome = apply(states.get(key), touchpoint, model, f"0/{number}")
        if key == HOT_ID:
            result.plain_us.append((time.perf_counter() - started) * 1e6)
        states[key] = outcome.state
    return result


def record_size(record: ConsumerRecord[Any, Any]) -> int:
    """Key + value + header bytes: what counts against the broker's message limit (before the
    batch's few bytes of framing)."""
    headers = sum(len(k) + len(v or b"") for k, v in record.headers or ())
    return len(record.key or b"") + len(record.value or b"") + headers


async def message_max_bytes(settings: Settings) -> int:
    """The broker's `message.max.bytes`, asked from the broker (node 1), else the default."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        response = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1", configs={"message.max.bytes": None})]
        )
        for resource in response[0].resources:
            for entry in resource[4]:
                if entry[0] == "message.max.bytes" and entry[1] is not None:
                    return int(entry[1])
    except Exception as exc:  # any broker answer we cannot read: fall back to the default
        say(f"message.max.bytes not read from the broker ({exc!r}); using the default")
    finally:
        await admin.close()
    return DEFAULT_MESSAGE_MAX_BYTES


async def worker_topics(settings: Settings, written_by_us: set[str]) -> list[str]:
    """Topics of this run (its prefix or app id) that the worker wrote, not our input."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        names = await admin.list_topics()
    finally:
        await admin.close()
    mine = (settings.app_id, f"{settings.topic_prefix}.")
    return sorted(n for n in names if n.startswith(mine) and n not in written_by_us)


async def mqa_times(settings: Settings) -> dict[str, tuple[str, int, int]]:
    """mqa_id -> (account id, ingest ms, emitted ms), first emission of each."""
    found: dict[str, tuple[str, int, int]] = {}

    def visit(record: ConsumerRecord[Any, Any]) -> None:
        headers = {k: int(v) for k, v in record.headers or () if k in wanted}
        event = orjson.loads(record.value)
        found.setdefault(
            event["mqa_id"],
            (event["account"]["id"], headers[HEADER_INGEST_MS], headers[HEADER_EMITTED_MS]),
        )

    wanted = (HEADER_INGEST_MS, HEADER_EMITTED_MS)
    await scan(settings, MQA.name(settings.topic_prefix), visit)
    return found


@dataclass
class WorkerCost:
    """From the one-partition run: hot changelog records as (timestamp ms, hot touchpoints
    applied), and what the topics held."""

    points: list[tuple[int, int]]
    largest_changelog: int
    hot_final_state: int
    changelog_records: int
    largest_record: tuple[int, str]
    mqas: set[str]
    clock_readable: bool

    def per_record_us(self, hot_offsets: list[int], low: float, high: float) -> float | None:
        """Microseconds per input record between the first changelog record showing `low` of
        the hot touchpoints applied and the first showing `high` (1.0: all of them)."""
        total = len(hot_offsets)

        def first_at(share: float) -> tuple[int, int] | None:
            need = max(1, int(total * share)) if share > 0 else 1
            return next(((t, n) for t, n in self.points if n >= need), None)

        start, end = first_at(low), first_at(high)
        if start is None or end is None or end[1] <= start[1]:
            return None
        records = hot_offsets[end[1] - 1] - hot_offsets[start[1] - 1]
        return (end[0] - start[0]) * 1000 / max(1, records)


async def worker_cost(
    env: Services, touchpoints: list[Touchpoint], hot_times: list[int]
) -> WorkerCost:
    """`abm worker` on one partition pre-loaded with warm-up records, then `touchpoints`."""
    settings = env.settings(partitions=1)
    await ensure_topics(settings)
    resolved = RESOLVED.name(settings.topic_prefix)
    records = [*warm_up(touchpoints, WARM_UP_RECORDS), *touchpoints]
    await produce(
        settings,
        [t.to_json() for t in records],
        [account_key(t.account.account_id) for t in records],
        topic=resolved,
    )
    say(f"worker, one partition: {len(records):,} touchpoints pre-loaded")
    worker = Worker(settings, "worker-cost")
    try:
        await wait_caught_up(settings, settings.app_id, [resolved], timeout_s=3600)
        if not worker.alive():
            raise RuntimeError(f"worker died:\n{worker.tail()}")
    finally:
        worker.stop()
    changelog = f"{settings.app_id}-engagement-changelog"
    points: list[tuple[int, int]] = []
    sizes = {"largest": 0, "records": 0, "hot": 0}
    readable = [True]
    hot_key = account_key(HOT_ID)

    def visit_changelog(record: ConsumerRecord[Any, Any]) -> None:
        value = record.value or b""
        sizes["records"] += 1
        sizes["largest"] = max(sizes["largest"], len(value))
        if record.key != hot_key or not value:
            return
        sizes["hot"] = len(value)
        clock = getattr(AccountState.from_bytes(value), "clock_ms", None) if readable[0] else None
        if not isinstance(clock, int):
            readable[0] = False
            return
        points.append((record.timestamp, bisect.bisect_right(hot_times, clock)))

    await scan(settings, changelog, visit_changelog)
    largest: tuple[int, str] = (0, "")
    for topic in await worker_topics(settings, {resolved}):
        biggest = [0]

        def visit(record: ConsumerRecord[Any, Any], biggest: list[int] = biggest) -> None:
            biggest[0] = max(biggest[0], record_size(record))

        await scan(settings, topic, visit)
        largest = max(largest, (biggest[0], topic))
    ids = {i for i, v in (await mqa_times(settings)).items() if not v[0].startswith(WARM_UP)}
    return WorkerCost(
        points, sizes["largest"], sizes["hot"], sizes["records"], largest, ids, readable[0]
    )


@dataclass
class Paced:
    """One paced run: the other accounts' event -> MQA latencies (ms) and every MQA id."""

    latencies: list[float]
    mqas: set[str]
    sent: int
    send_seconds: float
    drain_seconds: float


async def paced_run(
    env: Services, touchpoints: list[Touchpoint], schedule: list[float], label: str
) -> Paced:
    """`abm worker` on 4 partitions while the touchpoints are produced at their scheduled
    seconds from the start, each with the ingest header set to its send time."""
    settings = env.settings()
    await ensure_topics(settings)
    resolved = RESOLVED.name(settings.topic_prefix)
    worker = Worker(settings, f"worker-{label}")
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )
    await producer.start()
    try:
        # warm-up: a page view of an account of its own, committed by the worker before timing
        # starts
        (warm,) = warm_up(touchpoints, 1)
        await (await producer.send(resolved, key=account_key(warm.account.account_id),
                                   value=warm.to_json()))  # fmt: skip
        await wait_caught_up(settings, settings.app_id, [resolved], timeout_s=300)
        say(f"{label}: {len(touchpoints):,} touchpoints over {schedule[-1]:.0f} s")
        started = time.monotonic()
        pending = []
        for touchpoint, due in zip(touchpoints, schedule, strict=True):
            ahead = due - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
            now_ms = str(int(time.time() * 1000)).encode()
            pending.append(
                await producer.send(
                    resolved,
                    key=account_key(touchpoint.account.account_id),
                    value=touchpoint.to_json(),
                    headers=[(HEADER_INGEST_MS, now_ms)],
                )
            )
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        sent_s = time.monotonic() - started
        await wait_caught_up(settings, settings.app_id, [resolved], timeout_s=3600)
        drained_s = time.monotonic() - started - sent_s
        if not worker.alive():
            raise RuntimeError(f"worker died:\n{worker.tail()}")
    finally:
        await producer.stop()
        worker.stop()
    found = {i: v for i, v in (await mqa_times(settings)).items() if not v[0].startswith(WARM_UP)}
    latencies = [
        float(emitted - ingest) for account, ingest, emitted in found.values() if account != HOT_ID
    ]
    return Paced(latencies, set(found), len(touchpoints), sent_s, drained_s)


def schedule_of(
    touchpoints: list[Touchpoint], start_ms: int, end_ms: int, seconds: float
) -> list[float]:
    """Send time of each touchpoint, seconds from the start: event time scaled into `seconds`."""
    span = max(1, end_ms - start_ms)
    return [max(0.0, (t.at_ms - start_ms) / span * seconds) for t in touchpoints]


def _latency(values: list[float]) -> str:
    if not values:
        return "no MQAs"
    return f"p50 {pct(values, 50):.0f} ms | p99 {pct(values, 99):.0f} ms (n={len(values)})"


async def run(config: HotConfig, seconds: float, pipeline: bool = True) -> dict[str, float]:
    started = time.monotonic()
    data: HotData = hot_data(config)
    model = load_model()
    reference: OfflineResult = run_offline(
        data.lines, InMemoryDirectory.of(data.accounts, data.contacts), model,
        keep_touchpoints=True,
    )  # fmt: skip
    touchpoints = reference.resolved
    hot = [t for t in touchpoints if t.account.account_id == HOT_ID]
    others = [t for t in touchpoints if t.account.account_id != HOT_ID]
    expected = {m["mqa_id"] for m in reference.mqas}
    expected_others = {m["mqa_id"] for m in reference.mqas if m["account"]["id"] != HOT_ID}
    say(
        f"hot account: {len(data.lines):,} messages, {len(touchpoints):,} touchpoints "
        f"({len(hot):,} hot), {len(expected)} MQAs ({time.monotonic() - started:.1f} s)"
    )
    say("pure core: apply on every touchpoint in order")
    core = core_cost(touchpoints, model)
    hot_times = [t.at_ms for t in hot]
    hot_offsets = [  # offsets in the one-partition run, behind the warm-up records
        WARM_UP_RECORDS + n for n, t in enumerate(touchpoints) if t.account.account_id == HOT_ID
    ]
    cost: WorkerCost | None = None
    base: Paced | None = None
    with_hot: Paced | None = None
    limit = DEFAULT_MESSAGE_MAX_BYTES
    if pipeline:
        with services() as env:
            settings = env.settings()
            limit = await message_max_bytes(settings)
            cost = await worker_cost(env, touchpoints, hot_times)
            start_ms = min(t.at_ms for t in touchpoints)
            end_ms = max(t.at_ms for t in touchpoints)
            base = await paced_run(
                env, others, schedule_of(others, start_ms, end_ms, seconds), "without-hot"
            )
            with_hot = await paced_run(
                env, touchpoints, schedule_of(touchpoints, start_ms, end_ms, seconds), "with-hot"
            )
    first, last = window_mean(core.stored_us, True), window_mean(core.stored_us, False)
    plain_first, plain_last = window_mean(core.plain_us, True), window_mean(core.plain_us, False)
    print(
        f"hot account ({len(hot):,} touchpoints of one tier-1 account over {config.days} days, "
        f"{config.visitors:,} visitors, {config.people} people; {len(others):,} touchpoints of "
        f"{config.others:,} other accounts)"
    )
    print("  a. cost per hot touchpoint, last 10% / first 10% (goal <= 1.5)")
    print(line("pure core, decode+apply+encode (cache miss)",
               f"{first:,.0f} -> {last:,.0f} us, {last / first:.2f}"))  # fmt: skip
    plain = f"{plain_first:,.0f} -> {plain_last:,.0f} us, {plain_last / plain_first:.2f}"
    print(line("pure core, apply on a kept state (cache hit)", plain))
    figures: dict[str, float] = {"core_ratio": last / first}
    if cost is not None:
        early = cost.per_record_us(hot_offsets, 0.0, 0.1)
        late = cost.per_record_us(hot_offsets, 0.9, 1.0)
        if early is not None and late is not None:
            print(line("worker, 1 partition, per input record",
                       f"{early:,.0f} -> {late:,.0f} us, {late / early:.2f}"))  # fmt: skip
            figures["worker_ratio"] = late / early
        else:
            why = "state clock unreadable" if not cost.clock_readable else "too few records"
            print(line("worker, 1 partition, per input record", f"n/a ({why})"))
    print("  b. largest stored state")
    print(line("pure core: largest / hot account's final",
               f"{core.largest_state:,} B / {core.hot_final_state:,} B"))  # fmt: skip
    if cost is not None:
        print(line("changelog: largest / hot account's last",
                   f"{cost.largest_changelog:,} B / {cost.hot_final_state:,} B "
                   f"({cost.changelog_records:,} records)"))  # fmt: skip
        print("  c. largest record the worker wrote, against the broker's message.max.bytes")
        size, topic = cost.largest_record
        print(line("largest record", f"{size:,} B of {limit:,} B ({size / limit:.1%}), {topic}"))
        print(line(f"no record came near the limit (< {NEAR_LIMIT:.0%})",
                   f"{size < NEAR_LIMIT * limit}"))  # fmt: skip
    if base is not None and with_hot is not None:
        print(f"  d. other accounts' event -> MQA, 4 partitions, replayed in {seconds:.0f} s")
        for label, run_ in (("without the hot account", base), ("with the hot account", with_hot)):
            rate = run_.sent / run_.send_seconds
            print(line(label, _latency(run_.latencies)))
            print(line("  sent; caught up after the last send",
                       f"{run_.sent:,} at {rate:,.0f}/s; {run_.drain_seconds:.1f} s"))  # fmt: skip
        if base.latencies and with_hot.latencies:
            for q in (50, 99):
                ratio = pct(with_hot.latencies, q) / max(1.0, pct(base.latencies, q))
                print(line(f"with / without, p{q}", f"{ratio:.2f}"))
    print("  e. MQAs against the in-memory reference")
    print(line("pure core", f"{core.mqas == expected} ({len(expected)})"))
    if cost is not None:
        print(line("worker, 1 partition, pre-loaded", f"{cost.mqas == expected}"))
    if base is not None and with_hot is not None:
        print(line("worker, paced, without the hot account",
                   f"{base.mqas == expected_others} ({len(expected_others)})"))  # fmt: skip
        print(line("worker, paced, with the hot account", f"{with_hot.mqas == expected}"))
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench hot-account", description=__doc__)
    parser.add_argument("--hot", type=int, default=100_000, help="touchpoints of the hot account")
    parser.add_argument("--others", type=int, default=1000, help="other accounts")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--visitors", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument(
        "--seconds", type=float, default=120.0, help="wall time of each paced replay (d)"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--core-only", action="store_true", help="only the pure-core figures (no broker)"
    )
    args = parser.parse_args(argv)
    config = HotConfig(
        hot=args.hot, others=args.others, days=args.days, visitors=args.visitors,
        people=args.people, seed=args.seed,
    )  # fmt: skip
    asyncio.run(run(config, args.seconds, pipeline=not args.core_only))


if __name__ == "__main__":
    main()
