"""Arithmetic of the bench figures (no broker, no timing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from abm.core.engagement import apply
from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, run_offline
from bench.core_loop import Side
from bench.core_loop_child import sources_for
from bench.hot_account import WARM_UP, WorkerCost, schedule_of, warm_up, window_mean
from bench.hot_data import HotConfig, hot_data


def test_window_mean_takes_the_first_and_last_tenth() -> None:
    values = [1.0] * 10 + [5.0] * 80 + [3.0] * 10
    assert window_mean(values, first=True) == 1.0
    assert window_mean(values, first=False) == 3.0
    assert window_mean([7.0], first=False) == 7.0


def test_per_record_cost_between_shares_of_the_hot_touchpoints() -> None:
    # 10 hot touchpoints at every other input offset; changelog records (ms, hot applied)
    offsets = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]
    points = [(1000, 1), (1100, 3), (1500, 9), (1700, 10)]
    cost = WorkerCost(points, 0, 0, 0, (0, ""), set(), True)
    # 0% -> 10%: both the first record (1 applied), so no window
    assert cost.per_record_us(offsets, 0.0, 0.1) is None
    # 0% -> 30%: 1000 -> 1100 ms over offsets 1 -> 5: 100 ms / 4 records
    assert cost.per_record_us(offsets, 0.0, 0.3) == 100 * 1000 / 4
    # 90% -> 100%: 1500 -> 1700 ms over offsets 17 -> 19
    assert cost.per_record_us(offsets, 0.9, 1.0) == 200 * 1000 / 2
    assert WorkerCost([], 0, 0, 0, (0, ""), set(), True).per_record_us(offsets, 0.9, 1.0) is None


def test_schedule_scales_event_time_into_the_replay() -> None:
    data = hot_data(HotConfig(hot=50, others=3))
    touchpoints = run_offline(
        data.lines,
        InMemoryDirectory.of(data.accounts, data.contacts),
        load_model(),
        keep_touchpoints=True,
    ).resolved
    start = min(t.at_ms for t in touchpoints)
    end = max(t.at_ms for t in touchpoints)
    schedule = schedule_of(touchpoints, start, end, 60.0)
    assert schedule == sorted(schedule)
    assert schedule[0] == 0.0 and schedule[-1] == 60.0


def test_sources_name_partition_and_rising_offsets_per_account() -> None:
    data = hot_data(HotConfig(hot=30, others=5))
    touchpoints = run_offline(
        data.lines,
        InMemoryDirectory.of(data.accounts, data.contacts),
        load_model(),
        keep_touchpoints=True,
    ).resolved
    sources = sources_for(touchpoints)
    partition_of: dict[str, str] = {}
    seen: dict[str, list[int]] = {}
    for touchpoint, source in zip(touchpoints, sources, strict=True):
        partition, offset = source.split("/")
        assert partition_of.setdefault(touchpoint.account.account_id, partition) == partition
        seen.setdefault(partition, []).append(int(offset))
    for offsets in seen.values():
        assert offsets == list(range(len(offsets)))


def _run(mqas: list[str], digest: str = "d", plain_s: float = 1.0) -> dict[str, Any]:
    return {
        "touchpoints": 100,
        "touchpoints_digest": digest,
        "plain_s": plain_s,
        "stored_s": 2.0,
        "plain_mqas": mqas,
        "stored_mqas": mqas,
        "reference_mqas": mqas,
    }


def test_core_loop_side_takes_the_best_pass_and_checks_its_mqas() -> None:
    side = Side("x", Path("."), [_run(["a"], plain_s=2.0), _run(["a"], plain_s=0.5)])
    assert side.rate("plain") == 200.0
    assert side.consistent()
    side.runs.append({**_run(["a"]), "stored_mqas": ["b"]})
    assert not side.consistent()


def test_warm_up_records_are_single_page_views_of_accounts_of_their_own() -> None:
    data = hot_data(HotConfig(hot=30, others=5))
    result = run_offline(
        data.lines,
        InMemoryDirectory.of(data.accounts, data.contacts),
        load_model(),
        keep_touchpoints=True,
    )
    records = warm_up(result.resolved, 50)
    assert len({t.account.account_id for t in records}) == 50
    assert len({t.message_id for t in records}) == 50
    assert {t.event for t in records} == {"Page Viewed"}
    assert all(t.account.account_id.startswith(WARM_UP) for t in records)
    model = load_model()
    assert not any(apply(None, t, model).mqa for t in records)
