"""The worker's Faust app: drain hooks while it waits for acks, no in-memory Monitor, and
Faust's own per-record hand-off."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from faust.transport.drivers import aiokafka as kafka_driver

from abm.core.model import load_model
from abm.settings import Settings
from stream.app import create_app
from stream.transport import App


def test_the_worker_hands_records_over_the_way_faust_does() -> None:
    """The direct hand-off was withdrawn (a restarted worker could stop after its first
    record): the consumer is Faust's own, with its race against a flow suspension."""
    pipe = create_app(Settings(), load_model())
    assert isinstance(pipe.app, App)
    assert type(pipe.app.transport) is kafka_driver.Transport
    assert pipe.app.transport.Consumer is kafka_driver.Consumer


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
