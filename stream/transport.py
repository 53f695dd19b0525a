"""The worker's Faust app: what it changes of Faust's own (faust-streaming 0.15.3).

- While the app waits for its in-flight events to be acked (a stop, a rebalance), it runs the
  drain hooks (`App.while_draining`): the engagement agent writes its changed states there,
  which acks their events. Faust stops the app's timers before that wait on a stop.
- Faust's in-memory `Monitor` is no sensor (per-event statistics for pages this project does
  not serve).
- The agents take their events from their channels' queues in batches (`event_batches`),
  without Faust's per-event stream iteration, and ack a batch in one pass (`ack_events`).
- The topics' records become events without a serializer lookup (`RawSchema`): every topic of
  the worker holds bytes that the agents decode themselves.
- The conductor hands a raw topic's record to its one channel without Faust's general
  per-record path, and looks up a partition's handler without a lock nothing holds
  (`Conductor`, `raw_handler`).
- The Kafka client's fetch waits `App.fetch_wait_s` for idle partitions (`ConsumerThread`),
  where Faust has it wait 1.5 s.
- No fetched record is dropped around a rebalance's recovery: the set of active partitions is
  never false (`ActivePartitions`), the input partitions are held from the recovery's seek
  until the flow resumes (`Consumer.perform_seek`), and a partition without a committed
  offset is sought to its start (`ConsumerThread.seek_to_committed`).
- The consumer (`Consumer`, for `kafka://` brokers) runs Faust's fetch loop with its
  per-record steps inlined (`Consumer._drain_messages`), and hands a fetched record to the
  streams in the fetch loop itself when the hand-off does not wait, racing only the rest of
  one that waits against a flow suspension, with one task instead of mode's four
  (`first_step`, `race`).

Why the last one. Faust's fetch loop (`Consumer._drain_messages`) hands every record over as
`wait_first(callback(message), suspend_flow.wait())`. mode's `wait_first` makes a task of each
argument and of the consumer's stop and crash events, waits on the four with `asyncio.wait`,
and cancels the three losers: about 25 us per record, and a turn of the event loop. The race
exists so that a rebalance, which suspends the flow, can abandon a hand-off that waits (for
room in a full stream buffer, for the producer's buffer, for the app's flow control). Most
hand-offs wait for nothing: the conductor puts the event in the stream's queue and returns.
So this consumer runs the hand-off's first step in the fetch loop itself. When that step ends
it, the record was handed over as the race would have. When it waits, the rest (the suspended
coroutine, resumed where it stopped: `Rest`) goes into `race`, one task and one future that
the rest's end and the three events complete, with mode's outcomes: the hand-off's error
raised in the fetch loop, the hand-off cancelled when the flow is suspended or the consumer
stops or crashes first. Until 2026-12-07 (ninth run) this was an override of `wait_first`
under Faust's own loop; the loop itself now takes the steps (docs/benchmarks.md).

This hand-off was tried before (2026-12-07, sixth run) and withdrawn because restarted workers
stalled with it. The stall was the consumer losing records around the recovery's seek
(`ActivePartitions`, `Consumer.perform_seek`, `ConsumerThread.seek_to_committed`), which a
faster hand-off hit more often: docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from typing import Any, cast

import faust
from faust.assignor import PartitionAssignor
from faust.transport import conductor as faust_conductor
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as kafka_driver
from faust.types import TP, Message
from mode.services import WaitResults
from mode.utils.locks import Event as ModeEvent


class RawSchema(faust.Schema[bytes, bytes]):
    """Keys and values as the bytes Kafka holds, made into events directly.

    Faust's schema decodes each record through its serializer registry (a codec lookup for the
    key and the value, and `app.conf.Event` read through its settings registry), which for the
    `raw` codec and `bytes` types returns the bytes unchanged: this schema's events are equal
    to Faust's (tested), without the lookups.
    """

    def __init__(self) -> None:
        super().__init__(
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    def compile(self, app: Any, **kwargs: Any) -> Callable[..., Awaitable[Any]]:
        event_class = app.conf.Event

        async def decode(message: Message, *, propagate: bool = False) -> Any:
            return event_class(app, message.key, message.value, message.headers, message)

        return decode


Event = asyncio.Event | ModeEvent
"""The events a race watches: the consumer's flow suspension is asyncio's, its stop and crash
events are mode's; both wake the futures in their `_waiters` when set."""


async def race(handoff: Awaitable[Any], events: tuple[Event, ...]) -> WaitResults:
    """Run `handoff` in a task of its own until it ends or one of `events` is set, whichever
    comes first; a hand-off still running then is cancelled. An error of the hand-off is raised
    here. `stopped` in the result: an event other than the first (the flow suspension) was set.

    The outcome of mode's `Service.wait_first(handoff, events[0].wait())` on a service whose
    stop and crash events are `events[1:]`, with one task and one future instead of four tasks:
    the hand-off's task is made first and gets its first step before the race can end, even
    when an event is set already, as in mode's race.
    """
    loop = asyncio.get_running_loop()
    task = loop.create_task(_awaited(handoff))
    ended = loop.create_future()

    def end(_: object = None) -> None:
        if not ended.done():
            ended.set_result(None)

    task.add_done_callback(end)
    watched: list[Event] = []
    for event in events:
        if event.is_set():
            loop.call_soon(end)  # after the hand-off's first step, which is scheduled first
        else:
            event._waiters.append(ended)
            watched.append(event)
    try:
        await ended
    finally:
        for event in watched:
            with contextlib.suppress(ValueError):
                event._waiters.remove(ended)
        if not task.done():
            task.remove_done_callback(end)
            task.cancel()
    if task.done():
        if task.cancelled():
            raise asyncio.CancelledError()
        result = task.result()  # raises the hand-off's error
        return WaitResults([handoff], [result], _stopped(events))
    return WaitResults([], [], _stopped(events))


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _stopped(events: tuple[Event, ...]) -> bool:
    return any(event.is_set() for event in events[1:])


class ConsumerThread(kafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, its Kafka client's fetches held by the broker for at most the
    app's `fetch_wait_s` when their partitions have no new records.

    The client keeps one fetch request in flight per broker, and asks again for a partition
    only once its prefetched records are used up. During a backlog the busy partitions are
    still prefetched when the next request goes out, so it asks for the idle partitions only
    (the raw topic of a worker that has no new messages, the erasure commands), and the broker
    holds it until they get a record or the wait ends. The busy partitions, used up meanwhile,
    wait for it to come back: with Faust's 1.5 s the engagement agent sat idle for about half
    of a backlog (docs/benchmarks.md).
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        client = super()._create_worker_consumer(transport)
        # aiokafka 0.14 keeps the constructor's value here and hands it to its fetcher at start
        client._fetch_max_wait_ms = int(cast(App, self.app).fetch_wait_s * 1000)
        # Faust joins with aiokafka's round-robin assignor when the app has no table (a worker
        # of the `resolution` role), and the group refuses a member whose assignor differs
        # from the others' (InconsistentGroupProtocol): every worker joins with Faust's, which
        # also shares each topic among the members subscribed to it only.
        self._assignor = self.app.assignor
        client._partition_assignment_strategy = [self.app.assignor]
        return client

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed: Mapping[TP, int] = await self.call_thread(self._seek_to_committed_or_start)
        return committed

    async def _seek_to_committed_or_start(self) -> Mapping[TP, int]:
        """Each assigned partition back to its committed offset, and to its start when it has
        none (or 0), which aiokafka's `seek_to_committed` leaves where it is: records fetched
        before a rebalance's seek are read again, whether or not the group committed on that
        partition yet (see `Consumer.perform_seek`). Changelog partitions are left to the
        table's recovery, which reads them from its own offsets."""
        client = self._ensure_consumer()
        committed: dict[TP, int] = await client.seek_to_committed()
        is_changelog = self.consumer._is_changelog_tp
        unset = [tp for tp, offset in committed.items() if not offset and not is_changelog(tp)]
        for tp in unset:
            if committed[tp] == 0:
                client.seek(tp, 0)
        from_start = [tp for tp in unset if committed[tp] is None]
        if from_start:
            await client.seek_to_beginning(*from_start)
        return committed


class ActivePartitions(set[TP]):
    """The partitions the fetch loop takes records of, true even when empty.

    Faust hands this very set to the Kafka client's `fetched_records` as its filter, and the
    client reads an empty (false) filter as "every partition". A fetch waiting in the client
    while the set went empty (the recovery pauses the changelog partitions with the input
    partitions still paused; a seek holds the input partitions, `Consumer.perform_seek`) took
    the records of every partition, Faust's fetch loop dropped them as not active, and the
    client's position stayed beyond them: a restarted worker then took nothing of those
    partitions until its next restart.
    """

    def __bool__(self) -> bool:
        return True


class Consumer(kafka_driver.Consumer):
    """Faust's aiokafka consumer, its fetch loop inlined (`_drain_messages`), handing a record
    over in that loop itself and racing only a hand-off that waits (`first_step`, `race`; see
    the module's docstring), on `ConsumerThread`, its active partitions an
    `ActivePartitions`."""

    # Faust annotates a plain set (None before the first assignment); every set it stores here
    # becomes an ActivePartitions.
    @property  # type: ignore[override]
    def _active_partitions(self) -> ActivePartitions | None:
        return self.__dict__.get("_active_set")

    @_active_partitions.setter
    def _active_partitions(self, tps: set[TP] | None) -> None:
        self.__dict__["_active_set"] = None if tps is None else ActivePartitions(tps)

    def _new_consumer_thread(self) -> kafka_driver.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: set[TP] = set()
        """Input partitions whose records the fetch loop does not take, from a seek to the
        committed offsets until the flow resumes (`perform_seek`)."""

    async def perform_seek(self) -> None:
        """Seek every partition back to its committed offset (`ConsumerThread`), and take no
        record of the input partitions from then until the flow resumes (`resume_flow`).

        Faust's recovery resumes the input partitions, seeks them to their committed offsets,
        clears the streams' buffers (`flow_control.resume()`) and resumes the flow
        (`Recovery._resume_streams`), with turns of the event loop in between. A record handed
        over after its partition's seek and before the clear was cleared with the buffers,
        the consumer's position beyond it: the worker took nothing more of that partition
        until its next restart. `./dev.sh chaos` showed it as a worker restarted after a
        kill -9 that took no record, its positions past its committed offsets, nothing handed
        over or in flight (read from the live process; seed 20261222, twice). Records
        handed over before the seek are cleared too, and read again from the seek's offsets.
        """
        active = self._get_active_partitions()
        held = {tp for tp in active if not self._is_changelog_tp(tp)}
        active.difference_update(held)
        self._held |= held
        await super().perform_seek()

    def resume_flow(self) -> None:
        """Resume the flow, and the input partitions held since a seek (`perform_seek`): the
        streams' buffers were cleared just before (`Recovery._resume_streams`)."""
        super().resume_flow()
        if self._held:
            assigned = self.assignment()
            self._get_active_partitions().update(
                tp for tp in self._held if tp in assigned and tp not in self._paused_partitions
            )
            self._held.clear()

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop (`Consumer._drain_messages` over `Consumer.getmany`), the same
        steps in the same order, with the per-record generator, race and coroutines inlined:

        - wait for the flow, fetch (`_wait_next_records`); when the flow is not active, seek
          back to the committed offsets instead (`perform_seek`);
        - take the records in Faust's round-robin order over the partitions, stopping when the
          flow is suspended or the consumer generation changes, skipping the partitions that
          are not active (nor buffered); a turn of the event loop every 100 records;
        - a record below the partition's read offset is dropped; a gap above it is recorded
          for the acking topics (compacted input), the consumer commits every
          `_commit_every` acks when that is set, and the record is handed over: its first step
          here, the rest of one that waits raced against the flow's suspension and the
          consumer's stop and crash (`first_step`, `race`);
        - the partition's end offset is given to Faust's monitor once per partition per
          fetch, where Faust gives it once per record (it keeps only the latest).

        What that saves per record: an async generator step, the monitor's high-water lookup
        through the consumer thread, the flow suspension's `wait()` coroutine made for a race
        that mostly does not happen, the `wait_first` coroutine and its result.
        """
        deliver = self.callback  # the conductor's
        app = self.app
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        read_offset = self._read_offset
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = app.topics.acks_enabled_for
        to_message = self._to_message
        track_end_offset = app.monitor.track_tp_end_offset
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                await self.sleep(0)
                if self.should_stop:
                    continue
                records, active = await self._wait_next_records(1.0)
                generation_id = app.consumer_generation_id
                if records is None or self.should_stop:
                    unset_flag(CONSUMER_FETCHING)
                    continue
                if not self.flow_active:
                    self.log.dev("fetched while the flow is not active: seeking back")
                    try:
                        await self.perform_seek()
                    except Exception as exc:
                        self.log.warning(f"exception performing seek when flow not active {exc}")
                    unset_flag(CONSUMER_FETCHING)
                    continue
                ends_given: set[TP] = set()
                for tp, record in self.scheduler.iterate(records):
                    if not self.flow_active or app.consumer_generation_id != generation_id:
                        break
                    if (
                        active is not None
                        and tp not in active
                        and tp not in self._buffered_partitions  # reset on a restart
                    ):
                        continue
                    if tp not in ends_given:
                        ends_given.add(tp)
                        track_end_offset(tp, self.highwater(tp))
                    message = to_message(tp, record)
                    since_yield += 1
                    if since_yield > 100:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset = message.offset
                    last = read_offset[tp]
                    if last is not None and offset < last:
                        continue  # read already (Faust logs it at its `dev` level)
                    if last and offset - last > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, last + 1, offset)
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    rest, _ = first_step(deliver, message)
                    if rest is not None:  # it waits: raced against a suspension
                        await race(rest, (self.suspend_flow, self._stopped, self._crashed))
                    read_offset[tp] = offset
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


def first_step(
    deliver: Callable[[Message], Awaitable[Any]], message: Message
) -> tuple[Rest | None, Any]:
    """Run the hand-off of `message` (`deliver(message)`, the conductor's) up to its first
    wait, here, without a task: `(None, its result)` when it handed the record over without
    waiting, else `(the rest of it, None)`, for `race`. An error of that first step is raised
    here."""
    coroutine = deliver(message).__await__()
    try:
        waiting_for = coroutine.send(None)
    except StopIteration as stop:
        return None, stop.value
    return Rest(coroutine, waiting_for), None


class Rest:
    """The rest of a coroutine that was run up to its first suspension: awaiting this resumes it
    where it stopped, passing the awaiting task's wake-ups and cancellation through."""

    __slots__ = ("coroutine", "waiting_for")

    def __init__(self, coroutine: Generator[Any, Any, Any], waiting_for: Any) -> None:
        self.coroutine = coroutine
        self.waiting_for = waiting_for

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, waiting_for = self.coroutine, self.waiting_for
        while True:
            try:
                sent = yield waiting_for
            except BaseException as exc:  # the task was cancelled, or a thrown error
                try:
                    waiting_for = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting_for = coroutine.send(sent)
                except StopIteration as stop:
                    return stop.value


class Conductor(faust_conductor.Conductor):
    """Faust's conductor, which hands each fetched record to the channels of its topic, with
    two shortcuts on that per-record path (about a fifth of the worker's time taking records
    when its agents do nothing, py-spy):

    - a record whose topic has one channel, of `RawSchema` (every topic of the worker), is
      handed over by `raw_handler`;
    - the partition's handler is looked up without taking the handlers' lock when nothing
      holds it. Faust takes that lock for every record; only `_update_indices` holds it across
      an await, while it rebuilds the handlers. Taking a free lock does not yield, so looking
      up without it is the same unless it is held, when the lookup waits for it as Faust's.
    """

    def _compile_message_handler(self) -> Callable[[Message], Awaitable[None]]:
        if self.app.client_only:
            return cast(Callable[[Message], Awaitable[None]], super()._compile_message_handler())
        handlers = self._tp_to_callback
        lock = self._tp_to_callback_lock

        async def on_message(message: Message) -> None:
            if lock.locked():  # the handlers are being rebuilt
                async with lock:
                    handler = handlers[message.tp]
            else:
                handler = handlers[message.tp]
            await handler(message)

        return on_message

    def _build_handler(self, tp: TP, channels: Any) -> Any:
        faust_handler = super()._build_handler(tp, channels)
        if len(channels) == 1:
            (channel,) = channels
            if isinstance(getattr(channel, "schema", None), RawSchema):
                return raw_handler(self.app, tp, channels, channel, faust_handler)
        return faust_handler


def raw_handler(
    app: Any,
    tp: TP,
    channels: Any,
    channel: Any,
    faust_handler: Callable[[Message], Awaitable[None]],
) -> Callable[[Message], Awaitable[None]]:
    """Hand a record of `tp` to `channel`, the one channel of its topic, as Faust's handler
    (its compiled `ConductorHandler`, in faust-streaming's wheels, or the Python one of
    `faust.transport.conductor.ConductorCompiler`) does: wait while the flow is suspended (a
    rebalance) and while the producer's buffer is over its limit, count the channel's reference
    to the record, and put the record's event in the channel's queue, telling the consumer to
    stop fetching the partition when the queue is under pressure and to fetch it again when the
    pressure drops; a full queue is reported to the sensors and waited on.

    Without Faust's general per-record work: a coroutine per wait, per decode and per channel,
    the producer buffer's size read through the app's settings, the sets and lists made for
    several channels and their decode errors (a raw event is made without decoding, so it has
    none). `channels` is Faust's set for the partition: should it ever hold more than this one
    channel, the record goes through Faust's handler.
    """
    consumer = app.consumer
    flow_control = app.flow_control
    producer_buffer = app.producer.buffer
    threaded = bool(app.conf.producer_threaded)
    pending = producer_buffer.pending
    event_class = app.conf.Event
    on_topic_buffer_full = app.sensors.on_topic_buffer_full

    def on_pressure_high() -> None:
        on_topic_buffer_full(tp)
        consumer.on_buffer_full(tp)

    def on_pressure_drop() -> None:
        consumer.on_buffer_drop(tp)

    async def on_message(message: Message) -> None:
        if len(channels) != 1:
            await faust_handler(message)
            return
        if not flow_control.is_active():
            await flow_control.acquire()
        buffered = producer_buffer.size if threaded else pending.qsize()
        if buffered > producer_buffer.max_messages:
            await producer_buffer.wait_until_ebb()
        message.incref(1)
        event = event_class(app, message.key, message.value, message.headers, message)
        queue = channel.queue
        if queue.full():
            on_topic_buffer_full(tp)
            # in a task of its own, as Faust's: an abandoned hand-off still puts the event
            await asyncio.wait([asyncio.ensure_future(channel.put(event))])
            return
        queue.put_nowait_enhanced(
            event, on_pressure_high=on_pressure_high, on_pressure_drop=on_pressure_drop
        )

    return on_message


class Transport(kafka_driver.Transport):
    Consumer = Consumer
    Conductor = Conductor


async def event_batches(stream: Any, max_events: int, within_s: float) -> AsyncIterator[list[Any]]:
    """The stream's events in batches of at most `max_events`, none older than about
    `within_s` (seconds) when its batch is handed out, never acked here (the caller acks them
    with `ack_events` once their effects are written).

    What `Stream.noack_take` hands out, without iterating the stream: `noack_take` runs every
    event through the stream's own iteration in a background task (a turn of the event loop,
    a processor coroutine and the stream's bookkeeping per event) and waits for each batch in
    a race of tasks. Here a batch is taken from the channel's queue at once: the first event
    waited for, then whatever the queue holds up to `max_events`, after a wait for the rest of
    `within_s` since the last batch when it held fewer (an event that comes after a pause is
    handed out at once). Each event is checked as the stream's iteration checks it (Faust's
    `_prepare_event`): an event fetched before a rebalance (flow control suspended, or another
    consumer generation) is dropped, and the others are tracked as unacked, so a rebalance or
    a stop waits for their acks, and reported to the app's sensors if it has any. The batches
    end when the stream stops or its channel is ended.
    """
    app = stream.app
    channel = aiter(stream.channel)  # subscribes the topic, as iterating the stream does
    queue = channel.queue
    consumer = app.consumer
    unacked = consumer._unacked_messages
    acking_topics = app.topics._acking_topics
    flow_control = app.flow_control
    sensors = app.sensors
    on_message_in = sensors.on_message_in
    on_stream_event_in = sensors.on_stream_event_in
    loop = asyncio.get_running_loop()
    handed_out = loop.time()
    while not stream.should_stop:
        taken: list[Any] = []
        try:
            taken.append(await queue.get())
            # a batch is handed out at most every `within_s`, as noack_take's timer does
            left_s = within_s - (loop.time() - handed_out)
            if left_s > 0 and queue.qsize() + 1 < max_events:
                await asyncio.sleep(left_s)
            while len(taken) < max_events and not queue.empty():
                taken.append(queue.get_nowait())
        except StopAsyncIteration:  # how Faust ends a stream's channel (a stop)
            return
        events: list[Any] = []
        report = bool(sensors._sensors)  # the worker's app has none (see `ack_events`)
        for event in taken:
            message = event.message
            if not flow_control.is_active() or message.generation_id != app.consumer_generation_id:
                continue  # fetched before a rebalance: read again from the committed offset
            if not message.tracked and message.topic in acking_topics:
                message.tracked = True
                unacked.add(message)
                if report:
                    on_message_in(message.tp, message.offset, message)
            if report:
                on_stream_event_in(message.tp, message.offset, stream, event)
            events.append(event)
        if events:
            handed_out = loop.time()
            yield events


def ack_events(stream: Any, events: list[Any]) -> None:
    """`stream.ack(event)` for each of `events`, in one pass: the batches' events are acked
    once their effects are written, thousands per write.

    Faust's `Stream.ack` goes through `Event.ack` to `Message.ack` (the message's reference
    count, then the consumer's ack: the offset may be committed) and reports the event to the
    app's sensors, one coroutine per event. This does the same for each event without the
    coroutines, and asks the sensors only when the app has any (the worker has none: its
    metrics are Prometheus's, and Faust's monitor is no sensor, `App`)."""
    consumer = stream.app.consumer
    sensors = stream.app.sensors
    report = bool(sensors._sensors)
    for event in events:
        message = event.message
        last_stream_to_ack = message.ack(consumer)
        if report:
            sensors.on_stream_event_out(message.tp, message.offset, stream, event)
            if last_stream_to_ack:
                sensors.on_message_out(message.tp, message.offset, message)


class Assignor(PartitionAssignor):
    """Faust's assignor, telling the changelogs of the group's tables from the other topics by
    the app's `group_changelogs` as well as by its own tables.

    The group's leader tells every member which worker holds which changelog partition (the
    table routing of the account pages) and which the other topics (`_get_changelog_
    distribution`, `_get_external_topic_distribution`), knowing a changelog only by the
    leader's own tables. A worker of the `resolution` role has none, so when it led the group
    the account pages answered 503 on every worker (`tests/integration/stream/
    test_worker_roles.py`)."""

    def _changelogs(self) -> set[str]:
        return set(self._table_manager.changelog_topics) | cast(App, self.app).group_changelogs

    def _get_changelog_distribution(self, assignments: Any) -> Any:
        changelogs = self._changelogs()
        return {
            self._member_urls[client]: self._topics_filtered(assignment.actives, changelogs)
            for client, assignment in assignments.items()
        }

    def _get_external_topic_distribution(self, assignments: Any) -> Any:
        changelogs = self._changelogs()
        return {
            self._member_urls[client]: self._non_table_topics_filtered(
                assignment.actives, changelogs
            )
            for client, assignment in assignments.items()
        }


DRAIN_TICK_S = 0.1
"""How often the app's drain hooks run while it waits for its events to be acked (seconds)."""


class App(faust.App):
    """Faust's app with drain hooks, on `Transport` (see the module's docstring).

    Without Faust's in-memory `Monitor` among its sensors: the monitor keeps per-event
    statistics for Faust's own web pages, which this project does not serve (its metrics are
    Prometheus's, `stream.metrics`), at about 2% of the engagement worker's time. The monitor
    itself stays (the consumer reports commits to it).
    """

    fetch_wait_s: float = 1.5
    """Longest time the broker holds a fetch of partitions without new records (seconds;
    `ConsumerThread`); the worker sets its `ABM_FETCH_WAIT_S`, Faust's own is 1.5 s."""

    group_changelogs: frozenset[str] = frozenset()
    """The changelogs of every table of the consumer group, this worker's or not (`Assignor`);
    the worker sets them whatever its role."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, PartitionAssignor=Assignor, **kwargs)
        self.while_draining: list[Callable[[], Awaitable[None]]] = []
        """Called about every `DRAIN_TICK_S` while the app waits for its in-flight events to
        be acked (a stop, a rebalance): the engagement agent writes its changed states there,
        which acks them. Faust stops the app's timers before it waits on a stop, so without
        this a worker holding unwritten states waited for acks that never came."""

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        async def drain() -> None:
            while True:
                for hook in self.while_draining:
                    await hook()
                await asyncio.sleep(DRAIN_TICK_S)

        draining = asyncio.ensure_future(drain())
        try:
            await super()._consumer_wait_empty(consumer, logger)
        finally:
            draining.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await draining

    def on_init_dependencies(self) -> Any:
        dependencies = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        return dependencies

    def _new_transport(self) -> Any:
        """`Transport` for `kafka://` brokers; any other scheme gets Faust's own."""
        urls = self.conf.broker_consumer
        if urls[0].scheme == "kafka":
            return Transport(urls, self)
        return super()._new_transport()
