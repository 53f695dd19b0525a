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

When offsets are committed. The batches come from `stream.transport.event_batches` (what
Faust's `Stream.noack_take` hands out, without its per-event iteration): nothing acks these
events but this agent. A batch's events are acked (`ack_events`) only by the flush that writes
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import orjson
from faust.streams import _current_event

from abm.core.erasure import ErasureCommand, scrub
from abm.core.pseudonymize import pseudonymous_bytes
from abm.core.state import AccountState, StateVersionError
from abm.core.touchpoint import Touchpoint, pseudonymous
from abm.privacy.suppression import SuppressionList
from stream import metrics, topics
from stream.partitioning import partition_of
from stream.record_io import header, send_dead_letter, send_record
from stream.transport import ack_events, event_batches
from stream.write_behind import Applied, Item, StateCache, Unwritten, apply_batch

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)
STAGE = "engagement"
ERASURE_STAGE = "erasure"
FLUSH_SLICE = 250
"""States a write encodes before the agent gets a turn (about 25-35 ms of encoding), so an
MQA waits at most about that long behind a write of thousands of states."""


TICKS_PER_PERIOD = 10
"""How often the write timer looks whether a write is due, per the shorter of the flush
interval and the idle time (a check of two clocks; 20 a second with the defaults)."""


def register(pipe: Pipeline) -> None:
    settings = pipe.settings
    table = pipe.engagement_table
    cache = pipe.engagement_cache
    resolved_topic = pipe.topic_name(topics.RESOLVED)

    unwritten = Unwritten()
    streams: list[Any] = []  # the agent's stream, for acks from the flush timer
    secret = settings.pseudonym_secret()

    def load(item: Item) -> bytes | None:
        state = unwritten.state_of(item.key)
        if state is not None:  # changed but not yet written (the cache let it go)
            return state.to_bytes()
        return load_stored(item.key, item.event)

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
        if states:  # else only acks: a batch done after the write before took its states
            metrics.FLUSHES.inc()
            metrics.STATE_WRITES.inc(len(states))
        metrics.STATE_CACHE_ACCOUNTS.set(len(cache))
        ack_events(streams[0], events)

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

    async def flush_pending() -> None:
        """While the app drains (a stop or a rebalance): write whatever is done, at once."""
        if unwritten and not writer.locked():
            await flush()

    pipe.app.while_draining.append(flush_pending)

    # Faust's timer decorator is untyped; applied as a call, the function keeps its type.
    # Ticks at a tenth of the shorter period (50 ms with the defaults), so a write is at most
    # that late: the write after the input pauses, and with it the commit, comes about
    # `idle_s` after the last batch rather than up to half of `idle_s` later still.
    pipe.app.timer(interval=min(interval_s, idle_s) / TICKS_PER_PERIOD)(flush_when_due)

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

    @pipe.app.agent(pipe.erasure, name=f"{settings.app_id}-erasure")
    async def erasure(stream: Any) -> None:
        """`abm privacy forget`: remove the person from every account of the command's
        partition (the command is written to each partition; the topic is co-partitioned with
        the input, so the worker that owns the accounts gets it), then write the scrubbed
        states at once; the command is acked after that write."""
        async for event in stream.events():
            try:
                command = ErasureCommand.from_json(event.message.value or b"")
            except ValueError as exc:
                await send_dead_letter(pipe, event, ERASURE_STAGE, "bad_erasure", str(exc))
                continue
            partition = event.message.partition
            origin = ErasureOrigin(event, partition)
            wanted = set(command.pseudonyms)
            changed: dict[bytes, tuple[ErasureOrigin, AccountState]] = {}
            for key in _accounts_of(table, cache, unwritten, partition, settings.partitions):
                state = unwritten.state_of(key) or cache.peek(key)
                if state is None:
                    raw = load_stored(key, event)
                    state = AccountState.from_bytes(raw) if raw is not None else None
                if state is not None and scrub(state, wanted, secret, pipe.model):
                    changed[key] = (origin, state)
                    cache.put(key, partition, state)
            unwritten.add(changed)
            if changed:
                await flush()
            metrics.ERASURES.inc()
            metrics.ACCOUNTS_SCRUBBED.inc(len(changed))
            log.info("erasure %s applied to partition %d: %d account(s) scrubbed",
                     command.erasure_id, partition, len(changed))  # fmt: skip

    def load_stored(key: bytes, event: Any) -> bytes | None:
        """The stored state, converted first when an earlier version named persons in the
        clear (`abm.core.pseudonymize`): nothing this worker writes names them."""
        with current(event):
            stored: bytes | None = table.get(key)
        return pseudonymous_bytes(stored, secret, pipe.model) if stored else stored

    @pipe.app.agent(pipe.resolved, name=f"{settings.app_id}-engagement")
    async def engagement(stream: Any) -> None:
        streams[:] = [stream]
        async for events in event_batches(
            stream, settings.engagement_batch_size, settings.engagement_batch_wait_s
        ):
            if len(unwritten) + len(events) > cache.max_accounts:
                await flush()  # every unwritten state stays in the cache until written
            items = await _decode(pipe, events, secret)
            await pipe.suppression.refresh_or_keep()
            if pipe.suppression.active:
                items = _unsuppressed(items, pipe.suppression)
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


def _unsuppressed(items: list[Item], suppression: SuppressionList) -> list[Item]:
    """Drop the touchpoints of persons suppressed after the resolution agent let them through
    (a backlog of touchpoints.resolved), so an erased person does not come back."""
    kept = [item for item in items if not suppression.suppresses_contact(item.touchpoint.contact)]
    if len(kept) < len(items):
        metrics.SUPPRESSED.labels(stage=STAGE).inc(len(items) - len(kept))
    return kept


@dataclass(slots=True)
class ErasureOrigin:
    """An erasure command as the origin of the states it scrubbed (`write_behind.Origin`)."""

    event: Any
    partition: int


def _accounts_of(
    table: Any, cache: StateCache, unwritten: Unwritten, partition: int, partitions: int
) -> set[bytes]:
    """The accounts of an input partition this worker holds: in the table (its local store
    has the partitions it owns), in the cache and not yet written. An account's partition is
    the producer's default: murmur2 of its key, as the resolution agent sends it."""
    keys = {key for key in table if partition_of(key, partitions) == partition}
    keys.update(cache.keys_of(partition))
    keys.update(unwritten.keys_of(partition))
    return keys


async def _decode(pipe: Pipeline, events: list[Any], secret: bytes) -> list[Item]:
    """The batch's touchpoints, naming persons by pseudonym (a record of an earlier version,
    which named them in the clear, is converted); a record that is not one is dead-lettered."""
    items: list[Item] = []
    for event in events:
        try:
            touchpoint = pseudonymous(Touchpoint.from_json(event.message.value), secret)
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
    await send_record(
        pipe,
        pipe.topic_name(topics.MQA),
        event.message.key,
        orjson.dumps(outcome.mqa),
        [
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
        metrics.child(metrics.SCORED, outcome.activity.signal_class).inc()
        if not outcome.activity.known:
            metrics.UNKNOWN_EVENTS.inc()
    tier = applied.tier
    if outcome.first_engagement:
        metrics.FIRST_ENGAGEMENTS.labels(tier=tier).inc()
    if outcome.left_qualified:
        metrics.LEFT_QUALIFIED.labels(tier=tier).inc()
