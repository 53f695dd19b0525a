"""The worker refuses to run on account states it cannot read.

After the engagement table is recovered from its changelog, and before any touchpoint is
processed (Faust calls table recovery callbacks before it resumes the input partitions), every
stored state's version is checked with `abm.core.state.stored_version`. One this code cannot
read stops the worker with the message of `StateVersionError`, which names `abm state rebuild`:
running on would either crash on that account's next touchpoint or, worse, overwrite it.

Cost: one `stored_version` per account plus one full decode per distinct version, done once per
process, at its first recovery: 42 us per state of 6.6 KB (version 1, the simulated data, on a
busy 2-core machine), so about 4 s for 100,000 such accounts, less for smaller states; the
in-memory store's recovery of that many takes far longer (docs/benchmarks.md). Partitions
assigned later (a rebalance) are not scanned again: there the agent's own decoding raises the
same error on the first unreadable state it meets, and the worker stops the same way before
that batch is acked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from abm.core.state import AccountState, StateVersionError, stored_version

log = logging.getLogger(__name__)


def first_unreadable(values: Iterable[bytes | None]) -> StateVersionError | None:
    """The error for the first stored state of a version this code cannot read, or None.

    `stored_version` peeks at each state; the first state of each version seen is decoded in
    full (`AccountState.from_bytes`, which converts the older versions it can read and raises
    `StateVersionError` for the others), so the core alone decides what is readable.
    """
    verdicts: dict[str, StateVersionError | None] = {}
    for raw in values:
        if not raw:
            continue
        version = repr(stored_version(raw))
        if version not in verdicts:
            verdicts[version] = _verdict(raw)
        error = verdicts[version]
        if error is not None:
            return error
    return None


def _verdict(raw: bytes) -> StateVersionError | None:
    try:
        AccountState.from_bytes(raw)
    except StateVersionError as exc:
        return exc
    except (ValueError, KeyError, TypeError):
        return None  # damaged, not of another version: the agent's own path deals with it
    return None


class StateGuard:
    """Stops the worker on an unreadable stored state and keeps the error for `abm worker` to
    report (its exit code and message)."""

    def __init__(self) -> None:
        self.refusal: StateVersionError | None = None
        self.stop: Callable[[], Awaitable[Any]] | None = None
        """Stops the worker process (set by `stream.worker.run_worker`)."""
        self.checked = False
        self._stopping: asyncio.Future[Any] | None = None

    def check(self, values: Iterable[bytes | None]) -> None:
        """Scan the recovered table once per process (see the module's docstring)."""
        if self.checked:
            return
        self.checked = True
        error = first_unreadable(values)
        if error is not None:
            self.refuse(error)

    def refuse(self, error: StateVersionError) -> None:
        if self.refusal is None:
            self.refusal = error
            log.error("%s", error)
        if self.stop is None:
            raise error
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self.stop())
