"""The worker's Faust app: drain hooks while it waits for acks, no in-memory Monitor, Faust's
own per-record hand-off, and raw events made without Faust's serializer registry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as kafka_driver
from faust.types import TP, Message

from abm.core.model import load_model
from abm_cli.settings import Settings
from stream.app import create_app
from stream.transport import App, RawSchema


def test_the_worker_hands_records_over_the_way_faust_does() -> None:
    """The direct hand-off was withdrawn (a restarted worker could stop after its first
    record): the consumer is Faust's own, with its race against a flow suspension."""
    pipe = create_app(Settings(), load_model())
    assert isinstance(pipe.app, App)
    assert type(pipe.app.transport) is kafka_driver.Transport
    assert pipe.app.transport.Consumer is kafka_driver.Consumer


TOPIC = "touchpoints"
ROUTED = TP(TOPIC, 0)


@pytest.fixture
def app(tmp_path: Path) -> App:
    return App("schema-test", broker="kafka://127.0.0.1:9", datadir=str(tmp_path))


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
