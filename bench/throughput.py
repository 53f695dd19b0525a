"""Figure 1: pipeline throughput against the ceiling of a plain aiokafka consumer.

The raw topic is pre-loaded with simulated traffic. The ceiling is a bare aiokafka consumer that
only reads and JSON-decodes that topic. The pipeline is `abm worker` (resolution + engagement +
MQA rule) from offset 0 until its consumer group has committed everything; its busy time is read
from Kafka itself: from the first record it wrote (resolved, unresolved, dead letter or
changelog) to the last one, so worker start-up and the commit interval do not count. Then the
same data (in fresh topics) through one worker of each role (`abm worker --role resolution` and
`--role engagement`, one consumer group): two processes, where the one worker uses one core.

Also printed: the Redis server's read events (about one per round trip the worker waited for)
and commands during the pipeline run, per 1,000 messages (from Redis's `INFO stats`). With
`--redis-rtt-ms` the worker reaches Redis through a relay that adds that much to every round
trip (`bench.delay_relay`), as a Redis on another host would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition

from abm.infra.process import free_port
from abm.plumbing.consumer_lag import wait_caught_up
from abm.plumbing.topics_admin import partitions_of
from abm_cli.settings import Settings
from bench.common import (
    Dataset,
    Services,
    Worker,
    at_end,
    dataset,
    line,
    mqa_ids,
    prepare,
    read_values,
    say,
    seek_start,
    services,
    topic_times,
)
from bench.delay_relay import DelayRelay
from stream.topics import DEAD_LETTER, MQA, RAW, RESOLVED, UNRESOLVED


@dataclass
class PipelineRun:
    messages: int
    seconds: float
    mqa_ids: set[str]
    changelog_records: int
    redis_reads: int
    """Read events of the Redis server while the worker ran (about one per round trip)."""
    redis_commands: int
    """Commands the Redis server processed meanwhile."""

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def ceiling(settings: Settings) -> tuple[int, float]:
    """Messages/s of a consumer that only reads and decodes the raw topic."""
    name = RAW.name(settings.topic_prefix)
    partitions = await partitions_of(settings.kafka_bootstrap_servers, [name])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.app_id}-ceiling",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(name, p) for p in partitions[name]]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await seek_start(consumer, tps)
        count, started = 0, 0.0
        while not await at_end(consumer, ends):
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                if records and not started:
                    started = time.monotonic()
                for record in records:
                    with contextlib.suppress(orjson.JSONDecodeError):
                        orjson.loads(record.value)
                    count += 1
        return count, time.monotonic() - started
    finally:
        await consumer.stop()


async def redis_counts(url: str) -> tuple[int, int]:
    """The Redis server's counts of read events and of commands so far (`INFO stats`)."""
    client = aioredis.Redis.from_url(url)
    try:
        stats = await client.info("stats")
    finally:
        await client.aclose()
    return int(stats["total_reads_processed"]), int(stats["total_commands_processed"])


ONE_WORKER: tuple[str, ...] = ("all",)
ONE_PER_ROLE: tuple[str, ...] = ("resolution", "engagement")
"""A worker of each role (`ABM_WORKER_ROLE`): two processes, so two cores."""


async def pipeline(
    services_: Services,
    settings: Settings,
    roles: Sequence[str] = ONE_WORKER,
    redis_rtt_ms: float = 0.0,
) -> PipelineRun:
    """Workers of the given roles (one per entry) over the pre-loaded raw topic; with
    `redis_rtt_ms`, reaching Redis through a relay that adds that much to each round trip."""
    prefix = settings.topic_prefix
    reads_before, commands_before = await redis_counts(services_.redis.url)
    if redis_rtt_ms > 0:
        with DelayRelay(services_.redis.port, redis_rtt_ms / 1000) as relay_port:
            relayed = f"redis://127.0.0.1:{relay_port}/0"
            await _run_workers(settings.model_copy(update={"redis_url": relayed}), roles)
    else:
        await _run_workers(settings, roles)
    reads_after, commands_after = await redis_counts(services_.redis.url)
    raw_count, _, _ = await topic_times(settings, RAW.name(prefix))
    firsts, lasts = [], []
    changelog = f"{settings.app_id}-engagement-changelog"
    changelog_records = 0
    for topic in (RESOLVED, UNRESOLVED, DEAD_LETTER, MQA):
        count, first, last = await topic_times(settings, topic.name(prefix))
        if count:
            firsts.append(first)
            lasts.append(last)
    count, first, last = await topic_times(settings, changelog)
    changelog_records = count
    firsts.append(first)
    lasts.append(last)
    seconds = (max(lasts) - min(firsts)) / 1000
    ids = mqa_ids(await read_values(settings, MQA.name(prefix)))
    return PipelineRun(
        raw_count,
        seconds,
        ids,
        changelog_records,
        reads_after - reads_before,
        commands_after - commands_before,
    )


async def _run_workers(settings: Settings, roles: Sequence[str]) -> None:
    """Run a worker of each of `roles` until their group has committed everything."""
    prefix = settings.topic_prefix
    running = [
        Worker(
            settings.model_copy(
                update={
                    "web_port": free_port(),
                    "state_dir": settings.state_dir / f"w{n}",
                    "worker_role": role,
                }
            ),
            f"worker-{n}-{role}",
        )
        for n, role in enumerate(roles)
    ]
    try:
        await wait_caught_up(
            settings, settings.app_id, [RAW.name(prefix), RESOLVED.name(prefix)], timeout_s=1800
        )
        for worker in running:
            if not worker.alive():
                raise RuntimeError(f"worker died:\n{worker.tail()}")
    finally:
        for worker in running:
            worker.stop()


async def run(
    accounts: int, days: int, compare: bool, redis_rtt_ms: float = 0.0
) -> dict[str, float]:
    data: Dataset = dataset(accounts, days)
    expected = {m["mqa_id"] for m in data.reference.mqas}
    with services() as env:
        settings = env.settings()
        await prepare(settings, data)
        say("ceiling: plain aiokafka consumer, read + decode")
        count, seconds = await ceiling(settings)
        ceiling_rate = count / seconds
        say("pipeline: abm worker")
        result = await pipeline(env, settings, redis_rtt_ms=redis_rtt_ms)
        say("pipeline: abm worker --role resolution, abm worker --role engagement")
        per_role_settings = env.settings()
        await prepare(per_role_settings, data)
        per_role = await pipeline(env, per_role_settings, ONE_PER_ROLE, redis_rtt_ms)
        before: PipelineRun | None = None
        if compare:
            say("pipeline, one message at a time (resolution batch 1, no producer linger)")
            unbatched = env.settings(resolution_batch_size=1, producer_linger_s=0.0)
            await prepare(unbatched, data)
            before = await pipeline(env, unbatched, redis_rtt_ms=redis_rtt_ms)
    print(f"throughput ({result.messages} messages pre-loaded in the raw topic, 4 partitions, "
          "1 worker)")  # fmt: skip
    print(line("ceiling: aiokafka read + decode", f"{ceiling_rate:,.0f} msg/s"))
    print(line("pipeline: resolution + engagement + MQA", f"{result.rate:,.0f} msg/s"))
    print(line("  busy time (first output to last)", f"{result.seconds:.2f} s"))
    print(line("pipeline / ceiling", f"{result.rate / ceiling_rate:.4f}"))
    if redis_rtt_ms > 0:
        print(line("  Redis reached through a relay adding", f"{redis_rtt_ms:g} ms per round trip"))
    print(
        line(
            "  Redis read events per 1,000 messages",
            f"{_per_1000(result.redis_reads, result):,.0f}",
        )
    )
    print(
        line(
            "  Redis commands per 1,000 messages",
            f"{_per_1000(result.redis_commands, result):,.0f}",
        )
    )
    print(line("pipeline, one worker per role (2 processes)", f"{per_role.rate:,.0f} msg/s"))
    print(line("  busy time (first output to last)", f"{per_role.seconds:.2f} s"))
    print(line("  one worker per role / ceiling", f"{per_role.rate / ceiling_rate:.4f}"))
    print(line("  one worker per role / one worker", f"{per_role.rate / result.rate:.2f}"))
    print(line("MQAs, same as the in-memory reference", f"{len(result.mqa_ids)}, "
               f"{result.mqa_ids == expected}"))  # fmt: skip
    print(line("  one worker per role: the same", f"{per_role.mqa_ids == expected}"))
    figures = {"pipeline": result.rate, "ceiling": ceiling_rate, "per_role": per_role.rate}
    if before is not None:
        print(line("before: one message at a time", f"{before.rate:,.0f} msg/s"))
        print(line("after / before", f"{result.rate / before.rate:.2f}"))
        print(line("before: MQAs same as the reference", f"{before.mqa_ids == expected}"))
        figures["before"] = before.rate
    return figures


def _per_1000(count: int, run: PipelineRun) -> float:
    return 1000 * count / run.messages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench throughput", description=__doc__)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run the worker one message at a time (before the batching fix)",
    )
    parser.add_argument(
        "--redis-rtt-ms",
        type=float,
        default=0.0,
        help="reach Redis through a relay adding this much to every round trip, as a Redis on "
        "another host (milliseconds; default 0, the loopback Redis directly)",
    )
    args = parser.parse_args(argv)
    if args.redis_rtt_ms < 0:
        parser.error(f"--redis-rtt-ms: a round trip cannot take {args.redis_rtt_ms} ms")
    asyncio.run(run(args.accounts, args.days, args.compare, args.redis_rtt_ms))


if __name__ == "__main__":
    main()
