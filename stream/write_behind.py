"""Write-behind for the engagement agent: a batch of touchpoints, one table write per account.

The agent used to decode an account's state from the table, apply one touchpoint and write the
whole state back, for every touchpoint: a hot account's state was rewritten (and sent to the
changelog) as often as it was touched. Here a batch is applied in order to decoded states, kept
between batches in a bounded LRU cache (`StateCache`), and each account the batch touched is
written once, after the whole batch was applied (`apply_batch`, then the agent writes
`BatchResult.changed`).

The cache holds states newer than the table until the agent writes them (`Unwritten`, once
per flush interval); a state the cache let go is read back from `Unwritten`, never from the
table, until written. It never serves a state across a rebalance: the agent drops the entries
of revoked and assigned partitions (another worker may have changed those accounts meanwhile).

Bounds: the cache holds at most `ABM_ENGAGEMENT_CACHE_ACCOUNTS` states; a batch adds at most
`ABM_ENGAGEMENT_BATCH_SIZE` (its touched accounts, taken out of the cache while it runs).

Nothing here knows Faust: the table is reached through the `load` callable, so the mechanics
are unit-tested without a broker.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from abm.core.engagement import Outcome, apply
from abm.core.model import ScoringModel
from abm.core.state import AccountState, StateVersionError
from abm.core.touchpoint import Touchpoint

log = logging.getLogger(__name__)


class Origin(Protocol):
    """The input record behind a changed state: its table write goes to that record's
    partition (`event`), and a rebalance drops it with its partition."""

    event: Any
    partition: int


@dataclass(slots=True)
class Item:
    """One decoded touchpoint of a batch and the input record it came from."""

    event: Any
    """The Faust event (the table write of the account binds to the last one's partition)."""
    key: bytes
    partition: int
    offset: int
    touchpoint: Touchpoint

    @property
    def source(self) -> str:
        """`partition/offset`: the core's redelivery watermark (see `abm.core.engagement`)."""
        return f"{self.partition}/{self.offset}"


@dataclass(slots=True)
class Applied:
    item: Item
    outcome: Outcome
    tier: str
    """The account's tier when this touchpoint was applied (the state object moves on)."""


@dataclass(slots=True)
class BatchResult:
    applied: list[Applied] = field(default_factory=list)
    """Outcomes in input order."""
    changed: dict[bytes, tuple[Item, AccountState]] = field(default_factory=dict)
    """Every account the batch touched: its last item and final state, to write once."""
    failed: list[tuple[Item, Exception]] = field(default_factory=list)
    """Touchpoints the core raised on (a bug): dead-lettered, their account left as before."""


class StateCache:
    """Decoded account states by key, least recently used evicted beyond `max_accounts`.

    Bound: at most `max_accounts` entries (`ABM_ENGAGEMENT_CACHE_ACCOUNTS`). A decoded state
    takes about 3.4 times its stored size (tracemalloc, the simulated data's 190 accounts), so
    the memory is about the bound x 3.4 x the stored state size.
    Each entry remembers the input partition of its account, so a rebalance can drop exactly
    the partitions that moved.
    """

    def __init__(self, max_accounts: int) -> None:
        if max_accounts < 0:
            raise ValueError("max_accounts must be >= 0")
        self.max_accounts = max_accounts
        self._entries: OrderedDict[bytes, tuple[int, AccountState]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: bytes) -> bool:
        return key in self._entries

    def take(self, key: bytes) -> AccountState | None:
        """Remove and return the state of `key` (the batch owns it until it puts it back)."""
        entry = self._entries.pop(key, None)
        return None if entry is None else entry[1]

    def put(self, key: bytes, partition: int, state: AccountState) -> None:
        """Keep `state` as the most recent entry, evicting the least recent beyond the bound."""
        if self.max_accounts == 0:
            return
        self._entries[key] = (partition, state)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_accounts:
            self._entries.popitem(last=False)

    def drop_partitions(self, partitions: Iterable[int]) -> int:
        """Forget every account of these input partitions; returns how many were dropped."""
        gone = set(partitions)
        if not gone:
            return 0
        keys = [key for key, (partition, _) in self._entries.items() if partition in gone]
        for key in keys:
            del self._entries[key]
        return len(keys)

    def clear(self) -> None:
        self._entries.clear()

    def peek(self, key: bytes) -> AccountState | None:
        """The state of `key`, left where it is (no use counted)."""
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def keys_of(self, partition: int) -> Iterator[bytes]:
        """The accounts of an input partition held here."""
        return (key for key, (p, _) in list(self._entries.items()) if p == partition)


class Unwritten:
    """States changed since the last write to the table, and the events whose effects they
    hold (acked once written); and the states a write in progress is writing (`writing`).
    Bound: at most `ABM_ENGAGEMENT_CACHE_ACCOUNTS` states in each (the agent writes before a
    batch could take it past that), and the events of one flush interval."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        """Seconds, monotonic."""
        self.states: dict[bytes, tuple[Origin, AccountState]] = {}
        self.events: list[Any] = []
        self.writing: dict[bytes, tuple[Origin, AccountState]] = {}
        """Taken by the write in progress, not all in the table yet."""
        self.since = clock()
        self.last_batch = self.since

    def __len__(self) -> int:
        return len(self.states)

    def __bool__(self) -> bool:
        return bool(self.states or self.events)

    def age_s(self) -> float:
        """Seconds since the last write (monotonic clock)."""
        return self.clock() - self.since

    def idle_s(self) -> float:
        """Seconds since the last batch was done (monotonic clock)."""
        return self.clock() - self.last_batch

    def due(self, interval_s: float, idle_s: float) -> bool:
        """Time to write: something is unwritten, and the interval passed or the input has
        paused for `idle_s` (seconds)."""
        return bool(self) and (self.age_s() >= interval_s or self.idle_s() >= idle_s)

    def state_of(self, key: bytes) -> AccountState | None:
        """The latest state of `key` that may not be in the table yet."""
        entry = self.states.get(key) or self.writing.get(key)
        return None if entry is None else entry[1]

    def add(self, changed: Mapping[bytes, tuple[Origin, AccountState]]) -> None:
        self.states.update(changed)

    def keys_of(self, partition: int) -> set[bytes]:
        """The accounts of an input partition with a state not yet in the table."""
        both = (*self.states.items(), *self.writing.items())
        return {key for key, (origin, _) in both if origin.partition == partition}

    def done(self, events: list[Any]) -> None:
        """These events are applied and their MQAs handed to the producer."""
        self.events.extend(events)
        self.last_batch = self.clock()

    def take(self) -> tuple[dict[bytes, tuple[Origin, AccountState]], list[Any]]:
        """Everything to write and ack now (the states also in `writing`, until `written`);
        starts a new interval."""
        states, events = self.states, self.events
        self.states, self.events = {}, []
        self.writing = states
        self.since = self.clock()
        return states, events

    def written(self) -> None:
        """The states `take` gave are in the table."""
        self.writing = {}

    def drop_partitions(self, partitions: set[int]) -> None:
        """Forget what belongs to input partitions this worker no longer owns: their events
        stay unacked, so the next owner applies them again."""
        if not partitions:
            return
        self.states = {k: v for k, v in self.states.items() if v[0].partition not in partitions}
        self.writing = {k: v for k, v in self.writing.items() if v[0].partition not in partitions}
        self.events = [e for e in self.events if e.message.partition not in partitions]


def apply_batch(
    items: list[Item],
    model: ScoringModel,
    cache: StateCache,
    load: Callable[[Item], bytes | None],
) -> BatchResult:
    """Apply `items` in order, each account's state taken from the cache, else from `load`
    (the table). The states of the touched accounts are in `changed` and back in the cache.

    `apply` changes a state in place, so when the core raises on one touchpoint the batch is
    applied again from the stored states, one touchpoint at a time and encoded after each, the
    way the agent worked before batching: the failing touchpoint is reported in `failed` and
    its account keeps the state it had before it. A stored state of a version the core cannot
    read (`StateVersionError`) is not one touchpoint's problem: it is raised.
    """
    try:
        result = _apply_fast(items, model, cache, load)
    except StateVersionError:
        raise  # not a bug of one touchpoint: the worker stops (stream.schema)
    except Exception:
        log.exception("the core failed in a batch; applying it again one touchpoint at a time")
        for item in items:
            cache.take(item.key)  # drop: maybe changed in place by the failed attempt
        return _apply_safely(items, model, load)  # cached: nothing, the next batch reads
    for key, (item, state) in result.changed.items():
        cache.put(key, item.partition, state)
    return result


def _apply_fast(
    items: list[Item],
    model: ScoringModel,
    cache: StateCache,
    load: Callable[[Item], bytes | None],
) -> BatchResult:
    result = BatchResult()
    changed = result.changed
    for item in items:
        entry = changed.get(item.key)
        if entry is not None:
            state: AccountState | None = entry[1]
        else:
            state = cache.take(item.key)
            if state is None:
                raw = load(item)
                state = AccountState.from_bytes(raw) if raw else None
        outcome = apply(state, item.touchpoint, model, item.source)
        changed[item.key] = (item, outcome.state)
        result.applied.append(Applied(item, outcome, str(outcome.state.account.tier)))
    return result


def _apply_safely(
    items: list[Item], model: ScoringModel, load: Callable[[Item], bytes | None]
) -> BatchResult:
    result = BatchResult()
    stored: dict[bytes, bytes | None] = {}
    last: dict[bytes, Item] = {}
    for item in items:
        raw = stored[item.key] if item.key in stored else load(item)
        try:
            state = AccountState.from_bytes(raw) if raw else None
            outcome = apply(state, item.touchpoint, model, item.source)
            encoded = outcome.state.to_bytes()
        except StateVersionError:
            raise
        except Exception as exc:
            log.exception("the core failed on %s", item.source)
            result.failed.append((item, exc))
            stored[item.key] = raw
            continue
        stored[item.key] = encoded
        last[item.key] = item
        result.applied.append(Applied(item, outcome, str(outcome.state.account.tier)))
    for key, item in last.items():
        raw = stored[key]
        assert raw is not None
        result.changed[key] = (item, AccountState.from_bytes(raw))
    return result
