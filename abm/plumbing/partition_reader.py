"""Reading a partition from its start: how the offline tools (state rebuild, backtest, privacy
show) scan a topic without a consumer group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

FETCH_TIMEOUT_MS: Final = 1000
"""How long one fetch waits for records, milliseconds."""


async def keyed_records(
    consumer: AIOKafkaConsumer, tp: TopicPartition, end: int
) -> AsyncIterator[tuple[list[ConsumerRecord[bytes, bytes]], int]]:
    """A partition from its start up to `end` (exclusive), fetch by fetch: the records that have
    a key, and the consumer's position after them."""
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    position = await consumer.position(tp)
    while position < end:
        batch = await consumer.getmany(tp, timeout_ms=FETCH_TIMEOUT_MS)
        records = [r for r in batch.get(tp, []) if r.offset < end and r.key is not None]
        position = await consumer.position(tp)
        yield records, position
