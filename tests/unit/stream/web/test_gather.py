"""Merging the other workers' hottest accounts into this worker's (`/accounts` without
`scope=local`)."""

from __future__ import annotations

from typing import Any

from yarl import URL

from stream.web.gather import merge

PEER_A = URL("http://worker-a:6066")
PEER_B = URL("http://worker-b:6066")


def row(account_id: str, heat: float) -> dict[str, Any]:
    return {"account_id": account_id, "heat": heat}


def payload(rows: list[dict[str, Any]], as_of: str | None = None) -> dict[str, Any]:
    return {"tier": None, "limit": 3, "as_of": as_of, "accounts": rows, "workers": 1,
            "missing_workers": []}  # fmt: skip


def test_the_hottest_rows_of_all_workers_are_kept_up_to_the_limit() -> None:
    mine = payload([row("m1", 0.9), row("m2", 0.1)])
    merged = merge(
        mine,
        [PEER_A, PEER_B],
        [payload([row("a1", 1.2), row("a2", 0.5)]), payload([row("b1", 0.95)])],
        limit=3,
    )
    assert [r["account_id"] for r in merged["accounts"]] == ["a1", "b1", "m1"]
    assert merged["workers"] == 3 and merged["missing_workers"] == []
    assert merged["tier"] is None and merged["limit"] == 3  # the rest of this worker's payload


def test_heats_equal_to_six_places_are_ranked_by_account_id() -> None:
    merged = merge(
        payload([row("zeta", 0.5)]), [PEER_A], [payload([row("alpha", 0.4999999999)])], limit=5
    )
    assert [r["account_id"] for r in merged["accounts"]] == ["alpha", "zeta"]


def test_a_silent_worker_and_the_peers_own_gaps_are_named() -> None:
    mine = payload([row("m1", 0.9)])
    mine["missing_workers"] = ["http://me:6066"]
    answer = payload([row("a1", 0.4)])
    answer["missing_workers"] = ["http://worker-c:6066"]
    merged = merge(mine, [PEER_A, PEER_B], [answer, None], limit=5)
    assert merged["missing_workers"] == [
        "http://me:6066", "http://worker-c:6066", "http://worker-b:6066"
    ]  # fmt: skip
    assert [r["account_id"] for r in merged["accounts"]] == ["m1", "a1"]
    assert merged["workers"] == 3


def test_the_latest_reference_time_is_reported() -> None:
    early, late = "2026-03-02T09:00:00.000Z", "2026-03-02T10:00:00.000Z"
    assert merge(payload([], early), [PEER_A], [payload([], late)], 5)["as_of"] == late
    assert merge(payload([], late), [PEER_A], [payload([], early)], 5)["as_of"] == late
    assert merge(payload([], None), [PEER_A], [payload([], early)], 5)["as_of"] == early
    assert merge(payload([], early), [PEER_A], [payload([], None)], 5)["as_of"] == early
