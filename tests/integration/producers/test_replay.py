"""`abm replay` (producers/replay.py) on the real broker and Redis."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from abm.core.privacy import Identity
from abm.directory.store import DirectoryKeys
from abm.privacy.suppression import SuppressionList
from producers.replay import replay
from stream.topics import RAW
from tests.support.factories import segment_message
from tests.support.harness import create_topics, make_settings, read_topic

pytestmark = pytest.mark.integration


async def test_a_suppressed_persons_lines_are_neither_sent_nor_learned_from(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(kafka_bootstrap, redis_url, tmp_path)
    await create_topics(settings)
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await SuppressionList(redis, settings.redis_prefix, settings.pseudonym_secret()).add(
            Identity("user_id", "u-obj")
        )
        lines = [
            segment_message("identify", messageId="m-1", userId="u-obj"),
            segment_message("track", messageId="m-2", userId="u-obj"),
            segment_message("track", messageId="m-3", userId="u-dana"),
        ]
        file = tmp_path / "touchpoints.jsonl"
        file.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")

        report = await replay(settings, file, progress=False)

        assert (report.sent, report.suppressed) == (1, 2)
        sent = await read_topic(settings, RAW, until=1, timeout_s=30, settle_s=1)
        assert [r.json()["messageId"] for r in sent] == ["m-3"]
        person = DirectoryKeys(settings.redis_prefix).person("user:u-obj")
        assert not await redis.exists(person)
    finally:
        await redis.aclose()
