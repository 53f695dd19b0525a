"""What the privacy tests share."""

from __future__ import annotations

import redis.asyncio as aioredis


async def everything_stored(redis: aioredis.Redis, prefix: str) -> bytes:
    """Every key and value under the prefix, as one blob to search."""
    parts: list[bytes | str] = []
    async for key in redis.scan_iter(match=f"{prefix}:*"):
        parts.append(key)
        kind = await redis.type(key)
        if kind == b"set":
            parts.extend(await redis.smembers(key))
        elif kind == b"string":
            parts.append(await redis.get(key) or b"")
    return b"\n".join(p if isinstance(p, bytes) else p.encode() for p in parts)
