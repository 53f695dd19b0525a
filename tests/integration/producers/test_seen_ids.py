"""The messageId memory: found for at least the TTL, then forgotten, a few commands a request."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from producers.sink import SeenIds

pytestmark = pytest.mark.integration

DAY = 86_400


async def test_ids_are_remembered_for_the_ttl_and_then_forgotten(redis_url: str) -> None:
    now = [1_790_000_000.0 + 0.9 * DAY / 4]  # late in a period: the worst case
    seen = SeenIds(aioredis.Redis.from_url(redis_url), f"t-{uuid.uuid4().hex[:8]}", DAY,
                   clock=lambda: now[0])  # fmt: skip
    try:
        assert await seen.seen(["a", "b"]) == set()
        await seen.remember(["a", "x" * 5000])
        assert await seen.seen(["a", "b", "x" * 5000]) == {"a", "x" * 5000}
        now[0] += DAY - 1
        assert await seen.seen(["a", "b"]) == {"a"}
        now[0] += DAY / 4 + 2
        assert await seen.seen(["a"]) == set()
    finally:
        await seen.close()


async def test_a_ttl_of_zero_turns_the_memory_off(redis_url: str) -> None:
    seen = SeenIds(aioredis.Redis.from_url(redis_url), f"t-{uuid.uuid4().hex[:8]}", 0)
    try:
        await seen.remember(["a"])
        assert await seen.seen(["a"]) == set()
    finally:
        await seen.close()
