"""The suppression list: persons whose new events are dropped (an objection to profiling, or a
forgotten person), held as keyed pseudonyms (`abm.core.privacy`) in Redis.

Redis keys, under the deployment's prefix:

- `{prefix}:privacy:suppressed`: a set of pseudonyms;
- `{prefix}:privacy:suppressed:links:{pseudonym}`: the pseudonyms suppressed with a person's
  (the userIds and anonymousIds its e-mail was linked to), lifted with it;
- `{prefix}:privacy:suppressed:version`: a counter raised by every change, so that the
  collector and the workers, which keep a copy of the set in memory, reload it only when it
  changed (they look every `ABM_PRIVACY_REFRESH_S`, 1 s).

The list grows with requests, not with traffic; it is still bounded, at `MAX_SUPPRESSED`
pseudonyms (about 60 bytes each in a process's copy, so 6 MB at the bound).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from abm.core.privacy import Identity, clear_key_pseudonym, message_pseudonyms
from abm.core.segment import SegmentMessage

MAX_SUPPRESSED: Final = 100_000
"""Pseudonyms the list may hold; `add` refuses more (an error naming the bound)."""

_ADD: Final = """
local fresh = 0
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then fresh = fresh + 1 end
end
if fresh == 0 then return 0 end
if redis.call('SCARD', KEYS[1]) + fresh > tonumber(ARGV[1]) then return -1 end
for i = 2, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
redis.call('INCR', KEYS[2])
return fresh
"""
"""Adds the pseudonyms (ARGV[2..]) unless the set would pass the bound (ARGV[1]): -1 then;
raises the version when something was added. One script, so the bound holds with several
writers."""


class SuppressionFull(RuntimeError):
    """The list is at `MAX_SUPPRESSED`."""


class SuppressionList:
    """Writes to the list (the `abm privacy` commands) and a copy of it for the hot paths."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        key: bytes,
        *,
        refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        limit: int = MAX_SUPPRESSED,
    ) -> None:
        self._redis = redis
        self._set = f"{prefix}:privacy:suppressed"
        self._version = f"{prefix}:privacy:suppressed:version"
        self._key = key
        self._refresh_s = refresh_s
        self._clock = clock
        self._limit = limit
        self._copy: frozenset[str] = frozenset()
        self._copy_version: bytes | str | None = None
        self._checked_at: float | None = None

    async def close(self) -> None:
        await self._redis.aclose()

    # --- changes ------------------------------------------------------------------------------

    async def add(self, person: Identity, linked: Iterable[Identity] = ()) -> int:
        """Suppress a person: `person` and the identities `linked` to it (an e-mail's userIds
        and anonymousIds from the directory), remembered with it so that `remove` lifts them
        too. Returns how many pseudonyms were not suppressed before."""
        main = person.pseudonym(self._key)
        others = sorted({i.pseudonym(self._key) for i in linked} - {main})
        script: Any = self._redis.eval(
            _ADD, 2, self._set, self._version, self._limit, main, *others
        )
        added = int(await script)
        if added < 0:
            raise SuppressionFull(
                f"the suppression list holds its maximum of {self._limit:,} persons"
            )
        if others:
            await self._redis.sadd(self._links(main), *others)
        return added

    async def remove(self, person: Identity) -> int:
        """Lift a person's suppression, with the identities suppressed with it; returns how
        many pseudonyms were suppressed."""
        main = person.pseudonym(self._key)
        links = self._links(main)
        others = sorted(m.decode() if isinstance(m, bytes) else m for m in
                        await self._redis.smembers(links))  # fmt: skip
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.srem(self._set, main, *others)
            pipe.delete(links)
            pipe.incr(self._version)
            removed, _, _ = await pipe.execute()
        return int(removed)

    def _links(self, pseudonym: str) -> str:
        return f"{self._set}:links:{pseudonym}"

    async def holds(self, identity: Identity) -> bool:
        """Whether `identity` is suppressed now (asks Redis, not the copy)."""
        return bool(await self._redis.sismember(self._set, identity.pseudonym(self._key)))

    async def size(self) -> int:
        return int(await self._redis.scard(self._set))

    # --- the copy the hot paths read ----------------------------------------------------------

    async def refresh(self, *, force: bool = False) -> None:
        """Reload the copy if the list changed; asks Redis at most every `refresh_s` seconds
        (one GET), and for the whole set only after a change."""
        now = self._clock()
        if not force and self._checked_at is not None and now - self._checked_at < self._refresh_s:
            return
        version = await self._redis.get(self._version)
        if force or version != self._copy_version or self._checked_at is None:
            members = await self._redis.smembers(self._set)
            self._copy = frozenset(m.decode() if isinstance(m, bytes) else m for m in members)
            self._copy_version = version
        self._checked_at = now

    @property
    def active(self) -> bool:
        """Whether the copy holds anybody (checks cost nothing while it does not)."""
        return bool(self._copy)

    async def refresh_or_keep(self) -> bool:
        """`refresh`, keeping the copy as it is while Redis does not answer (for a stage that
        must go on without Redis); False then."""
        try:
            await self.refresh()
        except (RedisError, OSError):
            return False
        return True

    def suppresses_contact(self, contact: str) -> bool:
        """Whether the person a touchpoint names (by pseudonym, or by a clear key in a record of
        an earlier version) is on the list (as of the last refresh)."""
        if not self._copy:
            return False
        return clear_key_pseudonym(contact, self._key) in self._copy

    def suppresses(self, message: SegmentMessage) -> bool:
        """Whether any identity of `message` is on the list (as of the last refresh)."""
        if not self._copy:
            return False
        return any(p in self._copy for p in message_pseudonyms(message, self._key))
