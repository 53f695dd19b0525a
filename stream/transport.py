"""The worker's Faust app: what it changes of Faust's own (faust-streaming 0.15.3).

- While the app waits for its in-flight events to be acked (a stop, a rebalance), it runs the
  drain hooks (`App.while_draining`): the engagement agent writes its changed states there,
  which acks their events. Faust stops the app's timers before that wait on a stop.
- Faust's in-memory `Monitor` is no sensor (per-event statistics for pages this project does
  not serve).
- The topics' records become events without a serializer lookup (`RawSchema`): every topic of
  the worker holds bytes that the agents decode themselves.

A direct hand-off of each fetched record to the streams (awaiting the conductor's callback in
the fetch loop instead of Faust's race against a flow suspension) was here from 2026-12-07 and
is withdrawn: with it a worker restarted after a kill -9 sometimes stopped taking records after
its first, until its next restart (`./dev.sh chaos`: 2 of 4 worker kills; without it, 0 of 8,
same seed); docs/benchmarks.md has its figures and what they cost. A second try (2026-12-07,
sixth run) ran the hand-off up to its first wait in the fetch loop and put only a waiting rest
into Faust's race, so that nothing could wait outside the race: it stalled the same way (in
about one worker kill of eight). With a turn for the event loop after each record it no longer
stalled (0 of 28 kills), and it was no faster than Faust's race: what the race costs is mostly
that turn per record, and something in a restarting worker depends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.types import Message


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


DRAIN_TICK_S = 0.1
"""How often the app's drain hooks run while it waits for its events to be acked (seconds)."""


class App(faust.App):
    """Faust's app with drain hooks (see the module's docstring).

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
