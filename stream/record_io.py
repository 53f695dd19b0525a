"""Small helpers for reading and writing Kafka records inside agents (headers, dead letters)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from abm.core.marketing_channel import channel_of_record
from stream import metrics, topics

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)


def header(event: Any, name: str) -> str | None:
    """A header value of the event's Kafka record, decoded, or None."""
    return topics.header_text(event.message.headers, name)


def source_of(event: Any) -> str:
    message = event.message
    return f"{message.topic}/{message.partition}/{message.offset}"


def ingest_ms(event: Any) -> int:
    """When the record entered Kafka (its timestamp), epoch ms."""
    return int(float(event.message.timestamp) * 1000)


async def send_dead_letter(
    pipe: Pipeline, event: Any, stage: str, reason: str, detail: str
) -> None:
    """Park the record as received, with why, and count it by the channel its bytes still tell
    (`abm.core.marketing_channel.channel_of_record`); the stream goes on."""
    channel = channel_of_record(
        event.message.value or b"", pipe.model, pipe.settings.max_event_bytes
    )
    metrics.DEAD_LETTERS.labels(stage=stage, reason=reason, channel=channel).inc()
    log.warning("dead letter %s (%s): %s at %s", reason, stage, detail, source_of(event))
    await send_record(
        pipe,
        pipe.topic_name(topics.DEAD_LETTER),
        event.message.key,
        event.message.value,
        [
            (topics.HEADER_REASON, reason.encode()),
            (topics.HEADER_DETAIL, detail[:1000].encode()),
            (topics.HEADER_SOURCE, source_of(event).encode()),
            ("abm-stage", stage.encode()),
        ],
    )


async def send_record(
    pipe: Pipeline,
    topic: str,
    key: bytes | None,
    value: bytes,
    headers: Sequence[tuple[str, bytes]],
) -> None:
    """Hand a record to the worker's producer, as Faust's `Topic.send` does in the end, without
    what it does first for every record: wrap it (a `FutureMessage`, a `PendingMessage`, a
    callback, the sensors' bookkeeping) and declare the topic again (`Topic.maybe_declare`, whose
    stampede guard resets after each call, so every send asks the producer to create the topic
    and yields to the event loop six times). Those yields let the producer send a request
    between any two records of a batch: the batch that the resolution agent sends at once
    reached the broker in many small requests, which the engagement agent then fetched as
    many small fetches. Handing them over here, one worker processed 1.5-1.7 times the
    messages per second (docs/benchmarks.md, the tenth run).

    Delivery is as sure: Faust flushes this same producer before every commit, so an input
    offset is committed only after what was sent for it is written. A record the client still
    cannot deliver after its retries is logged, as Faust logs it. The topic must exist (the
    worker creates every topic before it starts)."""
    delivery = await pipe.app.producer.send(
        topic, key, value, partition=None, timestamp=None, headers=list(headers)
    )
    cast("asyncio.Future[Any]", delivery).add_done_callback(_log_failed_delivery)


def _log_failed_delivery(delivery: asyncio.Future[Any]) -> None:
    if not delivery.cancelled() and delivery.exception() is not None:
        log.warning("a record could not be delivered: %r", delivery.exception())
