"""Creates the engine's topics when they are missing (Faust creates only its own changelogs)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from abm.settings import CommonSettings
from stream.topics import (
    ALL_TOPICS,
    TopicSpec,
    changelog_configs,
    engagement_changelog,
    topic_configs,
)

DYNAMIC_TOPIC_CONFIG = 1
"""DescribeConfigs' source of a config set on the topic itself (not a broker default)."""


async def ensure_topics(
    settings: CommonSettings, specs: tuple[TopicSpec, ...] = ALL_TOPICS, timeout_s: float = 30.0
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
                topic_configs=topic_configs(spec, settings),
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


@dataclass(frozen=True)
class ConfigChange:
    """A managed config of an existing topic that differs from what the settings say."""

    topic: str
    name: str
    current: str | None
    """The topic's own value; None when it follows the broker's default."""
    wanted: str


def managed_configs(settings: CommonSettings) -> dict[str, dict[str, str]]:
    """Every topic name the engine manages configs of, with those configs: its own topics and
    the engagement table's changelog (created by Faust, with `changelog_configs` added)."""
    wanted = {
        spec.name(settings.topic_prefix): topic_configs(spec, settings) for spec in ALL_TOPICS
    }
    wanted[engagement_changelog(settings.app_id)] = changelog_configs(settings)
    return wanted


async def configure_topics(
    settings: CommonSettings, *, apply: bool = True, timeout_s: float = 30.0
) -> list[ConfigChange]:
    """Bring the managed configs of the existing topics to the settings (retention of
    touchpoints.raw and .resolved, the changelog's compaction lag); returns what differed.

    Kafka's AlterConfigs replaces a topic's whole set of own configs, so the topic's other own
    configs (set by an operator) are read first and written back unchanged. Missing topics are
    skipped: they get these configs when they are created."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
    )
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        wanted = {t: c for t, c in managed_configs(settings).items() if t in existing and c}
        if not wanted:
            return []
        own = await _own_configs(admin, sorted(wanted))
        changes = [
            ConfigChange(topic, name, own[topic].get(name), value)
            for topic, configs in wanted.items()
            for name, value in configs.items()
            if own[topic].get(name) != value
        ]
        changed = {change.topic for change in changes}
        if apply and changed:
            resources = [
                ConfigResource(ConfigResourceType.TOPIC, t, {**own[t], **wanted[t]})
                for t in sorted(changed)
            ]
            for response in await admin.alter_configs(resources):
                for error_code, error_message, _, name in response.resources:
                    if error_code:
                        error = for_code(error_code)
                        raise error(f"cannot configure topic {name}: {error_message or error}")
            await _wait_configured(admin, {t: wanted[t] for t in changed}, timeout_s)
        return changes
    finally:
        await admin.close()


async def _wait_configured(
    admin: AIOKafkaAdminClient, wanted: dict[str, dict[str, str]], timeout_s: float
) -> None:
    """Until the broker reports the new configs (it applies them a moment after answering), so
    that the next command reads what this one wrote."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        own = await _own_configs(admin, sorted(wanted))
        late = [
            t
            for t, configs in wanted.items()
            if any(own[t].get(k) != v for k, v in configs.items())
        ]
        if not late:
            return
        if loop.time() > deadline:
            raise TimeoutError(
                f"the broker did not apply the configs of {', '.join(late)} in {timeout_s:.0f} s"
            )
        await asyncio.sleep(0.1)


async def _own_configs(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's own configs (not the broker's defaults), by name."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
    found: dict[str, dict[str, str]] = {t: {} for t in topics}
    for response in await admin.describe_configs(resources):
        for resource in response.resources:
            error_code, error_message, _, name, entries = resource[:5]
            if error_code:
                error = for_code(error_code)
                raise error(f"cannot read the configs of topic {name}: {error_message or error}")
            found[name] = {
                entry[0]: entry[1] for entry in entries if _is_own(response, entry) and entry[1]
            }
    return found


def _is_own(response: Any, entry: tuple[Any, ...]) -> bool:
    """Whether a DescribeConfigs entry was set on the topic: version 0 says `is_default`, later
    versions the config's source."""
    if response.API_VERSION == 0:
        return not entry[3]
    return bool(entry[3] == DYNAMIC_TOPIC_CONFIG)


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


async def described_partitions(admin: AIOKafkaAdminClient, name: str) -> list[int] | None:
    """The partition numbers of topic `name`, or None when it does not exist."""
    for topic in await admin.describe_topics([name]):
        if topic.get("error_code", 0) == 0 and topic.get("partitions"):
            return sorted(p["partition"] for p in topic["partitions"])
    return None
