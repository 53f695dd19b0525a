"""Slack Retry-After holds shared through Redis, so every instance of the service, and the next
one after a restart, honours a hold Slack asked for.

Key `{prefix}:alert:slack-hold:{workspace}` (string, expiring with the hold): `workspace` is a
short SHA-256 fingerprint of the bot token or webhook URL (never the secret itself), so one
Redis can serve installations posting to different workspaces. The hold's remaining time is the
key's TTL on Redis's own clock, so instances with skewed clocks agree. A longer hold is never
shortened by a shorter one.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS[1] hold key; ARGV hold ms
_HOLD: Final = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""


def workspace_id(secret: str) -> str:
    """A fingerprint of the token or webhook naming the workspace in keys (16 hex digits)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class RedisHolds:
    """The workspace's hold in Redis. A Redis error is logged and read as "no shared hold": the
    channel still keeps its own hold in memory."""

    def __init__(self, redis: aioredis.Redis, prefix: str, workspace: str) -> None:
        self._redis = redis
        self.key = f"{prefix}:alert:slack-hold:{workspace}"
        self._hold = redis.register_script(_HOLD)

    async def hold(self, seconds: float) -> None:
        """Hold every post to the workspace for `seconds` (at least; a longer hold stays)."""
        try:
            await self._hold(keys=[self.key], args=[max(1, int(seconds * 1000))])
        except (RedisError, OSError) as exc:
            log.warning("storing the Slack hold failed (%s); holding in this instance only",
                        type(exc).__name__)  # fmt: skip

    async def remaining_s(self) -> float:
        """Seconds left of the workspace's hold, 0 when none."""
        try:
            left = int(await self._redis.pttl(self.key))
        except (RedisError, OSError) as exc:
            log.warning("reading the Slack hold failed (%s)", type(exc).__name__)
            return 0.0
        return max(0, left) / 1000
