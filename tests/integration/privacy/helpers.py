"""What the privacy tests share."""

from __future__ import annotations

import redis.asyncio as aioredis


async def everything_stored(redis: aioredis.Redis, prefix: str) -> bytes:
    """Every key and value under the prefix (strings, sets, hashes, streams), as one blob."""
    parts: list[bytes | str] = []
    async for key in redis.scan_iter(match=f"{prefix}:*"):
        parts.append(key)
        kind = await redis.type(key)
        if kind == b"set":
            parts.extend(await redis.smembers(key))
        elif kind == b"string":
            parts.append(await redis.get(key) or b"")
        elif kind == b"hash":
            for field, value in (await redis.hgetall(key)).items():
                parts.extend((field, value))
        elif kind == b"stream":
            for _, fields in await redis.xrange(key) or []:
                for field, value in (fields or {}).items():
                    parts.extend((field, value))
    return b"\n".join(p if isinstance(p, bytes) else p.encode() for p in parts)
