"""The account index: the standings (`abm.core.reach.Standing`) of the accounts this worker
owns, read from the engagement table itself, for the gauges and the account pages.

Nothing here keeps a second copy of the state that could drift: the index only caches the slim
decoded form of each table value and checks it against the value on every use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from yarl import URL

from abm.core.reach import Standing, slim, standing
from abm.core.state import AccountState

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)

_YIELD_EVERY: Final = 500
"""Accounts decoded between two yields to the event loop during a scan."""


class AccountIndex:
    """The slim state (`abm.core.reach.slim`) of every account this worker owns.

    A cache of the table, never a copy: each use walks the table, keeps an entry only while the
    stored bytes are equal to the ones it was decoded from, and leaves out accounts whose table
    partition belongs to another worker (the in-memory store keeps rows of partitions that moved
    away until the next recovery).
    """

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self._cache: dict[bytes, tuple[bytes, AccountState]] = {}
        self.reference_ms: int | None = None
        """The event-time reference (epoch ms): the latest event time among the owned accounts
        at the last refresh, raised to the engine-wide one by the account-figures timer."""

    def owns(self) -> Callable[[bytes], bool] | None:
        """A predicate "this worker owns the key", or None before the first assignment."""
        app = self.pipe.app
        table_name = self.pipe.engagement_table.name
        if not app.router.table_metadata(table_name):
            return None
        me = ident(URL(str(app.conf.canonical_url)))

        def owned(key: bytes) -> bool:
            try:
                return ident(app.router.key_store(table_name, key)) == me
            except KeyError:
                return False

        return owned

    async def refresh(self) -> list[AccountState] | None:
        """Slim states of the owned accounts; None while partitions are not assigned yet."""
        owned = self.owns()
        if owned is None:
            return None
        rows = list(self.pipe.engagement_table.items())
        states: list[AccountState] = []
        fresh: dict[bytes, tuple[bytes, AccountState]] = {}
        decoded = 0
        for key, value in rows:
            if not value or not owned(key):
                continue
            cached = self._cache.get(key)
            if cached is not None and cached[0] == value:
                state = cached[1]
            else:
                try:
                    state = slim(AccountState.from_bytes(value))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("account %r: state cannot be read: %s", key, exc)
                    continue
                decoded += 1
                if decoded % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            fresh[key] = (value, state)
            states.append(state)
        self._cache = fresh
        local = max((s.clock_ms for s in states), default=None)
        if local is not None:
            self.reference_ms = max(local, self.reference_ms or 0)
        return states

    def standings(self, states: list[AccountState], at_ms: int | None) -> list[Standing]:
        """The states judged at `at_ms` (epoch ms; never before an account's own clock, which is
        also what None means)."""
        model = self.pipe.model
        return [standing(s, model, at_ms) for s in states]


def ident(url: URL) -> tuple[str, int]:
    """(host, port) of a worker URL, as Faust's router compares them."""
    return (url.host or url.path or "", int(url.port or 80))
