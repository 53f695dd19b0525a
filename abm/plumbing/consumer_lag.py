"""Consumer lag of a consumer group: how far the engine is behind its input topics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from abm.plumbing.topics_admin import partitions_of
from abm.settings import CommonSettings


async def group_lag(
    settings: CommonSettings, group_id: str, topics: Iterable[str]
) -> dict[str, int]:
    """Records not yet committed by `group_id`, per topic (a partition never committed counts
    from its beginning)."""
    names = list(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        partitions = await partitions_of(settings.kafka_bootstrap_servers, names)
        tps = [TopicPartition(name, p) for name in names for p in partitions[name]]
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group_id, partitions=tps)
        lag = dict.fromkeys(names, 0)
        for tp in tps:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else begins[tp]
            lag[tp.topic] += max(0, ends[tp] - position)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def wait_caught_up(
    settings: CommonSettings,
    group_id: str,
    topics: Iterable[str],
    timeout_s: float,
    poll_s: float = 0.5,
) -> float:
    """Wait until the group has committed everything in `topics`; returns the monotonic time it
    was first seen caught up. Raises TimeoutError with the remaining lag."""
    names = list(topics)
    deadline = time.monotonic() + timeout_s
    lag: dict[str, int] = {}
    while time.monotonic() < deadline:
        try:
            lag = await group_lag(settings, group_id, names)
        except KafkaError:  # e.g. the group's coordinator is not elected yet
            lag = {}
        else:
            if not any(lag.values()):
                return time.monotonic()
        await asyncio.sleep(poll_s)
    raise TimeoutError(f"consumer group {group_id} still behind after {timeout_s:.0f} s: {lag}")
