"""Records handed to the worker's producer without Faust's per-record wrapping."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any, cast

import pytest

from stream.record_io import send_record


class FakeProducer:
    """Faust's producer as `send_record` uses it: `send` returns the delivery future."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.deliveries: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, key: Any, value: Any, **kwargs: Any) -> Any:
        self.sent.append((topic, key, value, kwargs))
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery


def pipe_with(producer: FakeProducer) -> Any:
    return cast(Any, SimpleNamespace(app=SimpleNamespace(producer=producer)))


async def test_the_record_goes_to_the_producer_with_its_key_and_headers() -> None:
    producer = FakeProducer()
    await send_record(pipe_with(producer), "t.resolved", b"acme", b"{}", [("h", b"1")])
    assert producer.sent == [
        (
            "t.resolved",
            b"acme",
            b"{}",
            {"partition": None, "timestamp": None, "headers": [("h", b"1")]},
        )
    ]


async def test_a_record_the_client_cannot_deliver_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = FakeProducer()
    await send_record(pipe_with(producer), "t.resolved", b"acme", b"{}", [])
    with caplog.at_level(logging.WARNING, logger="stream.record_io"):
        producer.deliveries[0].set_exception(TimeoutError("no leader"))
        await asyncio.sleep(0)  # the done callback runs on the next turn
    assert "could not be delivered" in caplog.text
    assert "no leader" in caplog.text
