"""Write-behind: batches give the states and MQAs of one touchpoint at a time, each touched
account comes out once per batch, the cache keeps to its bound and forgets what it is told to."""

from __future__ import annotations

from typing import Any

import pytest

import stream.write_behind as write_behind
from abm.core.engagement import apply as real_apply
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint
from stream.write_behind import Item, StateCache, apply_batch
from tests.support.factories import (
    CHAMPION,
    DM,
    T0,
    account,
    acts,
    default_model,
    page,
    qualifying_group,
    replay,
)


def items(touchpoints: list[Touchpoint], partitions: int = 2, first_offset: int = 0) -> list[Item]:
    """Items as the agent makes them: one account's touchpoints stay in one partition."""
    result = []
    for offset, tp in enumerate(touchpoints, start=first_offset):
        key = tp.account.account_id.encode()
        result.append(Item(None, key, sum(key) % partitions, offset, tp))
    return result


class Table:
    """The engagement table as `apply_batch` sees it: stored bytes, loads counted."""

    def __init__(self) -> None:
        self.rows: dict[bytes, bytes] = {}
        self.loads = 0

    def load(self, item: Item) -> bytes | None:
        self.loads += 1
        return self.rows.get(item.key)

    def write(self, changed: dict[bytes, tuple[Item, AccountState]]) -> None:
        for key, (_, state) in changed.items():
            self.rows[key] = state.to_bytes()


def traffic() -> list[Touchpoint]:
    """Three accounts interleaved; `acme` qualifies on its fifth touchpoint."""
    other = [account("globex", domains=("globex.com",)), account("initech", domains=("i.com",))]
    result: list[Touchpoint] = []
    for index, tp in enumerate(qualifying_group(T0 + 1000)):
        result.append(tp)
        for record in other:
            result.append(
                page(f"/p{index}", at_ms=T0 + index, contact="x@" + record.domains[0],
                     message_id=f"{record.account_id}-{index}", account_record=record)
            )  # fmt: skip
    result += acts(CHAMPION, "/pricing", "/docs", at_ms=T0 + 5000, step_ms=10)
    return result


def states_one_at_a_time(touchpoints: list[Touchpoint]) -> tuple[dict[bytes, bytes], list[Any]]:
    by_account: dict[str, list[Item]] = {}
    for item in items(touchpoints):
        by_account.setdefault(item.touchpoint.account.account_id, []).append(item)
    stored, mqas = {}, []
    for account_id, its in by_account.items():
        state, outcomes = replay(
            [i.touchpoint for i in its], default_model(), sources=[i.source for i in its]
        )
        stored[account_id.encode()] = state.to_bytes()
        mqas += [o.mqa for o in outcomes if o.new_mqa]
    return stored, mqas


@pytest.mark.parametrize("batch_size", [1, 2, 7, 1000])
@pytest.mark.parametrize("cache_accounts", [0, 1, 100])
def test_batches_give_the_states_and_mqas_of_one_touchpoint_at_a_time(
    batch_size: int, cache_accounts: int
) -> None:
    touchpoints = traffic()
    expected_rows, expected_mqas = states_one_at_a_time(touchpoints)
    table, cache = Table(), StateCache(cache_accounts)
    all_items = items(touchpoints)
    mqas = []
    for start in range(0, len(all_items), batch_size):
        batch = all_items[start : start + batch_size]
        result = apply_batch(batch, default_model(), cache, table.load)
        assert set(result.changed) == {item.key for item in batch}  # each touched account once
        assert [a.item for a in result.applied] == batch
        table.write(result.changed)
        mqas += [a.outcome.mqa for a in result.applied if a.outcome.new_mqa]
    assert table.rows == expected_rows
    assert len(expected_mqas) == 1
    assert mqas == expected_mqas


def test_the_table_is_read_only_on_a_cache_miss() -> None:
    touchpoints = traffic()
    table, cache = Table(), StateCache(100)
    for item in items(touchpoints):
        table.write(apply_batch([item], default_model(), cache, table.load).changed)
    assert table.loads == 3  # once per account: its first touchpoint, then from the cache


def test_the_cache_keeps_at_most_its_bound_and_evicts_the_least_recent() -> None:
    cache = StateCache(3)
    state = AccountState.from_bytes(replay([page("/a")])[0].to_bytes())
    for key in (b"a", b"b", b"c"):
        cache.put(key, 0, state)
    assert cache.take(b"a") is state
    cache.put(b"a", 0, state)  # a is now the most recent
    for key in (b"d", b"e"):
        cache.put(key, 1, state)
        assert len(cache) == 3
    assert b"b" not in cache and b"c" not in cache
    assert {k for k in (b"a", b"d", b"e") if k in cache} == {b"a", b"d", b"e"}


def test_a_cache_bound_of_zero_keeps_nothing_and_a_negative_one_is_refused() -> None:
    cache = StateCache(0)
    cache.put(b"a", 0, replay([page("/a")])[0])
    assert len(cache) == 0
    with pytest.raises(ValueError, match="max_accounts"):
        StateCache(-1)


def test_a_large_batch_never_grows_the_cache_beyond_its_bound() -> None:
    many = [
        page("/x", contact=f"p@a{n}.com", message_id=f"m{n}",
             account_record=account(f"a{n}", domains=(f"a{n}.com",)))
        for n in range(50)
    ]  # fmt: skip
    cache = StateCache(10)
    result = apply_batch(items(many), default_model(), cache, Table().load)
    assert len(result.changed) == 50
    assert len(cache) == 10


def test_dropping_partitions_forgets_exactly_their_accounts() -> None:
    cache = StateCache(10)
    state = replay([page("/a")])[0]
    cache.put(b"p0", 0, state)
    cache.put(b"p1", 1, state)
    cache.put(b"p2", 2, state)
    assert cache.drop_partitions([0, 2]) == 2
    assert b"p1" in cache and b"p0" not in cache and b"p2" not in cache
    assert cache.drop_partitions([]) == 0


def test_a_core_failure_keeps_the_account_as_it_was_and_applies_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    touchpoints = acts(DM, "/a", "/b", "/c", at_ms=T0, step_ms=1000)
    table, cache = Table(), StateCache(10)
    first = apply_batch(items(touchpoints[:1]), default_model(), cache, table.load)
    table.write(first.changed)

    def failing(state: Any, tp: Touchpoint, model: Any, source: Any) -> Any:
        if tp.message_id == touchpoints[1].message_id:
            raise RuntimeError("a bug in the core")
        return real_apply(state, tp, model, source)

    monkeypatch.setattr(write_behind, "apply", failing)
    result = apply_batch(items(touchpoints[1:], first_offset=1), default_model(), cache,
                         table.load)  # fmt: skip
    assert [item.touchpoint for item, _ in result.failed] == [touchpoints[1]]
    assert [a.item.touchpoint for a in result.applied] == [touchpoints[2]]
    assert len(cache) == 0  # a failed batch caches nothing: the next one reads the table
    table.write(result.changed)
    expected, _ = replay([touchpoints[0], touchpoints[2]], sources=["0/0", "0/2"])
    key = touchpoints[0].account.account_id.encode()
    assert AccountState.from_bytes(table.rows[key]).to_bytes() == expected.to_bytes()


def test_a_state_being_written_is_found_until_it_is_in_the_table() -> None:
    unwritten = write_behind.Unwritten(clock=lambda: 0.0)
    [item] = items([page("/pricing", at_ms=T0)], partitions=1)
    state = real_apply(None, item.touchpoint, default_model(), item.source).state
    unwritten.add({item.key: (item, state)})
    unwritten.done([item.event])
    states, events = unwritten.take()
    assert list(states) == [item.key] and events == [None]
    assert not unwritten  # a new interval
    assert unwritten.state_of(item.key) is state  # a cache miss must not read the old table row
    unwritten.drop_partitions({1})
    assert unwritten.state_of(item.key) is state  # another partition's
    unwritten.written()
    assert unwritten.state_of(item.key) is None
    unwritten.add({item.key: (item, state)})
    unwritten.take()
    unwritten.drop_partitions({item.partition})
    assert unwritten.state_of(item.key) is None  # revoked: the next owner applies it again


def test_writing_is_due_after_the_interval_or_an_idle_pause() -> None:
    now = [0.0]
    unwritten = write_behind.Unwritten(clock=lambda: now[0])
    assert not unwritten.due(10.0, 0.5)  # nothing to write
    unwritten.done([None])
    now[0] = 0.4
    assert not unwritten.due(10.0, 0.5)
    now[0] = 0.5
    assert unwritten.due(10.0, 0.5)  # idle
    for step in range(1, 21):  # a batch every 0.5 s - 0.1: never idle
        now[0] = 0.5 * step
        unwritten.done([None])
        now[0] += 0.4
        assert unwritten.due(10.0, 0.5) == (now[0] >= 10.0)
