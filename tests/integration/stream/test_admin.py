"""Topic creation and the managed topic configs, on the real broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from abm.plumbing.topics_admin import ConfigChange, configure_topics, ensure_topics
from abm_cli.settings import Settings
from stream.topics import MQA, RAW, RESOLVED, engagement_changelog
from tests.support.harness import make_settings

DAY_MS = 86_400_000


async def own_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The topic's own configs as the broker reports them (source: set on the topic)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(_, _, _, _, entries, *_)] = response.resources
        return {name: value for name, value, _, source, *_ in entries if source == 1}
    finally:
        await admin.close()


async def set_configs(settings: Settings, topic: str, configs: dict[str, str]) -> None:
    """Replace the topic's own configs, as an operator's tool would."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs)]
        )
        assert [error for error, *_ in response.resources] == [0], response
    finally:
        await admin.close()
    for _ in range(100):  # the broker applies it a moment after answering
        if await own_configs(settings, topic) == configs:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the broker did not apply {configs} to {topic}")


@pytest.fixture
def settings(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        kafka_bootstrap, redis_url, tmp_path, raw_retention_days=2, resolved_retention_days=400
    )


async def test_new_topics_get_the_retention_of_the_settings(settings: Settings) -> None:
    await ensure_topics(settings)
    prefix = settings.topic_prefix
    raw = await own_configs(settings, RAW.name(prefix))
    resolved = await own_configs(settings, RESOLVED.name(prefix))
    assert raw["retention.ms"] == str(2 * DAY_MS)
    assert resolved["retention.ms"] == str(400 * DAY_MS)
    assert "retention.ms" not in await own_configs(settings, MQA.name(prefix))
    assert await configure_topics(settings) == []  # nothing left to change


async def test_configure_brings_existing_topics_to_the_settings_and_keeps_other_configs(
    settings: Settings,
) -> None:
    await ensure_topics(settings)
    raw = RAW.name(settings.topic_prefix)
    await set_configs(settings, raw, {"retention.ms": str(DAY_MS), "segment.bytes": "1048576"})
    changelog = engagement_changelog(settings.app_id)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:  # a changelog made before the compaction bound existed
        await admin.create_topics(
            [NewTopic(changelog, 2, 1, topic_configs={"cleanup.policy": "compact"})]
        )
    finally:
        await admin.close()
    await set_configs(settings, changelog, {"cleanup.policy": "compact"})  # and wait for it

    planned = await configure_topics(settings, apply=False)
    assert set(planned) == {
        ConfigChange(raw, "retention.ms", str(DAY_MS), str(2 * DAY_MS)),
        ConfigChange(changelog, "max.compaction.lag.ms", None, str(DAY_MS)),
    }
    assert (await own_configs(settings, raw))["retention.ms"] == str(DAY_MS)  # a dry run

    assert set(await configure_topics(settings)) == set(planned)
    assert await own_configs(settings, raw) == {
        "retention.ms": str(2 * DAY_MS),
        "segment.bytes": "1048576",
    }
    assert await own_configs(settings, changelog) == {
        "cleanup.policy": "compact",
        "max.compaction.lag.ms": str(DAY_MS),
    }
    assert await configure_topics(settings) == []
