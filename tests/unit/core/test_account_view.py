"""The account page's content: score history reconstructed from the state, coverage, timeline
and MQA history."""

from __future__ import annotations

import random

import orjson
import pytest

from abm.core.account_view import HISTORY_DAYS, account_view, score_history
from abm.core.assessment import account_score
from abm.core.model import ScoringModel
from abm.core.timefmt import day_index
from abm.core.touchpoint import Touchpoint
from tests.support.factories import (
    CHAMPION,
    DAY,
    DM,
    HOUR,
    T0,
    TECH,
    USER,
    default_model,
    model_with,
    page,
    qualifying_group,
    replay,
    touchpoint,
)

MODEL = default_model()
EVENTS = ("/pricing", "/blog/a", "/docs/x", "Webinar Attended", "Email Replied",
          "Content Downloaded", "Ad Clicked", "Sales Meeting Held", "Email Opened")  # fmt: skip


def traffic(seed: int, days: int = 80, count: int = 60) -> list[Touchpoint]:
    """Random touchpoints of four contacts over `days`, in event-time order."""
    rng = random.Random(seed)
    result = []
    for n in range(count):
        who = rng.choice((DM, CHAMPION, TECH, USER))
        name = rng.choice(EVENTS)
        when = T0 + rng.randrange(days * DAY)
        mid = f"m{seed}-{n}"
        if name.startswith("/"):
            result.append(page(name, at_ms=when, message_id=mid, **who))
        else:
            result.append(touchpoint(name, at_ms=when, message_id=mid, **who))
    return sorted(result, key=lambda t: (t.at_ms, t.message_id))


def score_then(touchpoints: list[Touchpoint], moment: int, model: ScoringModel) -> float:
    """The brute force: the state built from the touchpoints up to `moment`, scored then."""
    before = [t for t in touchpoints if t.at_ms <= moment]
    if not before:
        return 0.0
    state, _ = replay(before, model)
    return account_score(state, moment, model)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_history_matches_the_score_the_account_had_each_day(seed: int) -> None:
    touchpoints = traffic(seed)
    state, _ = replay(touchpoints)
    at = state.clock_ms + 3 * DAY
    history = score_history(state, MODEL, at)
    assert history.exact_from_ms is None
    assert len(history.points) == HISTORY_DAYS
    assert history.points[-1].at_ms == at
    for point in history.points:
        assert point.score is not None
        assert point.score == pytest.approx(score_then(touchpoints, point.at_ms, MODEL), abs=0.02)


@pytest.mark.parametrize("seed", [4, 5])
def test_truncated_timeline_is_exact_from_its_oldest_touchpoint_and_unknown_before(
    seed: int,
) -> None:
    model = model_with(**{"state.timeline_size": 12})
    touchpoints = traffic(seed)
    state, _ = replay(touchpoints, model)
    assert len(state.timeline) == 12
    history = score_history(state, model, state.clock_ms)
    assert history.exact_from_ms == state.timeline[0].at_ms
    known = [p for p in history.points if p.score is not None]
    unknown = [p for p in history.points if p.score is None]
    assert known and unknown
    assert all(p.at_ms < history.exact_from_ms for p in unknown)
    for point in known:
        assert point.score == pytest.approx(score_then(touchpoints, point.at_ms, model), abs=0.02)


def test_history_caps_each_contact_at_its_share_of_the_threshold() -> None:
    state, _ = replay(qualifying_group(T0))  # 3 x 40 form points, cap 28 on tier 1
    history = score_history(state, MODEL, T0)
    assert history.points[-1].score == pytest.approx(84.0)
    assert history.points[-2].score == 0.0  # the day before: nothing yet


def test_points_are_day_ends_in_utc() -> None:
    state, _ = replay([touchpoint("Webinar Attended", at_ms=T0, **DM)])
    history = score_history(state, MODEL, T0 + 10 * HOUR, days=3)
    first, second, last = history.points
    assert day_index(first.at_ms + 1) == day_index(first.at_ms) + 1
    assert day_index(second.at_ms) == day_index(T0) - 1
    assert last.at_ms == T0 + 10 * HOUR


def test_view_has_score_coverage_stakeholders_timeline_and_mqas() -> None:
    state, _ = replay([*qualifying_group(T0), page("/pricing", at_ms=T0 + HOUR, **DM)])
    view = account_view(state, MODEL, T0 + 2 * HOUR)
    assert view["account"]["id"] == "acme"
    assert view["threshold"] == 70 and view["score"] == pytest.approx(84.0)
    assert view["in_episode"] and view["episode"] == 1
    assert view["coverage"] == 0.75
    by_req = {r["requirement"]: r for r in view["coverage_by_requirement"]}
    assert by_req["decision_maker"]["contacts"] == ["dana@acme.com"]
    assert {s["contact"] for s in view["stakeholders"]} == {
        "dana@acme.com", "chris@acme.com", "tess@acme.com"}  # fmt: skip
    assert all(s["active"] for s in view["stakeholders"])
    newest = view["timeline"][0]
    assert newest["label"] == "pricing page" and newest["contact"] == "dana@acme.com"
    assert newest["points"] == 10 and newest["points_now"] <= 10
    [mqa] = view["mqa_history"]
    assert mqa["rule"] == "threshold" and mqa["in_chart"]
    assert mqa["event"]["mqa_id"] == mqa["mqa_id"]
    assert view["score_history"]["exact_from"] is None
    assert view["missing"] == [] and view["qualifies_now"]
    orjson.dumps(view)  # JSON-ready


def test_view_of_an_account_that_does_not_qualify_says_why() -> None:
    state, _ = replay([page("/blog/a", at_ms=T0, **DM)])
    view = account_view(state, MODEL)
    assert not view["in_episode"] and view["mqa_history"] == []
    assert any("below threshold" in gap for gap in view["missing"])
