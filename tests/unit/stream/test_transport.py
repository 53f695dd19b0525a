"""The worker's Faust app: drain hooks while it waits for acks, no in-memory Monitor, and the
consumer's per-record hand-off (in the fetch loop when it does not wait, Faust's race for the
rest of it when it does).

Real Faust objects (app, conductor, stream queues), no broker: a hand-off is decided before
anything is fetched.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from faust.types import TP, Message

from abm.core.model import load_model
from abm.settings import Settings
from stream.app import create_app
from stream.transport import App, Consumer, RawSchema, Rest, Transport

TOPIC = "touchpoints"
ROUTED = TP(TOPIC, 0)


def message(offset: int = 0) -> Message:
    return Message(TOPIC, 0, offset, 0.0, 0, None, b"k", b"v", None, tp=ROUTED)


@dataclass
class Deliverer:
    """A conductor callback that may wait for `gate` (when one is set) and records its steps
    and the task each ran in."""

    gate: asyncio.Event | None = None
    steps: list[tuple[str, asyncio.Task[Any] | None]] = field(default_factory=list)
    fail_at: str | None = None

    async def deliver(self, message: Message) -> None:
        self.step("started")
        if self.gate is not None:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.step("cancelled")
                raise
        self.step("delivered")

    def step(self, name: str) -> None:
        self.steps.append((name, asyncio.current_task()))
        if name == self.fail_at:
            raise RuntimeError(name)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.steps]


def consumer_for(app: App, deliver: Any) -> Consumer:
    consumer = app.transport.create_consumer(
        callback=deliver, on_partitions_revoked=rebalanced, on_partitions_assigned=rebalanced
    )
    assert isinstance(consumer, Consumer)
    return consumer


@pytest.fixture
def app(tmp_path: Path) -> App:
    return App("handoff-test", broker="kafka://127.0.0.1:9", datadir=str(tmp_path))


async def rebalanced(tps: Any) -> None:
    """Rebalances do not happen here."""


async def hand_off(consumer: Consumer, record: Message) -> Any:
    """What Faust's fetch loop does with each record (`Consumer._drain_messages`)."""
    return await consumer.wait_first(consumer.callback(record), consumer.suspend_flow.wait())


def test_the_worker_runs_on_this_transport() -> None:
    pipe = create_app(Settings(), load_model())
    assert isinstance(pipe.app, App)
    assert isinstance(pipe.app.transport, Transport)
    assert pipe.app.transport.Consumer is Consumer


async def test_a_hand_off_that_does_not_wait_runs_in_the_fetch_loop_itself(app: App) -> None:
    deliverer = Deliverer()
    consumer = consumer_for(app, deliverer.deliver)
    tasks_before = len(asyncio.all_tasks())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the unused suspend_flow.wait() must be closed
        results = await hand_off(consumer, message())
    assert deliverer.steps == [
        ("started", asyncio.current_task()),
        ("delivered", asyncio.current_task()),
    ]
    assert len(asyncio.all_tasks()) == tasks_before
    assert len(results.done) == 1 and not results.stopped


async def test_a_hand_off_that_waits_finishes_in_fausts_race_where_it_stopped(app: App) -> None:
    deliverer = Deliverer(gate=asyncio.Event())
    consumer = consumer_for(app, deliverer.deliver)
    handing = asyncio.ensure_future(hand_off(consumer, message()))
    await asyncio.sleep(0.05)
    assert deliverer.names == ["started"]  # waiting, and not started again
    assert not handing.done()
    assert deliverer.gate is not None
    deliverer.gate.set()
    results = await asyncio.wait_for(handing, timeout=5)
    assert deliverer.names == ["started", "delivered"]
    (_, first_task), (_, rest_task) = deliverer.steps
    assert rest_task is not first_task  # the rest ran in the race's task
    assert len(results.done) == 1 and not results.stopped


async def test_a_flow_suspended_while_the_hand_off_waits_abandons_it(app: App) -> None:
    """What Faust's race is for: a rebalance suspends the flow, the fetch loop goes on and the
    waiting hand-off is cancelled."""
    deliverer = Deliverer(gate=asyncio.Event())
    consumer = consumer_for(app, deliverer.deliver)
    handing = asyncio.ensure_future(hand_off(consumer, message()))
    await asyncio.sleep(0.05)
    consumer.suspend_flow.set()
    results = await asyncio.wait_for(handing, timeout=5)
    await asyncio.sleep(0)
    assert deliverer.names == ["started", "cancelled"]
    assert len(results.done) == 1 and not isinstance(results.done[0], Rest)


@pytest.mark.parametrize("fail_at", ["started", "delivered"])
async def test_an_error_of_the_hand_off_reaches_the_fetch_loop(app: App, fail_at: str) -> None:
    gate = asyncio.Event()
    gate.set()  # set before: "delivered" follows a wait that does not suspend
    deliverer = Deliverer(gate=None if fail_at == "started" else gate, fail_at=fail_at)
    consumer = consumer_for(app, deliverer.deliver)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match=fail_at):
            await hand_off(consumer, message())


async def test_an_error_after_the_hand_off_waited_reaches_the_fetch_loop(app: App) -> None:
    deliverer = Deliverer(gate=asyncio.Event(), fail_at="delivered")
    consumer = consumer_for(app, deliverer.deliver)
    handing = asyncio.ensure_future(hand_off(consumer, message()))
    await asyncio.sleep(0.05)
    assert deliverer.gate is not None
    deliverer.gate.set()
    with pytest.raises(RuntimeError, match="delivered"):
        await asyncio.wait_for(handing, timeout=5)


async def test_other_waits_of_the_consumer_are_fausts(app: App) -> None:
    consumer = consumer_for(app, Deliverer().deliver)
    event = asyncio.Event()
    event.set()
    results = await consumer.wait_first(event.wait())
    assert len(results.done) == 1


@pytest.fixture
async def routed(app: App) -> AsyncIterator[tuple[Consumer, Any]]:
    """The app's real conductor routing `ROUTED` to one topic's stream queue."""
    topic = app.topic(
        TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    ).clone(is_iterator=True)  # what an agent's stream reads
    conductor = cast(Any, app.topics)
    conductor._tp_index[ROUTED].add(topic)  # what the conductor does on assignment
    conductor._update_callback_map()
    app.flow_control.resume()  # what the app does once partitions are assigned
    yield consumer_for(app, conductor.on_message), topic.queue


async def test_the_conductor_gets_a_record_into_a_stream_queue_with_room_at_once(
    routed: tuple[Consumer, Any],
) -> None:
    consumer, queue = routed
    tasks_before = len(asyncio.all_tasks())
    await hand_off(consumer, message(offset=7))
    assert queue.qsize() == 1
    assert queue.get_nowait().message.offset == 7
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_full_stream_queue_makes_the_hand_off_wait_in_the_race(
    routed: tuple[Consumer, Any],
) -> None:
    consumer, queue = routed
    while not queue.full():
        queue.put_nowait(object())
    handing = asyncio.ensure_future(hand_off(consumer, message(offset=7)))
    await asyncio.sleep(0.05)
    assert not handing.done()
    queue.get_nowait()  # the stream takes one
    await asyncio.wait_for(handing, timeout=5)
    assert queue.full()
    while queue.qsize() > 1:
        queue.get_nowait()
    assert queue.get_nowait().message.offset == 7


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
    for topic in (pipe.raw, pipe.resolved, pipe.erasure, pipe.mqa, pipe.dead_letter):
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
