"""`abm mqa tail`: MQA events as they arrive, as text or one JSON object a line.

Reads the MQA topic without a consumer group (nothing is committed, nothing is taken from other
readers) and shows each MQA id once, even when the engine re-sent it after a crash.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from abm.core.mqa_event import MqaEvent
from abm.core.privacy import pseudonyms_in
from abm.plumbing.topics_admin import partitions_of
from abm.settings import AlertSettings
from alerting.render import render_text
from stream.topics import MQA


async def tail_text(event: Any, names_of: Callable[[set[str]], Awaitable[dict[str, str]]]) -> str:
    """The text `abm mqa tail` prints for an MQA record (decoded JSON): the console rendering
    of the typed event with its persons named by `names_of` (the directory's lookup). Raises
    `MqaEventError` for a record that is not an MQA event."""
    typed = MqaEvent.from_dict(event)
    return render_text(typed.revealed(await names_of(pseudonyms_in(event))))


async def mqa_events(
    settings: AlertSettings,
    *,
    from_beginning: bool = False,
    idle_timeout_s: float | None = None,
    topic: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """MQA events, each id once; stops after `idle_timeout_s` without a new one (None: never)."""
    name = topic or MQA.name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    seen: set[str] = set()
    try:
        partitions = await partitions_of(settings.kafka_bootstrap_servers, [name])
        tps = [TopicPartition(name, p) for p in partitions[name]]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        last_event = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = orjson.loads(record.value)
                    if event["mqa_id"] in seen:
                        continue
                    seen.add(event["mqa_id"])
                    last_event = time.monotonic()
                    yield event
            if idle_timeout_s is not None and time.monotonic() - last_event > idle_timeout_s:
                return
    finally:
        await consumer.stop()
