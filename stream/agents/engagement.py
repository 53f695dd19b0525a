"""Engagement agent: touchpoints keyed by account -> account state in a table, MQA events out.

The whole business rule is `abm.core.engagement.apply`; this agent takes the touchpoints in
batches (`ABM_ENGAGEMENT_BATCH_SIZE`, `ABM_ENGAGEMENT_BATCH_WAIT_S`, at most 10 ms, so MQAs go
out at once), applies them in order through a bounded cache of decoded states
(`stream.write_behind`), sends the MQA events that fired, and writes the states it changed to
the changelog-backed table once per `ABM_ENGAGEMENT_FLUSH_INTERVAL_S` (10 s): one changelog
record per changed account per interval, however often the account was touched in it. When no
touchpoint arrived for `ABM_ENGAGEMENT_FLUSH_IDLE_S` (0.5 s) the states are written at once, so
a paused input (or a rebalance, which stops the input and waits for the acks) does not wait for
the interval.

When offsets are committed. The batches come from `Stream.noack_take`: the stream never acks
these events itself. A batch's events are acked (`stream.ack`) only by the flush that writes
the states they changed, and only once their MQA sends were handed to the producer (a table
write queues its changelog record in the producer's buffer; `await topic.send` returns once the
record is in the Kafka client's batch). Faust commits only acked offsets, and before committing
it flushes the producer (`Consumer._commit_offsets`), so a committed offset never covers a
state or an MQA that could still be lost. A crash loses at most the unwritten interval, whose
records are delivered again: the core's offset watermark turns records already in a written
state into duplicates, the others are applied again, and an MQA fires again with the same id.
The flush runs on a timer too, so states are written and offsets committed when the input is
idle, and during a rebalance (Faust waits for the in-flight events to be acked).

The write runs in a task of its own, one at a time, and gives the agent a turn every
`FLUSH_SLICE` states, so MQAs do not wait behind thousands of state encodings. A state changed
meanwhile is written as it is then: newer than the events the write acks, which is safe (the
offset watermark travels in the state). A state taken for writing stays readable from
`Unwritten` until it is in the table, should the cache let it go first.

Table writes and reads set Faust's current event to the account's record: the table sends the
changelog record to that record's partition (the table is co-partitioned with the input) and
the RocksDB store picks its partition database by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import orjson
from faust.streams import _current_event

from abm.core.state import StateVersionError
from abm.core.touchpoint import Touchpoint
from stream import metrics, topics
from stream.records import header, send_dead_letter
from stream.write_behind import Applied, Item, Unwritten, apply_batch

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)
STAGE = "engagement"
FLUSH_SLICE = 250
"""States a write encodes before the agent gets a turn (about 25-35 ms of encoding), so an
MQA waits at most about that long behind a write of thousands of states."""


def register(pipe: Pipeline) -> None:
    settings = pipe.settings
    table = pipe.engagement_table
    cache = pipe.engagement_cache
    resolved_topic = pipe.topic_name(topics.RESOLVED)

    unwritten = Unwritten()
    streams: list[Any] = []  # the agent's stream, for acks from the flush timer

    def load(item: Item) -> bytes | None:
        state = unwritten.state_of(item.key)
        if state is not None:  # changed but not yet written (the cache let it go)
            return state.to_bytes()
        with current(item.event):
            stored: bytes | None = table.get(item.key)
        return stored

    writer = asyncio.Lock()  # one write at a time

    async def flush() -> None:
        """Write every changed state, then ack the events whose effects are now written.

        Encoding thousands of states takes a while (about 0.1 ms each), so the write gives the
        agent a turn every `FLUSH_SLICE` states: batches that come meanwhile are applied and
        their MQAs sent. A state they change is written as it is at that moment, newer than
        the events acked here: what it holds beyond them is applied again after a crash and
        recognised as duplicates by the state's offset watermark."""
        async with writer:
            states, events = unwritten.take()
            try:
                for n, (key, (item, state)) in enumerate(states.items(), 1):
                    with current(item.event):
                        table[key] = state.to_bytes()
                    if not n % FLUSH_SLICE:
                        await asyncio.sleep(0)
            finally:
                unwritten.written()
        metrics.FLUSHES.inc()
        metrics.STATE_WRITES.inc(len(states))
        metrics.STATE_CACHE_ACCOUNTS.set(len(cache))
        for event in events:
            await streams[0].ack(event)

    interval_s = settings.engagement_flush_interval_s
    idle_s = settings.engagement_flush_idle_s

    async def flush_when_due() -> None:
        if unwritten.due(interval_s, idle_s) and not writer.locked():
            await flush()

    background: set[asyncio.Future[None]] = set()  # kept referenced until done

    def start_flush() -> None:
        """Write in a task of its own, so the agent goes on with the next batch meanwhile."""
        if writer.locked():
            return  # the write in progress is followed by the next due one
        task = asyncio.ensure_future(flush())
        background.add(task)
        task.add_done_callback(flush_done)

    def flush_done(task: asyncio.Future[None]) -> None:
        background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # its events stay unacked, so nothing would be committed again: stop loudly
            log.error("writing the account states failed: %r", task.exception())
            crash = asyncio.ensure_future(pipe.app.crash(cast(BaseException, task.exception())))
            background.add(crash)
            crash.add_done_callback(background.discard)

    # Faust's timer decorator is untyped; applied as a call, the function keeps its type.
    # Ticks at half the shorter period, so a write is at most that late.
    pipe.app.timer(interval=min(interval_s, idle_s) / 2)(flush_when_due)

    def drop_revoked(app: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Sent by Faust once the in-flight batch was acked (`App._on_partitions_revoked`):
        another worker may own these accounts next, so their cached states could go stale."""
        moved = {tp.partition for tp in args[0] if tp.topic == resolved_topic}
        cache.drop_partitions(moved)
        unwritten.drop_partitions(moved)  # the next owner applies them again

    def drop_assigned(app: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Assigned partitions come with the states the table recovers, which another worker
        may have changed since this one cached them."""
        cache.drop_partitions(tp.partition for tp in args[0] if tp.topic == resolved_topic)

    async def check_recovered_states() -> None:
        pipe.state_guard.check(table.values())

    table.on_recover(check_recovered_states)  # after recovery, before any input is resumed

    # mode's handler type names its signal parameter by a string mypy cannot match
    pipe.app.on_partitions_revoked.connect(cast(Any, drop_revoked))
    pipe.app.on_partitions_assigned.connect(cast(Any, drop_assigned))

    @pipe.app.agent(pipe.resolved, name=f"{settings.app_id}-engagement")
    async def engagement(stream: Any) -> None:
        streams[:] = [stream]
        async for events in stream.noack_take(
            settings.engagement_batch_size, within=settings.engagement_batch_wait_s
        ):
            if len(unwritten) + len(events) > cache.max_accounts:
                await flush()  # every unwritten state stays in the cache until written
            items = await _decode(pipe, events)
            try:
                result = apply_batch(items, pipe.model, cache, load)
            except StateVersionError as exc:
                pipe.state_guard.refuse(exc)  # stops the worker; this batch is never acked
                return
            unwritten.add(result.changed)
            metrics.ENGAGEMENT_BATCHES.inc()
            for item, error in result.failed:
                await send_dead_letter(pipe, item.event, STAGE, "internal_error", repr(error))
            for applied in result.applied:
                if applied.outcome.mqa is not None:
                    await _send_mqa(pipe, applied)
                _count(applied)
            unwritten.done(events)
            if unwritten.age_s() >= interval_s:
                start_flush()


async def _decode(pipe: Pipeline, events: list[Any]) -> list[Item]:
    """The batch's touchpoints; a record that is not one is dead-lettered."""
    items: list[Item] = []
    for event in events:
        try:
            touchpoint = Touchpoint.from_json(event.message.value)
        except (ValueError, KeyError, TypeError) as exc:
            await send_dead_letter(pipe, event, STAGE, "bad_touchpoint", repr(exc))
            continue
        message = event.message
        items.append(Item(event, message.key, message.partition, message.offset, touchpoint))
    return items


@contextlib.contextmanager
def current(event: Any) -> Iterator[None]:
    """Make `event` Faust's current event for a table read or write outside stream iteration
    (the batch is applied after its events went by)."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


async def _send_mqa(pipe: Pipeline, applied: Applied) -> None:
    outcome, event = applied.outcome, applied.item.event
    assert outcome.mqa is not None
    now_ms = int(time.time() * 1000)
    ingest = header(event, topics.HEADER_INGEST_MS)
    await pipe.mqa.send(
        key=event.message.key,
        value=orjson.dumps(outcome.mqa),
        headers=[
            (topics.HEADER_INGEST_MS, (ingest or str(now_ms)).encode()),
            (topics.HEADER_EMITTED_MS, str(now_ms).encode()),
        ],
    )
    if not outcome.new_mqa:
        metrics.MQA_REEMITTED.inc()
        return
    tier = applied.tier
    metrics.MQAS.labels(tier=tier, rule=outcome.mqa["rule"]).inc()
    if ingest is not None:
        metrics.EVENT_TO_MQA.observe(max(0.0, (now_ms - int(ingest)) / 1000))
    engaged = outcome.mqa.get("engaged_to_mqa_seconds")
    if engaged is not None:
        metrics.ENGAGED_TO_MQA.labels(tier=tier).observe(engaged)
    log.info("MQA %s for account %s (%s)", outcome.mqa["mqa_id"], outcome.state.account.account_id,
             outcome.mqa["rule"])  # fmt: skip


def _count(applied: Applied) -> None:
    outcome = applied.outcome
    if outcome.duplicate:
        metrics.DUPLICATES.inc()
        return
    if outcome.too_late:
        metrics.TOO_LATE.inc()
        return
    if outcome.activity is not None:
        metrics.SCORED.labels(signal_class=outcome.activity.signal_class).inc()
        if not outcome.activity.known:
            metrics.UNKNOWN_EVENTS.inc()
    tier = applied.tier
    if outcome.first_engagement:
        metrics.FIRST_ENGAGEMENTS.labels(tier=tier).inc()
    if outcome.left_qualified:
        metrics.LEFT_QUALIFIED.labels(tier=tier).inc()
