"""The backtest's figures: a model's pass is the plain loop over `apply`, and conversion, lead
time, precision, recall, pipeline and the accounts that differ follow their definitions."""

from __future__ import annotations

import pytest

from abm.core.backtest import (
    BacktestError,
    BacktestMqa,
    ModelRun,
    Window,
    compare,
    in_window,
    run_model,
    week_start,
    window_of,
)
from abm.core.engagement import apply
from abm.core.state import AccountState
from abm.core.timefmt import day_index
from abm.core.touchpoint import Touchpoint
from tests.support.factories import (
    DAY,
    DM,
    T0,
    account,
    acts,
    at,
    default_model,
    model_with,
    opportunity,
    qualifying_group,
)

ACME = account("acme", tier=1)
GLOBEX = account("globex", name="Globex", tier=1)


def history() -> list[Touchpoint]:
    """Acme qualifies at T0 (the default model), Globex at T0 + 20 days; some reading before."""
    early = acts(DM, "/blog/a", "/blog/b", at_ms=at(days=-10), step_ms=DAY, account_record=ACME)
    return early + qualifying_group(T0, ACME) + qualifying_group(at(days=20), GLOBEX)


def plain_loop_ids(touchpoints: list[Touchpoint]) -> list[str]:
    states: dict[str, AccountState] = {}
    ids = []
    for tp in touchpoints:
        outcome = apply(states.get(tp.account.account_id), tp, default_model())
        states[tp.account.account_id] = outcome.state
        if outcome.new_mqa and outcome.mqa is not None:
            ids.append(outcome.mqa["mqa_id"])
    return ids


def test_a_pass_finds_the_mqas_of_the_plain_loop_and_reports_progress() -> None:
    touchpoints = history()
    done: list[int] = []

    mqas = run_model(touchpoints, default_model(), count_from_ms=0, progress=done.append)

    assert [m.mqa_id for m in mqas] == plain_loop_ids(touchpoints)
    assert [(m.account_id, m.tier, m.rule, m.at_ms) for m in mqas] == [
        ("acme", 1, "threshold", T0),
        ("globex", 1, "threshold", at(days=20)),
    ]
    assert done == [len(touchpoints)]


def test_mqas_before_the_window_are_applied_but_not_counted() -> None:
    mqas = run_model(history(), default_model(), count_from_ms=at(days=1))

    assert [m.account_id for m in mqas] == ["globex"]


def test_thresholds_ten_times_higher_find_no_threshold_mqa() -> None:
    strict = model_with(
        **{f"tiers.{t}.threshold": v * 10 for t, v in ((1, 70), (2, 100), (3, 150))}
    )

    assert run_model(history(), strict, count_from_ms=0) == []


def test_the_window_ends_at_the_latest_touchpoint_and_bounds_the_touchpoints() -> None:
    touchpoints = history()

    window = window_of(touchpoints, since_days=15, warmup_days=10)

    assert window == Window(warmup_ms=at(days=-5), start_ms=at(days=5), end_ms=at(days=20))
    assert in_window(touchpoints, window) == [t for t in touchpoints if t.at_ms >= at(days=-5)]
    with pytest.raises(BacktestError, match="takes at most 3 "):
        in_window(touchpoints, window, limit=3)
    with pytest.raises(BacktestError, match="no touchpoints"):
        window_of([], 90, 30)


def test_weeks_start_on_monday() -> None:
    assert week_start(T0) == day_index(T0)  # T0 is a Monday
    assert week_start(at(days=6, hours=14)) == day_index(T0)
    assert week_start(at(days=7)) == day_index(T0) + 7


def mqa(account_id: str, at_ms: int, tier: int = 1) -> BacktestMqa:
    return BacktestMqa(
        account_id, account_id.title(), tier, "threshold", at_ms, f"id-{account_id}-{at_ms}", "why"
    )


def run(label: str, *mqas: BacktestMqa) -> ModelRun:
    return ModelRun(label, f"{label}.yaml", f"v-{label}", list(mqas), 0.5)


WINDOW = Window(warmup_ms=at(days=-30), start_ms=T0, end_ms=at(days=60))


def test_conversion_lead_time_precision_recall_and_pipeline() -> None:
    baseline = run(
        "baseline", mqa("acme", at(days=1)), mqa("globex", at(days=2)), mqa("initech", at(days=3))
    )
    candidate = run("candidate", mqa("acme", at(days=1)))
    opportunities = [
        opportunity("o-acme", account_id="acme", created_ms=at(days=11), amount=1000.0,
                    outcome="won", closed_ms=at(days=20)),
        opportunity("o-globex", account_id="globex", created_ms=at(days=200), amount=500.0),
        opportunity("o-hooli", account_id="hooli", created_ms=at(days=30), amount=None),
        opportunity("o-initech-before", account_id="initech", created_ms=at(days=2)),
        opportunity("o-old", account_id="acme", created_ms=at(days=-1)),
    ]  # fmt: skip

    report = compare(baseline, candidate, opportunities, WINDOW, touchpoints=10)

    # counted: created in the window or within 90 days after it: not o-globex (day 200), not
    # o-old (before the window)
    assert report["opportunities"] == 3
    out = report["models"]["baseline"]["outcomes"]
    assert out["converted"] == 1  # acme: 10 days later; initech's came a day before its MQA
    assert out["share_converted"] == out["precision"] == pytest.approx(1 / 3, abs=1e-4)
    assert out["lead_days"] == [10.0]
    assert out["median_lead_days"] == 10.0
    assert out["false_mqas"] == 2
    assert (out["opportunities_found"], out["opportunities_missed"]) == (1, 2)
    assert out["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert (out["pipeline_amount"], out["won_amount"]) == (1000.0, 1000.0)
    assert [o["opportunity_id"] for o in out["missed_list"]] == ["o-initech-before", "o-hooli"]
    assert [b["mqas"] for b in out["lead_time_histogram"]] == [0, 1, 0, 0, 0]
    assert report["models"]["candidate"]["outcomes"]["precision"] == 1.0


def test_an_opportunity_more_than_the_conversion_window_after_the_mqa_is_missed() -> None:
    baseline = run("baseline", mqa("acme", at(days=1)))
    opportunities = [opportunity(account_id="acme", created_ms=at(days=32))]

    report = compare(
        baseline, run("candidate"), opportunities, WINDOW, touchpoints=1, conversion_days=30
    )

    out = report["models"]["baseline"]["outcomes"]
    assert (out["converted"], out["opportunities_missed"]) == (0, 1)
    assert [(b["from_days"], b["to_days"]) for b in out["lead_time_histogram"]] == [
        (0, 7), (7, 14), (14, 30)
    ]  # fmt: skip


def test_without_opportunities_there_are_no_outcome_figures() -> None:
    report = compare(run("baseline"), run("candidate"), None, WINDOW, touchpoints=0)

    assert report["opportunities"] is None
    assert report["models"]["baseline"]["outcomes"] is None
    assert report["verdicts"] is None


def test_weekly_counts_per_tier_cover_every_week_of_the_window() -> None:
    baseline = run(
        "baseline", mqa("acme", at(days=1)), mqa("globex", at(days=3), tier=2),
        mqa("initech", at(days=15), tier=3),
    )  # fmt: skip

    report = compare(baseline, run("candidate"), None, WINDOW, touchpoints=3)

    weeks = report["models"]["baseline"]["per_week"]
    assert len(weeks) == len(report["weeks"]) == 9
    assert weeks[0] == {"week": "2026-03-02", "tier_1": 1, "tier_2": 1, "tier_3": 0}
    assert weeks[2] == {"week": "2026-03-16", "tier_1": 0, "tier_2": 0, "tier_3": 1}
    assert report["models"]["baseline"]["by_tier"] == {"1": 1, "2": 1, "3": 1}


def test_accounts_under_one_model_only_with_their_why_and_a_bounded_list() -> None:
    baseline = run("baseline", mqa("acme", at(days=1)), mqa("globex", at(days=2)),
                   mqa("initech", at(days=3)), mqa("globex", at(days=40)))  # fmt: skip
    candidate = run("candidate", mqa("acme", at(days=5)), mqa("hooli", at(days=6)))

    report = compare(baseline, candidate, None, WINDOW, touchpoints=4, listed=1)

    only_baseline = report["differences"]["only_baseline"]
    assert only_baseline["accounts"] == 2
    assert [r["account_id"] for r in only_baseline["listed"]] == ["globex"]
    assert only_baseline["listed"][0]["why"] == "why"
    assert only_baseline["not_listed"] == 1
    assert [r["account_id"] for r in report["differences"]["only_candidate"]["listed"]] == ["hooli"]


def test_the_missed_list_is_bounded() -> None:
    opportunities = [opportunity(f"o-{n}", created_ms=at(days=n)) for n in range(5)]

    report = compare(run("baseline"), run("candidate"), opportunities, WINDOW, touchpoints=0,
                     listed=2)  # fmt: skip

    out = report["models"]["baseline"]["outcomes"]
    assert [o["opportunity_id"] for o in out["missed_list"]] == ["o-0", "o-1"]
    assert out["missed_not_listed"] == 3


def test_ae_verdicts_are_matched_to_each_models_mqas_by_id_with_their_conversion() -> None:
    good, unfit, split = (
        mqa("acme", at(days=1)),
        mqa("globex", at(days=2)),
        mqa("hooli", at(days=3)),
    )
    baseline = run("baseline", good, unfit, split, mqa("initech", at(days=4)))
    candidate = run("candidate", good)
    verdicts = {
        good.mqa_id: ["good", "good"],
        unfit.mqa_id: ["not_a_fit"],
        split.mqa_id: ["good", "not_a_fit"],  # a tie is not a fit
        "id-of-a-live-mqa-no-model-has": ["good"],
        "id-without-verdicts": [],
    }
    opportunities = [
        opportunity("o-acme", account_id="acme", created_ms=at(days=5)),
        opportunity("o-globex", account_id="globex", created_ms=at(days=9)),
    ]

    report = compare(baseline, candidate, opportunities, WINDOW, touchpoints=1, verdicts=verdicts)

    assert report["verdicts"] == {
        "mqas_with_verdicts": 4,
        "models": {
            "baseline": {"mqas_judged": 3, "good": 3, "not_a_fit": 2, "mqas_judged_good": 1,
                         "mqas_judged_not_a_fit": 2, "good_converted": 1,
                         "not_a_fit_converted": 1},
            "candidate": {"mqas_judged": 1, "good": 2, "not_a_fit": 0, "mqas_judged_good": 1,
                          "mqas_judged_not_a_fit": 0, "good_converted": 1,
                          "not_a_fit_converted": 0},
        },
    }  # fmt: skip
    without = compare(baseline, candidate, None, WINDOW, touchpoints=1, verdicts=verdicts)
    assert without["verdicts"]["models"]["baseline"]["good_converted"] is None
