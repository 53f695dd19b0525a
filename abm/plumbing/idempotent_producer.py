"""An idempotent Kafka producer that is replaced when the broker no longer accepts its sequence.

An idempotent producer numbers its records per partition, and the broker refuses a record whose
number does not follow the last one it wrote. After an outage that state can be lost: a batch
failed, and every later one is out of sequence. The Java client then starts a new sequence;
aiokafka does not, so each later send fails the same way, for ever (seen in a chaos run of the
collector). Whoever sends through this class gets that one failure raised, and the next send
goes through a new producer (a new producer id). The caller retries as after any failed send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

log = logging.getLogger(__name__)

PRODUCER_STATE_LOST: Final = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
)
"""Failures after which the producer's sequence numbers no longer match the broker's: every
later record of the same producer would fail the same way, so it is replaced."""


class RenewingProducer:
    """`make()`'s idempotent producer for `send_and_wait`, replaced by a new one from `make()`
    after a failure in `PRODUCER_STATE_LOST` (counted in `renewals`)."""

    def __init__(self, make: Callable[[], AIOKafkaProducer]) -> None:
        self._make = make
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()  # concurrent sends start one producer, not one each
        self.renewals = 0

    async def start(self) -> None:
        async with self._starting:
            if self._producer is not None:
                return
            producer = self._make()
            await producer.start()
            self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> Any:
        """The record's metadata once the broker acknowledged it; raises what the producer
        raises. After a failure in `PRODUCER_STATE_LOST`, the next call sends through a new
        producer (started then, if it could not be at once)."""
        if self._producer is None:
            await self.start()
        producer = self._producer
        assert producer is not None
        try:
            return await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except PRODUCER_STATE_LOST as exc:
            current = self._producer is producer  # not renewed by a send failing with it too
            if current:
                log.warning("Kafka lost this producer's sequence (%r); starting a new one", exc)
                self._producer = None
                self.renewals += 1
                with contextlib.suppress(Exception):
                    await producer.stop()
            raise
