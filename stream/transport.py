"""The worker's Faust app: what it changes of Faust's own (faust-streaming 0.15.3).

- While the app waits for its in-flight events to be acked (a stop, a rebalance), it runs the
  drain hooks (`App.while_draining`): the engagement agent writes its changed states there,
  which acks their events. Faust stops the app's timers before that wait on a stop.
- Faust's in-memory `Monitor` is no sensor (per-event statistics for pages this project does
  not serve).
- The consumer (`Consumer`, for `kafka://` brokers) hands a fetched record to the streams
  without Faust's per-record race when the hand-off does not wait (`Consumer.wait_first`).
- The topics' records become events without a serializer lookup (`RawSchema`): every topic of
  the worker holds bytes that the agents decode themselves.

Why the last one. Faust's fetch loop (`Consumer._drain_messages`) hands every record over as
`wait_first(callback(message), suspend_flow.wait())`: the conductor's callback and the flow
suspension each in a task, two more tasks for the consumer's stop and crash events, and an
`asyncio.wait` over the four. The race exists so that a rebalance, which suspends the flow, can
abandon a hand-off that waits (for room in a full stream buffer, for the producer's buffer, for
the app's flow control). Most hand-offs wait for nothing: the callback puts the event in the
stream's queue and returns.

So this consumer runs the callback's first step in the fetch loop itself. When that step ends
the callback, the record was handed over exactly as the race would have (the race's first task
to run is the callback, which would have finished in its first step too). When the callback
waits for something, the rest of it (the suspended coroutine, resumed where it stopped) goes
into Faust's race unchanged. Nothing can wait outside the race, which is how this differs from
the direct hand-off withdrawn on 2026-12-07: that one awaited the callback outright after
checking the conditions it could wait on, and a worker restarted after a kill -9 sometimes
stopped taking records after its first (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import faust
from faust.transport.drivers import aiokafka as kafka_driver
from faust.types import Message
from mode.services import WaitResults


class Handoff:
    """One fetched record on its way to the conductor (the callback's coroutine is made when
    the consumer hands it over), so the consumer can tell it from its other waits."""

    __slots__ = ("deliver", "message")

    def __init__(self, deliver: Callable[[Message], Awaitable[None]], message: Message) -> None:
        self.deliver = deliver
        self.message = message

    def __await__(self) -> Generator[Any, Any, None]:
        return self.deliver(self.message).__await__()


class Rest:
    """The rest of a coroutine that was run up to its first suspension: awaiting this resumes it
    where it stopped, passing the awaiting task's wake-ups and cancellation through, as
    `yield from` would have had the coroutine never left its task."""

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


class Consumer(kafka_driver.Consumer):
    """Faust's aiokafka consumer, handing a record over in the fetch loop itself when the
    hand-off does not wait (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        deliver = self.callback

        def handoff(message: Message) -> Handoff:
            return Handoff(deliver, message)

        self.callback = handoff

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        first = coros[0] if coros else None
        if not isinstance(first, Handoff) or timeout is not None:
            return await super().wait_first(*coros, timeout=timeout)
        coroutine = first.deliver(first.message).__await__()
        try:
            waiting_for = coroutine.send(None)
        except StopIteration:  # handed over without waiting: nothing to race
            _close(coros[1:])
            return WaitResults([first], [None], False)
        except BaseException:
            _close(coros[1:])
            raise
        return await super().wait_first(Rest(coroutine, waiting_for), *coros[1:])


def _close(coros: tuple[Any, ...]) -> None:
    """Close coroutines that will not run (the race's `suspend_flow.wait()`), so Python does
    not warn that they were never awaited."""
    for other in coros:
        if inspect.iscoroutine(other):
            other.close()


class RawSchema(faust.Schema[bytes, bytes]):
    """Keys and values as the bytes Kafka holds, made into events directly.

    Faust's schema decodes each record through its serializer registry (a codec lookup for the
    key and the value, and `app.conf.Event` read through its settings registry), which for the
    `raw` codec and `bytes` types returns the bytes unchanged: this schema's events are equal
    to Faust's (tested), at about a third of the cost per record.
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


class Transport(kafka_driver.Transport):
    Consumer = Consumer


DRAIN_TICK_S = 0.1
"""How often the app's drain hooks run while it waits for its events to be acked (seconds)."""


class App(faust.App):
    """Faust's app with drain hooks, on `Transport` (see the module's docstring).

    Without Faust's in-memory `Monitor` among its sensors: the monitor keeps per-event
    statistics for Faust's own web pages, which this project does not serve (its metrics are
    Prometheus's, `stream.metrics`), at about 2% of the engagement worker's time. The monitor
    itself stays (the consumer reports commits to it).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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
