"""Faust's Kafka transport with a direct hand-off of each fetched record to the streams.

Why: Faust's fetch loop (`Consumer._drain_messages`, faust-streaming 0.15.3) hands every record
to the conductor as `Service.wait_first(callback(message), suspend_flow.wait())`. That wraps
both in tasks, adds two more for the consumer's stop and crash events, and waits for the first
of the four: four tasks and an `asyncio.wait` per record. The race exists so that a rebalance,
which suspends the flow, can abandon a record that is waiting for room in a full stream buffer.

When nothing can make the hand-off wait, there is nothing to race: this consumer then awaits the
conductor's callback directly, in the fetch loop's own task, and takes Faust's path otherwise.
The conductor's callback (`Conductor._build_handler`) waits only on the app's flow control, on
the producer buffer (`ProducerBuffer.wait_until_ebb`, above `max_messages`) and on a full
stream buffer; `Consumer.can_hand_off` checks exactly these, and the consumer's own flow flag
and stop. Under those conditions the callback runs to its end without suspending, so the
result is the one Faust's race would give, minus the tasks.

On the `peer` benchmark this took the engagement agent from 0.53-0.65x Quix Streams to
0.77-0.94x (docs/benchmarks.md, third run of 2026-12-07).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Generator
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as kafka_driver
from faust.types import Message
from mode.services import WaitResults


class Handoff:
    """One record on its way to the conductor; the callback's coroutine is made when awaited."""

    __slots__ = ("deliver", "message")

    def __init__(self, deliver: Callable[[Message], Awaitable[None]], message: Message) -> None:
        self.deliver = deliver
        self.message = message

    def __await__(self) -> Generator[Any, None, None]:
        return self.deliver(self.message).__await__()


class Consumer(kafka_driver.Consumer):
    """Faust's aiokafka consumer, handing a record over directly when that cannot wait."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        deliver = self.callback

        def handoff(message: Message) -> Handoff:
            return Handoff(deliver, message)

        self.callback = handoff

    def can_hand_off(self, message: Message) -> bool:
        """True when the conductor's callback for `message` would run to its end at once."""
        if self.should_stop or self.suspend_flow.is_set():
            return False
        app = self.app
        if not app.flow_control.is_active():
            return False
        buffer = app.producer.buffer
        if buffer.pending.qsize() > buffer.max_messages:  # `ProducerBuffer.size`, unthreaded
            return False
        channels = cast(Any, app.topics)._tp_index.get(message.tp)
        if not channels:  # not (or no longer) routed here: let Faust's path decide
            return False
        return not any(channel.queue.full() for channel in channels)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        first = coros[0] if coros else None
        if isinstance(first, Handoff) and timeout is None and self.can_hand_off(first.message):
            for other in coros[1:]:  # the suspend_flow.wait() coroutine, never started
                if inspect.iscoroutine(other):
                    other.close()
            await first
            return WaitResults([first], [None], False)
        return await super().wait_first(*coros, timeout=timeout)


class Transport(kafka_driver.Transport):
    Consumer = Consumer


DRAIN_TICK_S = 0.1
"""How often the app's drain hooks run while it waits for its events to be acked (seconds)."""


class App(faust.App):
    """A Faust app on `Transport` for `kafka://` brokers (any other scheme: Faust's own).

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
        urls = self.conf.broker_consumer
        if urls[0].scheme == "kafka":
            return Transport(urls, self)
        return super()._new_transport()
