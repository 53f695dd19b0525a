"""`abm state rebuild`: the engagement table computed again from touchpoints.resolved.

The way forward when the stored account states cannot be read (a state schema this engine does
not know, see `stream.schema`), or are damaged. With every worker stopped:

1. read touchpoints.resolved, partition by partition, from its beginning to its end at the
   start of the rebuild, and apply the core (`abm.core.engagement.apply`) per account in
   partition order, with the same `partition/offset` sources the worker uses, so the states are
   the ones the worker would have computed; no MQA is sent;
2. write each account's final state to the engagement changelog, in the partition of its
   input (the table is co-partitioned), and a tombstone for every changelog key of that
   partition the rebuild did not produce;
3. remove this machine's local table store (`ABM_TABLE_STORE=rocksdb://`) under the state dir,
   so the next worker recovers the table from the changelog (a store left on another machine
   still ends up right: it replays the changelog records newer than its own, which include
   every rebuilt state and tombstone);
4. commit the worker group's offsets on touchpoints.resolved at the ends it read, so the
   restarted worker neither applies those touchpoints again nor sends their MQAs again.

Memory: the decoded states of one partition's accounts at a time (about 3.4 x their stored
size). Touchpoints that are not valid JSON touchpoints were dead-lettered by the worker and are
skipped here too (counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import GroupCoordinatorNotAvailableError, TopicAlreadyExistsError
from aiokafka.structs import OffsetAndMetadata
from redis.exceptions import RedisError

from abm.core.engagement import apply
from abm.core.model import ScoringModel
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint, pseudonymous
from abm.plumbing.partition_reader import keyed_records
from abm.plumbing.redis_clients import open_suppression
from abm.plumbing.topics_admin import described_partitions
from abm.privacy.suppression import SuppressionList
from abm.settings import WorkerSettings
from stream import topics

_ACTIVE_STATES = frozenset({"Stable", "PreparingRebalance", "CompletingRebalance"})
_FETCH_TIMEOUT_MS = 1000


class RebuildError(RuntimeError):
    """The rebuild cannot run (workers still running, a topic missing); says what to do."""


@dataclass
class RebuildReport:
    partitions: int = 0
    touchpoints: int = 0
    skipped: int = 0
    """Records of touchpoints.resolved that are not touchpoints (dead-lettered by the worker)."""
    suppressed: int = 0
    """Touchpoints of persons on the suppression list (forgotten or objecting): left out."""
    accounts: int = 0
    tombstones: int = 0
    removed_store: list[Path] = field(default_factory=list)
    ends: dict[int, int] = field(default_factory=dict)
    """Committed offset per partition of touchpoints.resolved."""
    seconds: float = 0.0


class Progress:
    """One line on stderr about once a second: partition, records, records/s."""

    def __init__(self, out: TextIO | None, partitions: int, every_s: float = 1.0) -> None:
        self.out, self.partitions, self.every_s = out, partitions, every_s
        self.started = self.last = time.monotonic()

    def show(self, partition: int, done: int, end: int, total: int, force: bool = False) -> None:
        now = time.monotonic()
        if self.out is None or (not force and now - self.last < self.every_s):
            return
        self.last = now
        rate = total / max(now - self.started, 1e-6)
        self.out.write(
            f"rebuild: partition {partition + 1}/{self.partitions}: {done:,}/{end:,} records; "
            f"{total:,} in all, {rate:,.0f} records/s\n"
        )
        self.out.flush()


async def rebuild(
    settings: WorkerSettings,
    model: ScoringModel,
    table_dir: Path,
    progress: TextIO | None = sys.stderr,
) -> RebuildReport:
    """Rebuild the engagement table (see the module's docstring); `table_dir` is where the
    worker's local table store lives (Faust's tabledir)."""
    started = time.monotonic()
    bootstrap = settings.kafka_bootstrap_servers
    resolved = topics.RESOLVED.name(settings.topic_prefix)
    changelog = topics.engagement_changelog(settings.app_id)
    group = topics.engagement_group(settings.app_id)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await _refuse_running_workers(admin, group)
        partitions = await described_partitions(admin, resolved)
        if partitions is None:
            raise RebuildError(f"topic {resolved} does not exist: nothing to rebuild from")
        if await described_partitions(admin, changelog) is None:
            await _create_changelog(admin, changelog, len(partitions), settings)
    finally:
        await admin.close()

    suppression = open_suppression(settings)
    try:
        await suppression.refresh(force=True)
    except (RedisError, OSError) as exc:
        raise RebuildError(
            f"cannot read the suppression list from Redis at {settings.redis_url_redacted()} "
            f"({type(exc).__name__}): a rebuild without it would bring forgotten persons back"
        ) from None
    finally:
        await suppression.close()
    report = RebuildReport(partitions=len(partitions))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
    )  # fmt: skip
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_request_size=8 * 1024 * 1024
    )
    await consumer.start()
    await producer.start()
    try:
        input_tps = [TopicPartition(resolved, p) for p in partitions]
        ends = await consumer.end_offsets(input_tps)
        shown = Progress(progress, len(partitions))
        for tp in input_tps:
            states = await _apply_partition(
                consumer, tp, ends[tp], model, report, shown, suppression,
                settings.pseudonym_secret(),
            )  # fmt: skip
            old_keys = await _changelog_keys(consumer, TopicPartition(changelog, tp.partition))
            for key, state in states.items():
                await producer.send(changelog, key=key, value=state.to_bytes(),
                                    partition=tp.partition)  # fmt: skip
            for key in old_keys - states.keys():
                await producer.send(changelog, key=key, value=None, partition=tp.partition)
                report.tombstones += 1
            await producer.flush()
            report.accounts += len(states)
            report.ends[tp.partition] = ends[tp]
            del states
    finally:
        await producer.stop()
        await consumer.stop()
    report.removed_store = remove_local_store(table_dir)
    await _commit(bootstrap, group, resolved, report.ends)
    report.seconds = time.monotonic() - started
    return report


async def _refuse_running_workers(admin: AIOKafkaAdminClient, group: str) -> None:
    for attempt in range(50):  # a cluster's first group lookup creates its offsets topic
        try:
            [response] = await admin.describe_consumer_groups([group])
            break
        except GroupCoordinatorNotAvailableError:
            if attempt == 49:
                raise
            await asyncio.sleep(0.2)
    _, _, state, _, _, members = response.groups[0][:6]
    if str(state) in _ACTIVE_STATES or members:
        raise RebuildError(
            f"consumer group {group} has {len(members)} running member(s) ({state}): stop every "
            "`abm worker` of this app id first"
        )


async def _create_changelog(
    admin: AIOKafkaAdminClient, name: str, partitions: int, settings: WorkerSettings
) -> None:
    """As Faust creates it: compacted, co-partitioned with the input."""
    topic = NewTopic(name, num_partitions=partitions,
                     replication_factor=settings.replication_factor,
                     topic_configs={"cleanup.policy": "compact",
                                    **topics.changelog_configs(settings)})  # fmt: skip
    with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
        await admin.create_topics([topic])


async def _apply_partition(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    end: int,
    model: ScoringModel,
    report: RebuildReport,
    shown: Progress,
    suppression: SuppressionList,
    secret: bytes,
) -> dict[bytes, AccountState]:
    """The states of one partition's touchpoints, persons named by pseudonym (records of an
    earlier version, which named them in the clear, are converted as the worker converts
    them)."""
    states: dict[bytes, AccountState] = {}
    async for records, position in keyed_records(consumer, tp, end):
        for record in records:
            if record.value is None:
                continue
            try:
                touchpoint = pseudonymous(Touchpoint.from_json(record.value), secret)
            except (ValueError, KeyError, TypeError):
                report.skipped += 1
                continue
            if suppression.suppresses_contact(touchpoint.contact):
                report.suppressed += 1
                continue
            source = f"{tp.partition}/{record.offset}"
            states[record.key] = apply(states.get(record.key), touchpoint, model, source).state
            report.touchpoints += 1
        shown.show(tp.partition, min(position, end), end, report.touchpoints)
        await asyncio.sleep(0)
    shown.show(tp.partition, end, end, report.touchpoints, force=True)
    return states


async def _changelog_keys(consumer: AIOKafkaConsumer, tp: TopicPartition) -> set[bytes]:
    """The keys of a changelog partition whose latest record is a value (not a tombstone)."""
    live: set[bytes] = set()
    end = (await consumer.end_offsets([tp]))[tp]
    async for records, _ in keyed_records(consumer, tp, end):
        for record in records:
            if record.value is None:
                live.discard(record.key)
            else:
                live.add(record.key)
    return live


def remove_local_store(table_dir: Path) -> list[Path]:
    """Delete the engagement table's local partition stores (`engagement-<p>.db`)."""
    removed = []
    for path in sorted(table_dir.glob(f"{topics.ENGAGEMENT_TABLE}-*.db")):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(path)
    return removed


async def _commit(bootstrap: str, group: str, topic: str, ends: dict[int, int]) -> None:
    """The worker group's committed offsets on `topic`: where it goes on from."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        tps = {TopicPartition(topic, p): OffsetAndMetadata(end, "") for p, end in ends.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()
