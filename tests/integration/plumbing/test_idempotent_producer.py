"""The renewing producer against the real broker: after the broker refused its sequence, the
next send goes through a new producer instead of failing the same way for ever."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber

from abm.plumbing.idempotent_producer import RenewingProducer
from stream.topics import RAW
from tests.support.harness import create_topics, gap_producer_sequence, make_settings, read_topic

pytestmark = pytest.mark.integration


async def test_a_producer_out_of_sequence_is_replaced_for_the_next_send(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(kafka_bootstrap, redis_url, tmp_path)
    await create_topics(settings)
    topic = RAW.name(settings.topic_prefix)
    made: list[AIOKafkaProducer] = []

    def make() -> AIOKafkaProducer:
        made.append(
            AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
        )
        return made[-1]

    producer = RenewingProducer(make)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"before", key=b"acct-1")
        gap_producer_sequence(made[0])

        with pytest.raises(OutOfOrderSequenceNumber):
            await producer.send_and_wait(topic, b"refused", key=b"acct-1")
        sent = await asyncio.gather(
            *(producer.send_and_wait(topic, b"after", key=b"acct-1") for _ in range(2))
        )

        assert len(sent) == 2
        assert (producer.renewals, len(made)) == (1, 2)  # one new producer for both sends
        records = await read_topic(settings, RAW, until=3, timeout_s=10)
        assert [r.value for r in records] == [b"before", b"after", b"after"]
    finally:
        await producer.stop()
