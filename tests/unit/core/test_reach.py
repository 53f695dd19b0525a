"""Per-tier ABM figures: reach, engagement, coverage bands, MQA episodes, hottest accounts."""

from __future__ import annotations

from typing import Any

import pytest

from abm.core.reach import (
    REACH_WINDOW_DAYS,
    Standing,
    band_labels,
    coverage_band,
    hottest,
    reference_ms,
    slim,
    standing,
    summarize,
)
from tests.support.factories import (
    CHAMPION,
    DAY,
    DM,
    T0,
    TECH,
    account,
    acts,
    default_model,
    qualifying_group,
    replay,
    touchpoint,
)

MODEL = default_model()
ANON: dict[str, Any] = {"contact": "anon:a-1", "role": "other", "known": False}


def test_reached_is_any_touch_in_the_window_even_unscored_or_anonymous() -> None:
    state, _ = replay([touchpoint("Email Opened", at_ms=T0, **ANON)])  # 0 points, anonymous
    assert standing(state, MODEL, T0).reached
    last_moment = T0 + REACH_WINDOW_DAYS * DAY - 1
    assert standing(state, MODEL, last_moment).reached
    assert not standing(state, MODEL, last_moment + 1).reached


def test_engaged_needs_a_known_contact_with_a_scored_touch_in_the_active_window() -> None:
    anonymous, _ = replay([touchpoint("Webinar Attended", at_ms=T0, **ANON)])
    assert not standing(anonymous, MODEL, T0).engaged
    unscored, _ = replay([touchpoint("Email Opened", at_ms=T0, **DM)])
    assert not standing(unscored, MODEL, T0).engaged
    scored, _ = replay([touchpoint("Webinar Attended", at_ms=T0, **DM)])
    assert standing(scored, MODEL, T0).engaged
    window = MODEL.buying_group.active_window_days * DAY
    assert standing(scored, MODEL, T0 + int(window) - 1).engaged
    assert not standing(scored, MODEL, T0 + int(window)).engaged


def test_standing_is_never_judged_before_the_account_clock() -> None:
    state, _ = replay([touchpoint("Webinar Attended", at_ms=T0, **DM)])
    assert standing(state, MODEL, T0 - 10 * DAY).at_ms == T0
    assert standing(state, MODEL).at_ms == T0


def test_in_episode_ends_when_the_score_falls_under_the_exit_share() -> None:
    state, _ = replay(qualifying_group(T0))  # tier 1, score 84 >= 70: MQA at T0
    assert state.qualified
    assert standing(state, MODEL, T0).in_episode
    # 3 contacts x 40 form points (capped at 28 each) halving every 90 days: the score falls
    # under 42 (60% of 70) when 120 * 2^(-t/90) < 42, after about 136 days
    assert standing(state, MODEL, T0 + 130 * DAY).in_episode
    assert not standing(state, MODEL, T0 + 140 * DAY).in_episode


def test_coverage_and_score_come_from_the_assessment() -> None:
    state, _ = replay(qualifying_group(T0))
    s = standing(state, MODEL, T0)
    assert s.coverage == 0.75  # decision maker, champion, evaluator; no influencer/end user
    assert s.score == pytest.approx(84.0)
    assert s.threshold == 70
    assert s.heat == pytest.approx(1.2)
    assert s.active_stakeholders == 3


def test_slim_state_gives_the_same_standing() -> None:
    state, _ = replay(
        qualifying_group(T0) + acts(DM, "/pricing", "/blog/x", at_ms=T0 + DAY, step_ms=3_600_000)
    )
    lean = slim(state)
    assert lean.timeline == [] and lean.seen == {} and lean.mqa_history == []
    for at in (T0, T0 + 5 * DAY, T0 + 40 * DAY):
        assert standing(lean, MODEL, at) == standing(state, MODEL, at)
    assert state.timeline, "slim must not touch the original"


@pytest.mark.parametrize(
    ("coverage", "band"),
    [(0.0, "0"), (0.2, "0"), (0.25, "0.25"), (0.5, "0.5"), (0.7499, "0.5"), (0.75, "0.75"),
     (0.99, "0.75"), (1.0, "1")],
)  # fmt: skip
def test_coverage_band(coverage: float, band: str) -> None:
    assert coverage_band(coverage) == band


def make(account_id: str, tier: int, **kw: Any) -> Standing:
    values: dict[str, Any] = {
        "account_id": account_id,
        "name": account_id.title(),
        "tier": tier,
        "at_ms": T0,
        "last_touch_ms": T0,
        "reached": True,
        "engaged": True,
        "in_episode": False,
        "surging": False,
        "score": 10.0,
        "threshold": 100.0,
        "coverage": 0.5,
        "active_stakeholders": 1,
    }
    values.update(kw)
    return Standing(**values)


def test_summarize_counts_per_tier_with_every_tier_and_band_present() -> None:
    standings = [
        make("a", 1, coverage=1.0, in_episode=True),
        make("b", 1, engaged=False, coverage=0.0),
        make("c", 1, reached=False, engaged=False, coverage=0.0),
        make("d", 3, coverage=0.25, surging=True),
    ]
    summaries = summarize(standings, (1, 2, 3))
    assert set(summaries) == {1, 2, 3}
    one = summaries[1]
    assert (one.tracked, one.reached, one.engaged, one.in_episode) == (3, 2, 1, 1)
    assert one.coverage == {"0": 0, "0.25": 0, "0.5": 0, "0.75": 0, "1": 1}
    assert summaries[2].tracked == 0 and set(summaries[2].coverage) == set(band_labels())
    assert summaries[3].coverage["0.25"] == 1 and summaries[3].surging == 1


def test_summarize_keeps_an_unexpected_tier() -> None:
    assert summarize([make("x", 4)], (1, 2, 3))[4].tracked == 1


def test_hottest_orders_by_share_of_threshold_then_id() -> None:
    standings = [
        make("cold", 2, score=10.0),
        make("b-hot", 2, score=90.0),
        make("a-hot", 2, score=90.0),
        make("none", 2, score=0.0),
        make("tier1", 1, score=500.0),
    ]
    assert [s.account_id for s in hottest(standings, 2, 10)] == ["a-hot", "b-hot", "cold"]
    assert [s.account_id for s in hottest(standings, 2, 1)] == ["a-hot"]
    assert [s.account_id for s in hottest(standings, None, 2)] == ["tier1", "a-hot"]
    assert hottest(standings, 2, 0) == []


def test_reference_is_the_latest_event_time() -> None:
    early, _ = replay([touchpoint("Webinar Attended", at_ms=T0, **DM)])
    late, _ = replay(
        [touchpoint("Webinar Attended", at_ms=T0 + DAY, account_record=account("b"), **CHAMPION)]
    )
    assert reference_ms([early, late]) == T0 + DAY
    assert reference_ms([]) is None


def test_anonymous_points_count_in_the_score_but_not_in_engagement() -> None:
    state, _ = replay(
        [touchpoint("Webinar Attended", at_ms=T0, **ANON), touchpoint("Email Opened", **TECH)]
    )
    s = standing(state, MODEL, T0)
    assert s.score > 0 and not s.engaged and s.reached
