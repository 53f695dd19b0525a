"""Keeps the directory's pseudonym index (`DirectoryStore.remember_pseudonyms`) current from
the resolution agent, without a Redis write per touchpoint.

The agent notes each known person it resolves; `flush` writes, in one round trip per batch, the
persons not written by this process within the last `RENEW_S` seconds (or whose name changed).
The renewal keeps each entry alive while the person is active: an entry expires `ttl_s` after
the person's latest touchpoint, give or take a day.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from abm.directory.store import DirectoryStore

RENEW_S: Final = 86_400
"""An entry this process wrote is written again (its expiry renewed) after this long, seconds."""
MAX_REMEMBERED: Final = 100_000
"""Persons whose latest write this process remembers (about 15 MB); past it the least recently
noted are forgotten, and written again on their next touchpoint."""


class PseudonymIndexer:
    def __init__(
        self,
        store: DirectoryStore,
        ttl_s: int,
        clock: Callable[[], float] = time.monotonic,
        max_remembered: int = MAX_REMEMBERED,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._max = max_remembered
        self._written: OrderedDict[str, tuple[str, float]] = OrderedDict()
        """pseudonym -> (name, when written), least recently noted first."""
        self._pending: dict[str, str] = {}

    def note(self, pseudonym: str, name: str) -> None:
        """A known person was resolved: index them at the next `flush` unless written lately."""
        now = self._clock()
        written = self._written.get(pseudonym)
        if written is not None:
            self._written.move_to_end(pseudonym)
            if written[0] == name and now - written[1] < RENEW_S:
                return
        self._pending[pseudonym] = name

    async def flush(self) -> None:
        """Write what was noted since the last flush (one round trip); raises what Redis raises,
        keeping the notes for the next attempt."""
        if not self._pending:
            return
        await self._store.remember_pseudonyms(self._pending, self._ttl_s)
        now = self._clock()
        for pseudonym, name in self._pending.items():
            self._written[pseudonym] = (name, now)
            self._written.move_to_end(pseudonym)
        self._pending = {}
        while len(self._written) > self._max:
            self._written.popitem(last=False)

    def __len__(self) -> int:
        return len(self._written)
