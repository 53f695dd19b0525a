"""Creates the engine's topics when they are missing (Faust creates only its own changelogs)."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from abm.settings import Settings
from stream.topics import ALL_TOPICS, TopicSpec


async def ensure_topics(
    settings: Settings, specs: tuple[TopicSpec, ...] = ALL_TOPICS, timeout_s: float = 30.0
) -> list[str]:
    """Create every missing topic with the configured partitions; returns the names created."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
    )
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        wanted = {spec.name(settings.topic_prefix): spec for spec in specs}
        missing = [
            NewTopic(
                name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=_configs(spec),
            )
            for name, spec in wanted.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                await admin.create_topics(missing, timeout_ms=int(timeout_s * 1000))
            await _wait_visible(admin, {t.name for t in missing}, timeout_s)
        return sorted(t.name for t in missing)
    finally:
        await admin.close()


async def _wait_visible(admin: AIOKafkaAdminClient, names: set[str], timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if names <= set(await admin.list_topics()):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"topics not visible after {timeout_s:.0f} s: {sorted(names)}")


def _configs(spec: TopicSpec) -> dict[str, str]:
    configs: dict[str, str] = {}
    if spec.compacted:
        configs["cleanup.policy"] = "compact"
    if spec.retention_ms is not None:
        configs["retention.ms"] = str(spec.retention_ms)
    return configs


async def partitions_of(
    bootstrap: str, names: list[str], timeout_s: float = 30.0
) -> dict[str, list[int]]:
    """Partition numbers of existing topics (a missing topic is an error that names it).

    Asked of the admin API: a plain consumer's metadata only learns topics it subscribes to.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        found: dict[str, list[int]] = {}
        for topic in await admin.describe_topics(names):
            if topic.get("error_code", 0) == 0 and topic.get("partitions"):
                found[topic["topic"]] = sorted(p["partition"] for p in topic["partitions"])
        missing = [name for name in names if name not in found]
        if missing:
            raise LookupError(f"topics do not exist: {', '.join(missing)} (`abm topics create`)")
        return found
    finally:
        await admin.close()
