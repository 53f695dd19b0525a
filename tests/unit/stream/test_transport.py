"""The consumer's per-record hand-off: direct when it cannot wait, Faust's race otherwise.

Real Faust objects (app, conductor, queues, producer buffer), no broker: the hand-off is
decided before anything is sent or fetched.
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
from stream.transport import App, Consumer, Transport

TOPIC = "touchpoints"
ROUTED = TP(TOPIC, 0)


def message(tp: TP = ROUTED, offset: int = 0) -> Message:
    return Message(tp.topic, tp.partition, offset, 0.0, 0, None, b"k", b"v", None, tp=tp)


@dataclass
class Conductor:
    """The conductor's callback as the consumer sees it; records which task ran it."""

    tasks: list[asyncio.Task[Any] | None] = field(default_factory=list)

    async def deliver(self, message: Message) -> None:
        self.tasks.append(asyncio.current_task())


@dataclass
class Setup:
    app: Any
    consumer: Consumer
    conductor: Conductor
    queue: Any


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    app = App("handoff-test", broker="kafka://127.0.0.1:9", datadir=str(tmp_path))
    topic = app.topic(TOPIC, key_type=bytes, value_type=bytes)
    cast(Any, app.topics)._tp_index[ROUTED].add(topic)  # what the conductor does on assignment
    app.flow_control.resume()  # what the app does once partitions are assigned
    conductor = Conductor()
    consumer = app.transport.create_consumer(
        callback=conductor.deliver,
        on_partitions_revoked=rebalanced,
        on_partitions_assigned=rebalanced,
    )
    assert isinstance(consumer, Consumer)
    yield Setup(app, consumer, conductor, topic.queue)


async def rebalanced(tps: Any) -> None:
    """Rebalances do not happen here."""


async def hand_off(setup: Setup, record: Message) -> Any:
    consumer = setup.consumer
    return await consumer.wait_first(consumer.callback(record), consumer.suspend_flow.wait())


async def test_the_app_runs_on_this_transport() -> None:
    pipe = create_app(Settings(), load_model())
    assert isinstance(pipe.app, App)
    assert isinstance(pipe.app.transport, Transport)
    assert pipe.app.transport.Consumer is Consumer


async def test_a_record_that_cannot_wait_is_handed_over_in_the_fetch_loop_itself(
    setup: Setup,
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the unused suspend_flow.wait() must be closed
        results = await hand_off(setup, message())
    assert setup.conductor.tasks == [asyncio.current_task()]
    assert len(results.done) == 1 and not results.stopped


async def test_a_full_stream_buffer_takes_fausts_race(setup: Setup) -> None:
    while not setup.queue.full():
        setup.queue.put_nowait(object())
    assert not setup.consumer.can_hand_off(message())
    await hand_off(setup, message())
    assert setup.conductor.tasks and setup.conductor.tasks[0] is not asyncio.current_task()


@pytest.mark.parametrize("suspend", ["consumer", "app"])
async def test_a_suspended_flow_takes_fausts_race(setup: Setup, suspend: str) -> None:
    if suspend == "consumer":
        setup.consumer.stop_flow()
    else:
        setup.app.flow_control.suspend()
    assert not setup.consumer.can_hand_off(message())


async def test_a_full_producer_buffer_takes_fausts_race(setup: Setup) -> None:
    buffer = setup.app.producer.buffer
    for _ in range(buffer.max_messages + 1):
        buffer.pending.put_nowait(object())
    assert not setup.consumer.can_hand_off(message())


async def test_a_record_of_a_partition_not_routed_here_takes_fausts_race(setup: Setup) -> None:
    assert not setup.consumer.can_hand_off(message(TP(TOPIC, 1)))
    assert setup.consumer.can_hand_off(message(ROUTED))


async def test_other_waits_of_the_consumer_are_fausts(setup: Setup) -> None:
    event = asyncio.Event()
    event.set()
    results = await setup.consumer.wait_first(event.wait())
    assert len(results.done) == 1


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
