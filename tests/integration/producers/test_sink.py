"""The collector's Kafka sink against the real broker: a producer whose sequence the broker no
longer accepts is replaced, so the collector recovers instead of answering 503 for ever."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from producers.sink import KafkaSink, Unavailable
from stream.topics import RAW
from tests.support.collector import collector_settings, read_all
from tests.support.harness import create_topics, gap_producer_sequence

pytestmark = pytest.mark.integration


async def deliver_like_an_sdk(sink: KafkaSink, value: bytes, attempts: int = 60) -> int:
    """Deliver until acknowledged, waiting half a second after each refusal; returns the number
    of refusals."""
    for refused in range(attempts):
        try:
            await sink.deliver([(b"acct-1", value)])
        except Unavailable:
            await asyncio.sleep(0.5)
        else:
            return refused
    raise AssertionError(f"still refused after {attempts} attempts: {sink.last_error}")


async def test_a_producer_out_of_sequence_is_replaced(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """After an outage, aiokafka can be left with sequence numbers the broker refuses for every
    later batch (OUT_OF_ORDER_SEQUENCE_NUMBER; seen in the chaos run). A gap in the producer's
    numbers makes the broker refuse the same way here."""
    settings = collector_settings(kafka_bootstrap, redis_url, tmp_path)
    await create_topics(settings)
    sink = KafkaSink(settings, RAW.name(settings.topic_prefix), ack_timeout_s=5, max_pending=100)
    await sink.start()
    renewals_before = REGISTRY.get_sample_value("abm_collector_producer_renewals_total") or 0.0
    try:
        await sink.deliver([(b"acct-1", b"before")])
        gap_producer_sequence(sink._producer)

        with pytest.raises(Unavailable, match="OutOfOrderSequenceNumber"):
            await sink.deliver([(b"acct-1", b"refused")])
        refused = await deliver_like_an_sdk(sink, b"after")

        assert sink.renewals == 1
        renewals = REGISTRY.get_sample_value("abm_collector_producer_renewals_total")
        assert renewals == renewals_before + 1
        assert refused >= 1  # "not connected" while the new producer connects
        values = [record.value for record in await read_all(settings, RAW)]
        assert values == [b"before", b"after"]
    finally:
        await sink.stop()
