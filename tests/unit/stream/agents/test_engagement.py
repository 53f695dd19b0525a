"""The engagement agent's order of work without a broker: a batch's MQA sends and the table
writes of its flush (one per account, each bound to its account's input partition) come before
its acks, a batch that fails is never acked, writes wait for the flush interval (or for the
cache's bound), and a rebalance empties the cache of the moved partitions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import faust
import orjson
import pytest
from faust.types import TP
from mode import Signal

from abm_cli.settings import Settings
from stream import topics
from stream.agents import engagement
from stream.app import Pipeline
from stream.schema import StateGuard
from stream.write_behind import StateCache, Unwritten
from tests.support.factories import T0, account, page, qualifying_group

RESOLVED = "t.touchpoints.resolved"


@dataclass
class Log:
    steps: list[tuple[str, Any]] = field(default_factory=list)


class NobodySuppressed:
    active = False

    async def refresh_or_keep(self) -> bool:
        return True


class App:
    """The app as the agent uses it: Faust's own rebalance signals, an agent decorator."""

    def __init__(self) -> None:
        self.agents: dict[str, Callable[..., Any]] = {}
        self.while_draining: list[Callable[[], Any]] = []
        self.timers: list[Callable[..., Any]] = []
        self.timer_intervals: list[float] = []
        self.on_partitions_revoked = Signal().with_default_sender(self)
        self.on_partitions_assigned = Signal().with_default_sender(self)
        self.producer: Any = None

    def agent(self, channel: Any, name: str) -> Callable[..., Any]:
        def register(fun: Callable[..., Any]) -> Callable[..., Any]:
            self.agents[name] = fun
            return fun

        return register

    def timer(self, interval: float) -> Callable[..., Any]:
        def register(fun: Callable[..., Any]) -> Callable[..., Any]:
            self.timers.append(fun)
            self.timer_intervals.append(interval)
            return fun

        return register


class Table(dict[bytes, bytes]):
    def __init__(self, log: Log) -> None:
        super().__init__()
        self.log = log

    def __setitem__(self, key: bytes, value: bytes) -> None:
        event = faust.current_event()
        assert event is not None, "a table write needs its record as the current event"
        self.log.steps.append(("write", (key, event.message.partition)))
        super().__setitem__(key, value)

    def on_recover(self, fun: Callable[[], Any]) -> None:
        self.recovered = fun


class Producer:
    """The app's producer as `stream.record_io.send_record` uses it: the step logged by the
    topic's kind."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.kinds = {topics.MQA.name("t"): "mqa", topics.DEAD_LETTER.name("t"): "dead_letter"}

    async def send(self, topic: str, key: bytes, value: bytes, **kwargs: Any) -> Any:
        self.log.steps.append((self.kinds[topic], key))
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


class Stream:
    """The agent's input: its batches as `stream.transport.event_batches` would hand them out
    (`from_batches`), and its acks."""

    def __init__(self, log: Log, batches: list[list[Any]]) -> None:
        self.log, self.batches = log, batches

    async def take(self, max_: int, within: float) -> AsyncIterator[list[Any]]:
        for batch in self.batches:
            yield batch

    def ack(self, events: list[Any]) -> None:
        self.log.steps.extend(("ack", event.message.offset) for event in events)


@pytest.fixture(autouse=True)
def from_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent takes its batches from the fake stream and acks them through it
    (`event_batches` and `ack_events` are tested with Faust's own objects in
    tests/unit/stream/test_transport.py)."""

    def batches(stream: Stream, max_events: int, within_s: float) -> AsyncIterator[list[Any]]:
        return stream.take(max_events, within_s)

    def ack_events(stream: Stream, events: list[Any]) -> None:
        stream.ack(events)

    monkeypatch.setattr(engagement, "event_batches", batches)
    monkeypatch.setattr(engagement, "ack_events", ack_events)


class Event:
    """A Faust event as far as the agent uses it (weak-referenceable, as Faust's are)."""

    def __init__(self, message: Any) -> None:
        self.message = message


def event(value: bytes, key: bytes, partition: int, offset: int) -> Event:
    message = SimpleNamespace(key=key, value=value, partition=partition, offset=offset,
                              headers=[], topic=RESOLVED, timestamp=T0 / 1000)  # fmt: skip
    return Event(message)


def pipeline(
    tmp_path: Path, log: Log, cache_accounts: int = 100, flush_interval_s: float = 1e-9
) -> tuple[Pipeline, App]:
    """The agent registered on fakes; by default every batch is flushed at once."""
    from abm.core.model import load_model

    app = App()
    app.producer = Producer(log)
    settings = Settings(
        topic_prefix="t",
        app_id="abm-engine",
        state_dir=tmp_path,
        engagement_flush_interval_s=flush_interval_s,
    )
    pipe = Pipeline(
        app=app,  # type: ignore[arg-type]
        settings=settings,
        model=load_model(),
        raw=None,
        resolved=None,
        erasure=None,
        engagement_table=Table(log),
        engagement_cache=StateCache(cache_accounts),
        state_guard=StateGuard(),
        suppression=cast(Any, NobodySuppressed()),
    )
    engagement.register(pipe)
    return pipe, app


def qualifying_events() -> list[Event]:
    """A qualifying group on `acme` (partition 1) with a bad record and another account's
    touchpoint (partition 0) in between."""
    tps = qualifying_group(T0)
    values = [tp.to_json() for tp in tps]
    events = [event(v, b"acme", 1, n) for n, v in enumerate(values[:3])]
    events.append(event(b"not json", b"acme", 1, 3))
    other = page("/pricing", at_ms=T0, account_record=account("globex", domains=("globex.com",)))
    events.append(event(other.to_json(), b"globex", 0, 0))
    events += [event(v, b"acme", 1, n) for n, v in enumerate(values[3:], start=4)]
    return events


async def test_a_batch_is_acked_after_its_writes_and_sends(tmp_path: Path) -> None:
    log = Log()
    pipe, app = pipeline(tmp_path, log)
    events = qualifying_events()
    await app.agents["abm-engine-engagement"](Stream(log, [events]))
    await settled()
    kinds = [kind for kind, _ in log.steps]
    assert kinds == ["dead_letter", "mqa", "write", "write", *["ack"] * len(events)]
    writes = sorted(what for kind, what in log.steps if kind == "write")
    assert writes == [(b"acme", 1), (b"globex", 0)]  # one per account, in its own partition
    assert len(pipe.engagement_cache) == 2


async def test_a_batch_that_fails_before_its_acks_is_never_acked(tmp_path: Path) -> None:
    log = Log()
    _, app = pipeline(tmp_path, log)

    async def broken(topic: str, key: bytes, value: bytes, **kwargs: Any) -> None:
        raise ConnectionError("the broker went away")

    app.producer.send = broken
    with pytest.raises(ConnectionError):
        await app.agents["abm-engine-engagement"](Stream(log, [qualifying_events()]))
        await settled()
    assert "ack" not in [kind for kind, _ in log.steps]


async def test_a_rebalance_drops_the_cached_states_of_moved_partitions(tmp_path: Path) -> None:
    log = Log()
    pipe, app = pipeline(tmp_path, log)
    await app.agents["abm-engine-engagement"](Stream(log, [qualifying_events()]))
    await settled()
    cache = pipe.engagement_cache
    assert b"acme" in cache and b"globex" in cache
    resolved = pipe.topic_name(topics.RESOLVED)
    await app.on_partitions_revoked.send({TP(resolved, 1), TP("t.touchpoints.raw", 0)})
    assert b"acme" not in cache and b"globex" in cache
    await app.on_partitions_assigned.send({TP(resolved, 0)})
    assert len(cache) == 0


async def test_an_unreadable_stored_state_stops_the_worker_before_any_ack(
    tmp_path: Path,
) -> None:
    log = Log()
    pipe, app = pipeline(tmp_path, log)
    stops: list[bool] = []

    async def stop() -> None:
        stops.append(True)

    pipe.state_guard.stop = stop
    dict.__setitem__(pipe.engagement_table, b"acme", orjson.dumps({"v": 99}))
    await app.agents["abm-engine-engagement"](Stream(log, [qualifying_events()]))
    await settled()
    await asyncio.sleep(0)
    assert stops == [True]
    assert pipe.state_guard.refusal is not None
    assert [kind for kind, _ in log.steps] == ["dead_letter"]  # the bad record; no write, no ack


class Clock:
    """Monotonic seconds the test moves on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The agent's write-behind runs on this clock."""
    fake = Clock()
    monkeypatch.setattr(engagement, "Unwritten", lambda: Unwritten(clock=fake))
    return fake


class PacedStream(Stream):
    """Batches `step_s` seconds apart on `clock`: an input that never pauses."""

    def __init__(self, log: Log, batches: list[list[Any]], clock: Clock, step_s: float) -> None:
        super().__init__(log, batches)
        self.clock, self.step_s = clock, step_s

    async def take(self, max_: int, within: float) -> AsyncIterator[list[Any]]:
        for batch in self.batches:
            await asyncio.sleep(0)  # waiting for input: other tasks run
            self.clock.now += self.step_s
            yield batch


async def settled() -> None:
    """Until the agent's background writes are done (other tasks of the loop are not ours)."""
    while pending := [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "").endswith(".flush")
    ]:
        await asyncio.gather(*pending)


async def test_writes_and_acks_wait_for_the_flush_interval(tmp_path: Path, clock: Clock) -> None:
    log = Log()
    pipe, app = pipeline(tmp_path, log, flush_interval_s=10.0)
    events = qualifying_events()
    step = pipe.settings.engagement_flush_idle_s / 2  # never idle long enough
    await app.agents["abm-engine-engagement"](PacedStream(log, [events[:3]], clock, step))
    await settled()
    [flush_when_due] = app.timers
    clock.now += step
    await flush_when_due()
    assert log.steps == []  # nothing written yet
    # 10 s of batches: the batch that ends past the interval writes, with no timer
    batches = [events[3:], *[[] for _ in range(int(10 / step))]]
    await app.agents["abm-engine-engagement"](PacedStream(log, batches, clock, step))
    await settled()
    kinds = [kind for kind, _ in log.steps]
    assert kinds == ["dead_letter", "mqa", "write", "write", *["ack"] * len(events)]


async def test_the_agent_applies_batches_while_a_write_is_in_progress(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engagement, "FLUSH_SLICE", 1)  # a turn for the agent after each state
    log = Log()
    pipe, app = pipeline(tmp_path, log, flush_interval_s=10.0)
    others = [
        event(page("/blog", at_ms=T0, account_record=account(f"a{n}", domains=(f"a{n}.com",)))
              .to_json(), f"a{n}".encode(), 0, n)
        for n in range(4)
    ]  # fmt: skip
    acme = [e for e in qualifying_events() if e.message.key == b"acme"]
    # the first batch ends past the interval: its four states are written in the background
    batches = [others, acme]
    await app.agents["abm-engine-engagement"](PacedStream(log, batches, clock, 10.0))
    await settled()
    [flush_when_due] = app.timers
    clock.now += pipe.settings.engagement_flush_idle_s
    await flush_when_due()  # acme's state: due while the first write ran, written after it
    kinds = [kind for kind, _ in log.steps]
    writes = [n for n, kind in enumerate(kinds) if kind == "write"]
    assert len(writes) == 5  # the four, then acme's
    assert writes[0] < kinds.index("mqa") < writes[3]  # the MQA went out between the four
    first_acks = [offset for kind, offset in log.steps if kind == "ack"][:4]
    assert first_acks == [0, 1, 2, 3]  # acked once all four were written
    assert kinds.index("ack") > [i for i, k in enumerate(kinds) if k == "write"][3]


def test_the_write_timer_ticks_at_a_tenth_of_the_idle_time(tmp_path: Path) -> None:
    """A write after the input pauses comes at most 50 ms after the idle time (0.5 s), not
    up to 250 ms after it, as with a tick at half of it."""
    pipe, app = pipeline(tmp_path, Log(), flush_interval_s=10.0)
    assert pipe.settings.engagement_flush_idle_s == 0.5
    assert app.timer_intervals == [pytest.approx(0.05)]
    _, short = pipeline(tmp_path, Log(), flush_interval_s=0.2)
    assert short.timer_intervals == [pytest.approx(0.02)]  # a tenth of the shorter period


async def test_a_paused_input_is_written_after_the_idle_time(tmp_path: Path, clock: Clock) -> None:
    log = Log()
    pipe, app = pipeline(tmp_path, log, flush_interval_s=60.0)
    events = qualifying_events()
    await app.agents["abm-engine-engagement"](Stream(log, [events[:3], events[3:]]))
    await settled()
    [flush_when_due] = app.timers
    clock.now += pipe.settings.engagement_flush_idle_s - 0.01
    await flush_when_due()
    assert "write" not in [kind for kind, _ in log.steps]
    clock.now += 0.01
    await flush_when_due()
    kinds = [kind for kind, _ in log.steps]
    assert kinds == ["dead_letter", "mqa", "write", "write", *["ack"] * len(events)]
    await flush_when_due()
    assert [kind for kind, _ in log.steps] == kinds  # nothing left to write


async def test_the_cache_bound_writes_before_a_batch_could_push_out_an_unwritten_state(
    tmp_path: Path,
) -> None:
    log = Log()
    pipe, app = pipeline(tmp_path, log, cache_accounts=1, flush_interval_s=60.0)
    first = qualifying_events()[:3]  # acme only
    other = page("/pricing", at_ms=T0, account_record=account("globex", domains=("globex.com",)))
    second = [event(other.to_json(), b"globex", 0, 0)]
    await app.agents["abm-engine-engagement"](Stream(log, [first, second]))
    await settled()
    # acme's state is written (and its events acked) before globex's batch takes its place.
    assert [kind for kind, _ in log.steps] == ["write", "ack", "ack", "ack"]
    assert dict.__getitem__(pipe.engagement_table, b"acme")
