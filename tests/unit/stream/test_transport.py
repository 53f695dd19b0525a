"""The worker's Faust app: drain hooks while it waits for acks, no in-memory Monitor, the fetch
loop's per-record race with one task (the same outcomes as mode's race, which each test runs
too), and raw events made without Faust's serializer registry.

Real Faust objects (app, consumer), no broker: a race is decided before anything is fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, cast

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.transport import conductor as faust_conductor
from faust.transport.drivers import aiokafka as kafka_driver
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage
from mode.services import WaitResults

from abm.core.model import load_model
from abm_cli.settings import Settings
from stream import topics
from stream.app import create_app
from stream.topics import engagement_changelog
from stream.transport import (
    ActivePartitions,
    App,
    Assignor,
    Conductor,
    Consumer,
    ConsumerThread,
    RawSchema,
    Transport,
    ack_events,
    event_batches,
    first_step,
    race,
)

TOPIC = "touchpoints"
ROUTED = TP(TOPIC, 0)


@pytest.fixture
def app(tmp_path: Path) -> App:
    return App("transport-test", broker="kafka://127.0.0.1:9", datadir=str(tmp_path))


def message(offset: int = 0) -> Message:
    return Message(TOPIC, 0, offset, 0.0, 0, None, b"k", b"v", None, tp=ROUTED)


@dataclass
class Deliverer:
    """A conductor callback that may wait for `gate` (when one is set), and records its steps
    and the task each ran in."""

    gate: asyncio.Event | None = None
    fail_at: str | None = None
    steps: list[tuple[str, asyncio.Task[Any] | None]] = field(default_factory=list)

    async def deliver(self, message: Message) -> str:
        self.step("started")
        if self.gate is not None:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.step("cancelled")
                raise
        self.step("delivered")
        return "handed over"

    def step(self, name: str) -> None:
        self.steps.append((name, asyncio.current_task()))
        if name == self.fail_at:
            raise RuntimeError(name)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.steps]


async def rebalanced(tps: Any) -> None:
    """Rebalances do not happen here."""


Race = Callable[[Consumer, Message], Awaitable[WaitResults]]


async def ours(consumer: Consumer, record: Message) -> WaitResults:
    """What the fetch loop does with each record (`Consumer._drain_messages`)."""
    rest, result = first_step(consumer.callback, record)
    if rest is None:
        return WaitResults([cast(Any, record)], [result], False)
    return await race(rest, (consumer.suspend_flow, consumer._stopped, consumer._crashed))


async def modes(consumer: Consumer, record: Message) -> WaitResults:
    """The same with Faust's consumer: mode's race over the callback itself."""
    deliver = consumer.deliver_for_test  # type: ignore[attr-defined]
    return await kafka_driver.Consumer.wait_first(
        consumer, deliver(record), consumer.suspend_flow.wait()
    )


RACES = pytest.mark.parametrize("hand_off", [ours, modes], ids=["ours", "modes"])


def consumer_for(app: App, deliverer: Deliverer) -> Consumer:
    consumer = app.transport.create_consumer(
        callback=deliverer.deliver,
        on_partitions_revoked=rebalanced,
        on_partitions_assigned=rebalanced,
    )
    assert isinstance(consumer, Consumer)
    consumer.deliver_for_test = deliverer.deliver  # type: ignore[attr-defined]
    return consumer


async def waiters(consumer: Consumer) -> int:
    """Futures left waiting on the events a race watches once the race is over (each race must
    take its own back; mode's cancelled tasks take theirs a turn later)."""
    await asyncio.sleep(0)
    events = (consumer.suspend_flow, consumer._stopped, consumer._crashed)
    return sum(len(event._waiters) for event in events)


async def started(
    hand_off: Race, app: App, deliverer: Deliverer
) -> tuple[Consumer, asyncio.Future[WaitResults]]:
    """A hand-off of one record started in a task of its own, given time to reach its wait."""
    consumer = consumer_for(app, deliverer)
    handing = asyncio.ensure_future(hand_off(consumer, message()))
    await asyncio.sleep(0.05)
    return consumer, handing


def test_the_worker_runs_on_this_transport() -> None:
    pipe = create_app(Settings(), load_model())
    assert isinstance(pipe.app, App)
    assert isinstance(pipe.app.transport, Transport)
    assert pipe.app.transport.Consumer is Consumer


async def test_a_hand_off_that_does_not_wait_runs_in_the_fetch_loop_itself(app: App) -> None:
    """No task and no turn of the event loop for a record the conductor takes at once (mode's
    race makes four tasks for it)."""
    deliverer = Deliverer()
    consumer = consumer_for(app, deliverer)
    tasks_before = len(asyncio.all_tasks())
    results = await ours(consumer, message())
    assert deliverer.steps == [
        ("started", asyncio.current_task()),
        ("delivered", asyncio.current_task()),
    ]
    assert len(asyncio.all_tasks()) == tasks_before
    assert results.results == ["handed over"] and not results.stopped
    assert await waiters(consumer) == 0


async def test_the_rest_of_a_hand_off_that_waits_runs_in_the_race(app: App) -> None:
    deliverer = Deliverer(gate=asyncio.Event())
    _, handing = await started(ours, app, deliverer)
    assert deliverer.gate is not None
    deliverer.gate.set()
    await asyncio.wait_for(handing, timeout=5)
    (_, started_in), (_, delivered_in) = deliverer.steps
    assert started_in is handing  # the fetch loop's task
    assert delivered_in is not handing  # the race's


@RACES
async def test_a_hand_off_that_waits_is_waited_for(app: App, hand_off: Race) -> None:
    deliverer = Deliverer(gate=asyncio.Event())
    consumer, handing = await started(hand_off, app, deliverer)
    assert deliverer.names == ["started"]
    assert not handing.done()
    assert deliverer.gate is not None
    deliverer.gate.set()
    results = await asyncio.wait_for(handing, timeout=5)
    assert deliverer.names == ["started", "delivered"]
    assert results.results == ["handed over"] and not results.stopped
    assert await waiters(consumer) == 0


@RACES
@pytest.mark.parametrize("event", ["suspend_flow", "_stopped", "_crashed"])
async def test_a_suspended_flow_a_stop_or_a_crash_abandons_a_waiting_hand_off(
    app: App, hand_off: Race, event: str
) -> None:
    """What the race is for: a rebalance suspends the flow, the fetch loop goes on and the
    waiting hand-off is cancelled; so too when the consumer stops or crashes."""
    deliverer = Deliverer(gate=asyncio.Event())
    consumer, handing = await started(hand_off, app, deliverer)
    getattr(consumer, event).set()
    results = await asyncio.wait_for(handing, timeout=5)
    await asyncio.sleep(0)
    assert deliverer.names == ["started", "cancelled"]
    assert results.done == [] or results.results != ["handed over"]
    assert results.stopped is (event != "suspend_flow")
    assert await waiters(consumer) == 0


@RACES
async def test_a_hand_off_raced_against_a_suspended_flow_gets_its_first_step(
    app: App, hand_off: Race
) -> None:
    """The flow was suspended before the record came up: the hand-off starts anyway and is
    cancelled at its first wait, as in mode's race."""
    deliverer = Deliverer(gate=asyncio.Event())
    consumer = consumer_for(app, deliverer)
    consumer.suspend_flow.set()
    await asyncio.wait_for(hand_off(consumer, message()), timeout=5)
    await asyncio.sleep(0)
    assert deliverer.names == ["started", "cancelled"]


@RACES
@pytest.mark.parametrize("fail_at", ["started", "delivered"])
async def test_an_error_of_the_hand_off_reaches_the_fetch_loop(
    app: App, hand_off: Race, fail_at: str
) -> None:
    gate = asyncio.Event()
    deliverer = Deliverer(gate=gate, fail_at=fail_at)
    consumer, handing = await started(hand_off, app, deliverer)
    gate.set()
    with pytest.raises(RuntimeError, match=fail_at):
        await asyncio.wait_for(handing, timeout=5)
    assert await waiters(consumer) == 0


@RACES
async def test_a_cancelled_fetch_loop_cancels_its_hand_off(app: App, hand_off: Race) -> None:
    deliverer = Deliverer(gate=asyncio.Event())
    consumer, handing = await started(hand_off, app, deliverer)
    handing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handing
    await asyncio.sleep(0)
    assert deliverer.names == ["started", "cancelled"]
    assert await waiters(consumer) == 0


@pytest.mark.parametrize(
    ("key", "value", "headers"),
    [(b"acct-1", b'{"a": 1}', [("h", b"1")]), (None, None, []), (b"", b"", None)],
)
async def test_the_raw_schema_makes_the_events_fausts_schema_makes(
    app: App, key: bytes | None, value: bytes | None, headers: Any
) -> None:
    record = Message(TOPIC, 0, 3, 0.0, 0, headers, key, value, None, tp=ROUTED)
    fausts = app.topic(
        TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    ours = app.topic(TOPIC, schema=RawSchema())
    expected = await fausts.decode(record, propagate=True)
    event = await ours.decode(record, propagate=True)
    assert type(event) is type(expected)
    assert (event.key, event.value, event.headers, event.message) == (
        expected.key, expected.value, expected.headers, expected.message,
    )  # fmt: skip
    assert (ours.key_type, ours.value_type) == (bytes, bytes)


def test_the_workers_topics_use_the_raw_schema() -> None:
    pipe = create_app(Settings(), load_model())
    for topic in (pipe.raw, pipe.resolved, pipe.erasure):
        assert isinstance(topic.schema, RawSchema)


def test_fausts_monitor_is_no_sensor(tmp_path: Path) -> None:
    app = App("monitor-test", broker="kafka://127.0.0.1:9", datadir=str(tmp_path))
    app.on_init_dependencies()
    assert app.monitor not in set(app.sensors)


class Draining:
    """A consumer whose in-flight events are acked only by what the drain hooks write."""

    def __init__(self) -> None:
        self.acked = asyncio.Event()

    async def wait_empty(self) -> None:
        await self.acked.wait()


async def test_the_drain_hooks_run_until_the_in_flight_events_are_acked(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path), load_model()).app
    consumer: Any = Draining()
    calls: list[int] = []

    async def write_and_ack() -> None:
        calls.append(1)
        if len(calls) == 3:  # the agent finished its last batch meanwhile
            consumer.acked.set()

    app.while_draining[:] = [write_and_ack]
    await asyncio.wait_for(app._consumer_wait_empty(consumer, app.log), timeout=10)
    assert len(calls) == 3
    await asyncio.sleep(0.3)
    assert len(calls) == 3  # and no more once the wait is over


def test_the_engagement_agent_writes_its_states_while_the_app_drains(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path), load_model()).app
    assert [hook.__name__ for hook in app.while_draining] == ["flush_pending"]


@pytest.mark.parametrize("wait_s", [0.02, 0.25])
async def test_the_kafka_clients_fetch_waits_the_settings_time(
    tmp_path: Path, wait_s: float
) -> None:
    """Faust has the broker hold a fetch for idle partitions 1.5 s, which left the engagement
    agent idle for half of a backlog; the worker's client waits `ABM_FETCH_WAIT_S`."""
    pipe = create_app(Settings(state_dir=tmp_path, fetch_wait_s=wait_s), load_model())
    async with kafka_client(pipe.app) as client:
        assert client._fetch_max_wait_ms == int(wait_s * 1000)


@contextlib.asynccontextmanager
async def kafka_client(app: Any) -> AsyncIterator[Any]:
    """The aiokafka consumer the worker's consumer thread would create (not started)."""
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    thread = consumer._new_consumer_thread()
    client = thread._create_worker_consumer(cast(Any, app.transport))
    try:
        yield client
    finally:
        await client.stop()


@pytest.mark.parametrize("role", ["all", "resolution", "engagement"])
async def test_every_role_joins_the_group_with_fausts_assignor(
    tmp_path: Path, role: Literal["all", "resolution", "engagement"]
) -> None:
    """Faust picks aiokafka's round-robin assignor for an app without a table; the broker then
    refuses the `engagement` worker's join next to a `resolution` one (InconsistentGroupProtocol,
    seen in `python -m bench throughput`)."""
    pipe = create_app(Settings(state_dir=tmp_path, worker_role=role), load_model())
    async with kafka_client(pipe.app) as client:
        assert list(client._partition_assignment_strategy) == [pipe.app.assignor]


class Input:
    """A subscribed topic's channel as the conductor fills it, and a stream over it (real Faust
    objects; the consumer is never started)."""

    def __init__(self, app: App) -> None:
        self.app = app
        app.flow_control.resume()
        cast(Any, app.topics)._acking_topics.add(TOPIC)
        self.channel = aiter(app.topic(TOPIC, schema=RawSchema()))
        self.stream = app.stream(self.channel)
        self.messages: list[ConsumerMessage] = []

    async def put(self, *offsets: int, generation: int | None = None) -> None:
        for offset in offsets:
            record = ConsumerMessage(
                TOPIC, 0, offset, 0.0, 0, None, b"k", b"v", None, tp=ROUTED,
                generation_id=self.app.consumer_generation_id if generation is None else generation,
            )  # fmt: skip
            self.messages.append(record)
            await self.channel.put(await self.channel.decode(record))


def offsets(batch: list[Any]) -> list[int]:
    return [event.message.offset for event in batch]


async def test_event_batches_hand_out_every_event_in_order_at_most_n_at_a_time(app: App) -> None:
    source = Input(app)
    await source.put(*range(7))
    batches = event_batches(source.stream, 3, 0.001)
    taken = [offsets(await anext(batches)) for _ in range(3)]
    assert taken == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_batch_short_of_n_waits_for_more_events(app: App) -> None:
    source = Input(app)
    await source.put(0)
    batches = event_batches(source.stream, 3, 0.2)
    taking = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.05)
    assert not taking.done()
    await source.put(1)
    assert offsets(await asyncio.wait_for(taking, timeout=5)) == [0, 1]


async def test_taken_events_are_tracked_so_a_rebalance_waits_for_their_acks(app: App) -> None:
    source = Input(app)
    await source.put(0, 1)
    [batch] = [await anext(event_batches(source.stream, 2, 0.001))]
    unacked = cast(Any, app.consumer)._unacked_messages
    assert all(record.tracked and record in unacked for record in source.messages)
    for event in batch:
        await source.stream.ack(event)
    assert not unacked


async def test_events_fetched_before_a_rebalance_are_dropped(app: App) -> None:
    """Faust's stream skips them too: the new assignment reads again from the committed offset,
    and nothing waits for their acks."""
    source = Input(app)
    await source.put(0, generation=app.consumer_generation_id - 1)
    await source.put(1)
    batches = event_batches(source.stream, 2, 0.001)
    assert offsets(await anext(batches)) == [1]
    assert not source.messages[0].tracked
    assert source.messages[0] not in cast(Any, app.consumer)._unacked_messages


async def test_event_batches_end_with_their_channel(app: App) -> None:
    source = Input(app)
    batches = event_batches(source.stream, 2, 0.001)
    taking = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.01)
    await source.channel.throw(StopAsyncIteration())
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(taking, timeout=5)


class Recording(faust.Sensor):
    """What the app's sensors are told of a stream's events and messages."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        self.calls.append(("message in", offset))

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        self.calls.append(("event in", offset))

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        self.calls.append(("event out", offset))

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        self.calls.append(("message out", offset))


async def acked_through(tmp_path: Path, ack: Callable[[Any, list[Any]], Awaitable[None]]) -> Any:
    """The consumer's acks and the sensors' calls after a batch of 3 events was acked by `ack`
    (offset 1 is held by a second reader, so its ack is not its message's last)."""
    app = App("ack-test", broker="kafka://127.0.0.1:9", datadir=str(tmp_path))
    sensor = Recording()
    app.sensors.add(sensor)
    source = Input(app)
    await source.put(0, 1, 2)
    source.messages[1].incref(2)  # two readers (the conductor increfs once per channel)
    batch = await anext(event_batches(source.stream, 3, 0.001))
    await ack(source.stream, batch)
    consumer = cast(Any, app.consumer)
    return (
        sensor.calls,
        dict(consumer._acked),
        consumer._n_acked,
        set(consumer._unacked_messages) == {source.messages[1]},
        [record.acked for record in source.messages],
    )


async def test_acking_a_batch_acks_as_the_streams_ack_does(tmp_path: Path) -> None:
    async def one_by_one(stream: Any, events: list[Any]) -> None:
        for event in events:
            await stream.ack(event)

    async def at_once(stream: Any, events: list[Any]) -> None:
        ack_events(stream, events)

    fausts = await acked_through(tmp_path / "faust", one_by_one)
    ours = await acked_through(tmp_path / "ours", at_once)

    assert ours == fausts
    calls, acked, n_acked, only_the_held_one_unacked, flags = ours
    assert acked == {ROUTED: [0, 2]} and n_acked == 2 and only_the_held_one_unacked
    assert flags == [True, False, True]
    assert ("message out", 1) not in calls and ("event out", 1) in calls


async def test_without_sensors_nothing_is_reported(app: App) -> None:
    """The worker's app has no sensor: the batches and their acks skip the reports."""
    assert not set(app.sensors)
    source = Input(app)
    await source.put(0)
    batch = await anext(event_batches(source.stream, 1, 0.001))
    ack_events(source.stream, batch)
    assert source.messages[0].acked


CHANGELOG = "transport-test-engagement-changelog"


def input_consumer(app: App) -> Consumer:
    consumer = app.transport.create_consumer(
        callback=Deliverer().deliver,
        on_partitions_revoked=rebalanced,
        on_partitions_assigned=rebalanced,
    )
    assert isinstance(consumer, Consumer)
    return consumer


async def test_no_input_record_is_handed_over_from_a_seek_until_the_flow_resumes(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust clears the streams' buffers after this seek, before it resumes the flow: what the
    fetch loop handed over in between would be lost, its partition's position beyond it."""
    consumer = input_consumer(app)
    changelog = TP(CHANGELOG, 0)
    monkeypatch.setattr(consumer, "_is_changelog_tp", lambda tp: tp.topic == CHANGELOG)
    monkeypatch.setattr(consumer, "assignment", lambda: {ROUTED, changelog})
    consumer._active_partitions = {ROUTED, changelog}
    seen_during_seek: list[set[TP]] = []

    async def seek_to_committed() -> dict[TP, int]:
        seen_during_seek.append(set(consumer._get_active_partitions()))
        return {ROUTED: 3}

    monkeypatch.setattr(consumer, "seek_to_committed", seek_to_committed)
    await consumer.perform_seek()
    assert seen_during_seek == [{changelog}]
    assert consumer._get_active_partitions() == {changelog}  # the buffers are cleared next
    assert consumer._read_offset[ROUTED] == 3
    consumer.resume_flow()
    assert consumer._get_active_partitions() == {ROUTED, changelog}


@pytest.mark.parametrize("meanwhile", ["paused", "revoked"])
async def test_a_partition_paused_or_revoked_during_the_hold_stays_out_of_the_fetch(
    app: App, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    consumer = input_consumer(app)
    other = TP(TOPIC, 1)
    assigned = {ROUTED, other}
    monkeypatch.setattr(consumer, "assignment", lambda: set(assigned))
    consumer._active_partitions = {ROUTED, other}

    async def seek_to_committed() -> dict[TP, int]:
        return {}

    monkeypatch.setattr(consumer, "seek_to_committed", seek_to_committed)
    await consumer.perform_seek()
    if meanwhile == "paused":  # a rebalance began
        consumer.pause_partitions([ROUTED])
    else:
        assigned.discard(ROUTED)
    consumer.resume_flow()
    assert consumer._get_active_partitions() == {other}


@dataclass
class KafkaClient:
    """The Kafka client's seeks, as `ConsumerThread` calls them."""

    committed: dict[TP, int | None]
    seeks: list[tuple[TP, int | str]] = field(default_factory=list)

    async def seek_to_committed(self) -> dict[TP, int | None]:
        for tp, offset in self.committed.items():
            if offset:  # aiokafka: only a committed offset above 0
                self.seeks.append((tp, offset))
        return self.committed

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def seek_to_beginning(self, *tps: TP) -> None:
        self.seeks.extend((tp, "start") for tp in tps)


async def test_a_partition_without_a_committed_offset_is_read_again_from_its_start(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiokafka leaves a partition with no committed offset (or 0) where it is, beyond the
    records handed over before the seek."""
    consumer = input_consumer(app)
    monkeypatch.setattr(consumer, "_is_changelog_tp", lambda tp: tp.topic == CHANGELOG)
    never, zero, five = TP(TOPIC, 0), TP(TOPIC, 1), TP(TOPIC, 2)
    changelog = TP(CHANGELOG, 0)
    client = KafkaClient({never: None, zero: 0, five: 5, changelog: None})
    thread = consumer._new_consumer_thread()
    assert isinstance(thread, ConsumerThread)
    monkeypatch.setattr(thread, "_ensure_consumer", lambda: client)
    committed = await thread._seek_to_committed_or_start()
    assert committed == client.committed
    assert sorted(client.seeks, key=str) == sorted(
        [(five, 5), (zero, 0), (never, "start")], key=str
    )  # the changelog is left to the table's recovery


def test_the_active_partitions_are_never_false(app: App) -> None:
    """The Kafka client reads an empty (false) filter of partitions as "every partition": a
    fetch waiting while the set went empty took the records of paused partitions too, which
    Faust's fetch loop then dropped (aiokafka 0.14, `Fetcher.fetched_records`)."""
    consumer = input_consumer(app)
    consumer._reset_state()
    assert isinstance(consumer._active_partitions, ActivePartitions)
    consumer._set_active_tps({ROUTED})
    consumer.pause_partitions([ROUTED])
    active = consumer._get_active_partitions()
    assert isinstance(active, ActivePartitions) and not active.difference(set())
    assert bool(active)
    fetched = {ROUTED: ["a record"]}
    drained = {tp: rs for tp, rs in fetched.items() if not (active and tp not in active)}
    assert drained == {}  # the client's own test, on this set


# --- the conductor: a raw topic's record handed over as Faust's handler does --------------------


class Handed:
    """One topic's channel and the conductor's handler for its partition (real Faust objects; the
    app is never started), with Faust's own handler beside it."""

    def __init__(self, app: App, schema: Any = None, channels: int = 1) -> None:
        app.flow_control.resume()
        self.app = app
        self.conductor = cast(Conductor, app.topics)
        topic = app.topic(TOPIC, schema=schema if schema is not None else RawSchema())
        self.channels = [aiter(topic) for _ in range(channels)]
        members = set(self.channels)
        self.handler = self.conductor._build_handler(ROUTED, members)
        # what Faust hands it with (its Cython handler when built, else its Python one)
        self.fausts = faust_conductor.Conductor._build_handler(
            cast(Any, self.conductor), ROUTED, cast(Any, members)
        )

    @property
    def queue(self) -> Any:
        return self.channels[0].queue


def is_raw_handler(handler: Any) -> bool:
    return str(getattr(handler, "__qualname__", "")).startswith("raw_handler.")


def record(offset: int = 0, headers: Any = None) -> ConsumerMessage:
    return ConsumerMessage(
        TOPIC, 0, offset, 0.0, 0, headers, b"k", b"v", None, tp=ROUTED, generation_id=0
    )


def test_the_worker_hands_records_over_through_this_conductor() -> None:
    pipe = create_app(Settings(), load_model())
    assert isinstance(pipe.app.topics, Conductor)


async def test_a_raw_topics_record_becomes_the_event_fausts_handler_makes(app: App) -> None:
    handed = Handed(app)
    assert handed.handler is not handed.fausts
    for handler, offset in ((handed.fausts, 1), (handed.handler, 2)):
        await handler(record(offset, headers=[("h", b"1")]))
    fausts, ours = handed.queue.get_nowait(), handed.queue.get_nowait()
    assert type(ours) is type(fausts)
    assert (ours.key, ours.value, ours.headers, ours.app) == (
        fausts.key, fausts.value, fausts.headers, fausts.app
    )  # fmt: skip
    assert (ours.message.offset, ours.message.refcount) == (2, fausts.message.refcount) == (2, 1)


async def test_a_suspended_flow_holds_the_record_until_it_resumes(app: App) -> None:
    handed = Handed(app)
    app.flow_control.suspend()
    handing = asyncio.ensure_future(handed.handler(record()))
    await asyncio.sleep(0.02)
    assert not handing.done() and handed.queue.empty()
    app.flow_control.resume()
    await asyncio.wait_for(handing, timeout=5)
    assert handed.queue.get_nowait().message.offset == 0


async def test_a_producer_buffer_over_its_limit_is_waited_for(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed = Handed(app)
    buffer = app.producer.buffer
    waits: list[int] = []

    async def wait_until_ebb() -> None:
        waits.append(buffer.pending.qsize())
        buffer.pending.get_nowait()

    monkeypatch.setattr(buffer, "wait_until_ebb", wait_until_ebb)
    buffer.max_messages = 1
    buffer.pending.put_nowait(cast(Any, "a record to send"))
    await handed.handler(record(0))
    assert waits == []  # at the limit: not over it
    buffer.pending.put_nowait(cast(Any, "another"))
    await handed.handler(record(1))
    assert waits == [2]
    assert [handed.queue.get_nowait().message.offset for _ in range(2)] == [0, 1]


async def test_a_queue_under_pressure_stops_the_partitions_fetch_and_a_full_one_is_waited_on(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed = Handed(app)
    consumer = cast(Any, app.consumer)
    calls: list[str] = []
    monkeypatch.setattr(consumer, "on_buffer_full", lambda tp: calls.append(f"full {tp.topic}"))
    monkeypatch.setattr(consumer, "on_buffer_drop", lambda tp: calls.append(f"drop {tp.topic}"))
    queue = handed.queue
    for offset in range(queue.maxsize):
        await handed.handler(record(offset))
    assert queue.full()
    assert calls and set(calls) == {f"full {TOPIC}"}
    handing = asyncio.ensure_future(handed.handler(record(queue.maxsize)))
    await asyncio.sleep(0.02)
    assert not handing.done()  # waits for room
    for _ in range(queue.maxsize):
        queue.get_nowait()
    await asyncio.wait_for(handing, timeout=5)
    await asyncio.sleep(0)  # the put runs in a task of its own, as Faust's
    assert queue.get_nowait().message.offset == queue.maxsize
    assert f"drop {TOPIC}" in calls


async def test_a_topic_of_another_schema_or_two_channels_goes_through_fausts_handler(
    app: App,
) -> None:
    fausts_schema: faust.Schema[bytes, bytes] = faust.Schema(key_type=bytes, value_type=bytes)
    assert is_raw_handler(Handed(app).handler)
    assert not is_raw_handler(Handed(app, schema=fausts_schema).handler)
    two = Handed(app, channels=2)
    assert not is_raw_handler(two.handler)
    await two.handler(record(5))
    assert [channel.queue.get_nowait().message.offset for channel in two.channels] == [5, 5]


async def test_a_second_channel_in_the_partitions_set_gets_its_records_too(app: App) -> None:
    """Faust's handler reads the partition's set of channels on every record; the raw handler,
    built for one, hands a record to Faust's once the set holds more."""
    conductor = cast(Any, app.topics)
    app.flow_control.resume()
    first = aiter(app.topic(TOPIC, schema=RawSchema()))
    members = {first}
    handler = conductor._build_handler(ROUTED, members)
    assert is_raw_handler(handler)
    second = aiter(app.topic(TOPIC, schema=RawSchema()))
    members.add(second)
    await handler(record(7))
    assert [first.queue.get_nowait().message.offset, second.queue.get_nowait().message.offset] == [
        7,
        7,
    ]


async def test_a_record_waits_for_the_handlers_while_they_are_rebuilt(app: App) -> None:
    conductor = cast(Any, app.topics)
    handed = Handed(app)
    conductor._tp_to_callback[ROUTED] = handed.handler
    on_message = conductor._compile_message_handler()
    await on_message(record(0))
    async with conductor._tp_to_callback_lock:
        handing = asyncio.ensure_future(on_message(record(1)))
        await asyncio.sleep(0.02)
        assert not handing.done()
    await asyncio.wait_for(handing, timeout=5)
    assert [handed.queue.get_nowait().message.offset for _ in range(2)] == [0, 1]


# --- the fetch loop: Faust's steps, inlined --------------------------------------------------

OTHER = TP(TOPIC, 1)


def fetched(tp: TP, *offsets: int) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        ConsumerRecord(TOPIC, tp.partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])
        for offset in offsets
    ]


class FetchLoop:
    """The consumer's fetch loop over scripted fetches (each a mapping of partition to records,
    or a callable run in its place), stopped once they are used up; every record handed over is
    noted as (partition, offset)."""

    def __init__(self, app: App, fetches: list[Any], active: set[TP] | None = None) -> None:
        self.handed: list[tuple[int, int]] = []
        self.app = app
        self.fetches = list(fetches)
        self.active = active
        self.stopped = asyncio.Event()
        consumer = app.transport.create_consumer(
            callback=self.deliver,
            on_partitions_revoked=rebalanced,
            on_partitions_assigned=rebalanced,
        )
        assert isinstance(consumer, Consumer)
        self.consumer: Consumer = consumer
        self.ends: list[TP] = []
        patched = cast(Any, consumer)
        patched._wait_next_records = self.fetch
        patched.highwater = lambda tp: 100
        cast(Any, app.monitor).track_tp_end_offset = lambda tp, offset: self.ends.append(tp)

    async def deliver(self, message: Message) -> None:
        self.handed.append((message.partition, message.offset))

    async def fetch(self, timeout: float) -> tuple[Any, Any]:
        if not self.fetches:
            self.stopped.set()
            return None, None
        fetch = self.fetches.pop(0)
        if callable(fetch):
            fetch()
            return {}, self.active
        return fetch, self.active

    async def run(self) -> list[tuple[int, int]]:
        fetcher = SimpleNamespace(_stopped=self.stopped)
        await asyncio.wait_for(self.consumer._drain_messages(cast(Any, fetcher)), timeout=5)
        return self.handed


async def test_the_fetch_loop_hands_over_each_record_once_in_faust_order(app: App) -> None:
    loop = FetchLoop(
        app,
        [
            {ROUTED: fetched(ROUTED, 0, 1, 2), OTHER: fetched(OTHER, 0, 1)},
            {ROUTED: fetched(ROUTED, 1, 2, 3)},  # up to 2 was read already
        ],
    )
    handed = await loop.run()
    # round robin; below the read offset dropped, at it taken again (Faust's `>=`)
    assert handed == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (0, 2), (0, 3)]
    assert cast(Any, loop.consumer)._read_offset[ROUTED] == 3
    assert loop.ends == [ROUTED, OTHER, ROUTED]  # once per partition per fetch


async def test_the_fetch_loop_takes_only_the_active_partitions(app: App) -> None:
    loop = FetchLoop(app, [{ROUTED: fetched(ROUTED, 0), OTHER: fetched(OTHER, 0)}], active={OTHER})
    assert await loop.run() == [(1, 0)]


async def test_a_new_consumer_generation_ends_the_fetch(app: App) -> None:
    """Records fetched before a rebalance are not handed over: the new assignment reads
    them again from the committed offsets."""
    loop = FetchLoop(app, [{ROUTED: fetched(ROUTED, 0, 1, 2)}])
    deliver = loop.deliver

    async def rebalancing(message: Message) -> None:
        await deliver(message)
        if message.offset == 1:
            app.consumer_generation_id += 1

    cast(Any, loop.consumer).callback = rebalancing
    assert await loop.run() == [(0, 0), (0, 1)]


async def test_a_fetch_while_the_flow_is_suspended_seeks_back_instead(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = FetchLoop(app, [{ROUTED: fetched(ROUTED, 0)}, {ROUTED: fetched(ROUTED, 1)}])
    seeks: list[str] = []

    async def perform_seek() -> None:
        seeks.append("seek")
        loop.consumer.flow_active = True

    monkeypatch.setattr(loop.consumer, "perform_seek", perform_seek)
    loop.consumer.flow_active = False
    assert await loop.run() == [(0, 1)]
    assert seeks == ["seek"]


async def test_a_gap_in_an_acking_topic_is_recorded(app: App) -> None:
    """A compacted input skips offsets: the commit must not wait for them (Faust's gaps)."""
    cast(Any, app.topics)._acking_topics.add(TOPIC)
    loop = FetchLoop(app, [{ROUTED: fetched(ROUTED, 1, 2, 5)}])
    assert await loop.run() == [(0, 1), (0, 2), (0, 5)]
    gaps = cast(Any, loop.consumer)._gap[ROUTED]
    assert sorted((gap.begin, gap.end) for gap in gaps) == [(3, 6)]  # as Faust's loop adds it


async def test_a_hand_off_that_waits_is_raced_and_the_loop_goes_on_after_a_suspension(
    app: App,
) -> None:
    gate = asyncio.Event()
    loop = FetchLoop(app, [{ROUTED: fetched(ROUTED, 0, 1)}])
    deliver = loop.deliver

    async def waiting(message: Message) -> None:
        if message.offset == 0:
            loop.consumer.suspend_flow.set()  # a rebalance, while the hand-off waits
            await gate.wait()
        await deliver(message)

    cast(Any, loop.consumer).callback = waiting
    assert await loop.run() == [(0, 1)]  # the waiting hand-off was abandoned
    assert cast(Any, loop.consumer)._read_offset[ROUTED] == 1


def test_a_leader_without_the_table_still_names_its_changelog_partitions(tmp_path: Path) -> None:
    """The leader tells the members who holds which changelog partition (the account pages'
    routing); a `resolution` worker knows the changelog only from the app's group changelogs."""
    pipe = create_app(Settings(state_dir=tmp_path, worker_role="resolution"), load_model())
    assignor = cast(Any, pipe.app.assignor)
    assert isinstance(assignor, Assignor)
    changelog = engagement_changelog(pipe.settings.app_id)
    raw = pipe.topic_name(topics.RAW)
    assignor._member_urls = {"m1": "http://w1:6066", "m2": "http://w2:6066"}
    assignments = {
        "m1": SimpleNamespace(actives={raw: [0, 1]}),
        "m2": SimpleNamespace(actives={changelog: [0, 1], pipe.topic_name(topics.RESOLVED): [0]}),
    }
    assert assignor._get_changelog_distribution(assignments) == {
        "http://w1:6066": {},
        "http://w2:6066": {changelog: [0, 1]},
    }
    external = assignor._get_external_topic_distribution(assignments)
    assert changelog not in external["http://w2:6066"]
