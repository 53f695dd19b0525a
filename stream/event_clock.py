"""The engine's event-time reference: the latest event time any worker has seen, shared through
one Redis key (`{redis_prefix}:ops:{app_id}:event-clock-ms`, epoch milliseconds, only ever
raised), so every worker judges its accounts (gauges, pages) at the same moment whatever the
partition assignment."""

from __future__ import annotations

from typing import Final

import redis.asyncio as aioredis

from abm.settings import WorkerSettings

# KEYS[1] the shared clock; ARGV[1] this worker's latest event time (ms). Raises, never lowers.
_RAISE_CLOCK: Final = """
local current = tonumber(redis.call('GET', KEYS[1]))
local mine = tonumber(ARGV[1])
if current == nil or current < mine then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return tostring(current)
"""


def clock_key(settings: WorkerSettings) -> str:
    return f"{settings.redis_prefix}:ops:{settings.app_id}:event-clock-ms"


async def shared_reference(redis: aioredis.Redis, key: str, local_ms: int | None) -> int | None:
    """The engine-wide event-time reference (epoch ms) after offering this worker's latest event
    time; None while no worker has seen an event."""
    if local_ms is None:
        raw = await redis.get(key)
        return int(raw) if raw is not None else None
    reply = await redis.eval(_RAISE_CLOCK, 1, key, str(local_ms))
    return int(reply)
