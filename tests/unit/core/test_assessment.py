"""How an account stands: score with the per-contact cap, coverage, stakeholders, intent, surge."""

from __future__ import annotations

import pytest

from abm.core.assessment import (
    SCORE_DIGITS,
    account_score,
    assess,
    contact_points,
    is_active,
    surge,
)
from abm.core.state import AccountState, ContactState
from abm.core.timefmt import day_index
from tests.support.factories import DAY, T0, account, at, default_model, model_with

MODEL = default_model()


def contact(
    role: str = "decision_maker",
    points: float = 0.0,
    signal_class: str = "form",
    scored_ms: int | None = T0,
    known: bool = True,
) -> ContactState:
    """A contact with `points` of one class booked at `scored_ms` (None: never scored)."""
    accumulators = {signal_class: (points, scored_ms or T0)} if points else {}
    return ContactState(
        role=role,
        seniority="manager",
        title=None,
        known=known,
        last_touch_ms=scored_ms or T0,
        last_scored_ms=scored_ms,
        accumulators=accumulators,
        touches=1,
    )


def state_with(
    *contacts: ContactState,
    tier: int = 1,
    clock_ms: int = T0,
    intent_ms: int | None = T0,
    lifecycle: str = "prospect",
    icp_fit: float = 80,
    daily: dict[int, list[float]] | None = None,
) -> AccountState:
    return AccountState(
        account=account(tier=tier, lifecycle=lifecycle, icp_fit=icp_fit),
        clock_ms=clock_ms,
        contacts={f"c{i}@acme.com": c for i, c in enumerate(contacts)},
        intent_ms=intent_ms,
        daily=daily or {},
    )


# --- score and the per-contact cap ------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "points", "contribution"),
    [
        (1, 100.0, 28.0),
        (2, 100.0, 40.0),
        (3, 100.0, 60.0),
        (1, 27.5, 27.5),
        (3, 59.0, 59.0),
        (1, 28.0, 28.0),
    ],
    ids=[
        "one contact adds at most 40% of the tier-1 threshold",
        "one contact adds at most 40% of the tier-2 threshold",
        "one contact adds at most 40% of the tier-3 threshold",
        "a contact under the tier-1 cap adds all its points",
        "a contact under the tier-3 cap adds all its points",
        "a contact exactly at the cap adds the cap",
    ],
)
def test_the_per_contact_cap(tier: int, points: float, contribution: float) -> None:
    result = assess(state_with(contact(points=points), tier=tier), MODEL)
    assert result.contributions == {"c0@acme.com": contribution}
    assert result.score == contribution


def test_breadth_beats_depth() -> None:
    deep = state_with(contact(points=90.0))
    broad = state_with(contact(points=30.0), contact(points=30.0), contact(points=30.0))
    assert (account_score(deep, T0, MODEL), account_score(broad, T0, MODEL)) == (28.0, 84.0)


@pytest.mark.parametrize(
    ("days_later", "contribution"),
    [
        (0, 28.0),
        (30, 28.0),
        (90, 20.0),
        (180, 10.0),
    ],
    ids=[
        "40 fresh points are capped at 28",
        "40 points a month old (31.7) are still capped",
        "a half-life later 20 points are under the cap",
        "two half-lives later 10 points are left",
    ],
)
def test_the_cap_applies_to_decayed_points_at_evaluation_time(
    days_later: int, contribution: float
) -> None:
    state = state_with(contact(points=40.0, signal_class="form"))
    result = assess(state, MODEL, at(days=days_later))
    assert result.contributions["c0@acme.com"] == pytest.approx(contribution, abs=1e-9)


def test_contact_points_sum_the_classes_each_with_its_own_half_life() -> None:
    person = contact(points=16.0, signal_class="web")
    person.accumulators["form"] = (16.0, T0)
    # a week is one web half-life and 7/90 of a form half-life
    expected = 8.0 + 16.0 * 2 ** (-7 / 90)
    assert contact_points(person, at(days=7), MODEL) == pytest.approx(expected, rel=1e-12)


def test_the_score_is_rounded_so_summation_order_cannot_flip_a_decision() -> None:
    people = [contact(points=0.1) for _ in range(3)]
    score = account_score(state_with(*people), T0, MODEL)
    assert score == round(0.1 + 0.1 + 0.1, SCORE_DIGITS) == 0.3


def test_assess_defaults_to_the_account_clock() -> None:
    state = state_with(contact(points=20.0), clock_ms=at(days=90))
    assert assess(state, MODEL).at_ms == at(days=90)
    assert assess(state, MODEL).score == pytest.approx(10.0)
    assert assess(state, MODEL, T0).score == 20.0


# --- active stakeholders and coverage ---------------------------------------------------------


@pytest.mark.parametrize(
    ("scored_ms", "known", "active"),
    [
        (T0, True, True),
        (at(days=-29), True, True),
        (at(days=-30) + 1, True, True),
        (at(days=-30), True, False),
        (at(days=-45), True, False),
        (None, True, False),
        (T0, False, False),
    ],
    ids=[
        "a contact scored now is active",
        "a contact scored 29 days ago is active",
        "a contact scored just under 30 days ago is active",
        "a contact scored exactly 30 days ago is not active",
        "a contact scored 45 days ago is not active",
        "a contact that never scored is not active",
        "an anonymous visitor is never a stakeholder",
    ],
)
def test_active_window(scored_ms: int | None, known: bool, active: bool) -> None:
    assert is_active(contact(points=5.0, scored_ms=scored_ms, known=known), T0, MODEL) is active


@pytest.mark.parametrize(
    ("roles", "coverage", "ratios"),
    [
        ((), 0.0, [0, 0, 0, 0]),
        (("decision_maker",), 0.25, [1, 0, 0, 0]),
        (("decision_maker", "champion"), 0.5, [1, 1, 0, 0]),
        (("decision_maker", "decision_maker"), 0.25, [1, 0, 0, 0]),
        (("technical_evaluator", "end_user"), 0.5, [0, 0, 1, 1]),
        (("influencer", "end_user"), 0.25, [0, 0, 0, 1]),
        (("decision_maker", "champion", "technical_evaluator", "influencer"), 1.0, [1, 1, 1, 1]),
        (("budget_holder", "blocker", "other", "legal_procurement"), 0.0, [0, 0, 0, 0]),
    ],
    ids=[
        "nobody active covers nothing",
        "a decision maker covers a quarter",
        "a decision maker and a champion cover half",
        "two decision makers still cover one requirement",
        "an evaluator and an end user cover half",
        "an influencer and an end user fill the same requirement",
        "all four requirements cover everything",
        "roles outside the requirements cover nothing",
    ],
)
def test_coverage_by_requirement(
    roles: tuple[str, ...], coverage: float, ratios: list[int]
) -> None:
    result = assess(state_with(*(contact(role, 5.0) for role in roles)), MODEL)
    assert result.coverage == coverage
    assert [r.ratio for r in result.requirements] == ratios
    assert [r.name for r in result.requirements] == [
        "decision_maker",
        "champion",
        "technical_evaluator",
        "influencer_or_end_user",
    ]


def test_coverage_counts_only_active_known_contacts() -> None:
    state = state_with(
        contact("decision_maker", 5.0, scored_ms=at(days=-31)),
        contact("champion", 5.0, known=False),
        contact("technical_evaluator", 5.0),
    )
    result = assess(state, MODEL)
    assert result.active_stakeholders == ("c2@acme.com",)
    assert [r.active_contacts for r in result.requirements] == [(), (), ("c2@acme.com",), ()]
    assert result.coverage == 0.25


@pytest.mark.parametrize(
    ("required", "active", "ratio"),
    [(2, 1, 0.5), (2, 2, 1.0), (3, 5, 1.0)],
    ids=[
        "one of two required decision makers is half",
        "two of two is full",
        "more than required is still full",
    ],
)
def test_a_requirement_of_several_contacts(required: int, active: int, ratio: float) -> None:
    model = model_with(
        **{
            "buying_group.requirements": [
                {"name": "dm", "roles": ["decision_maker"], "min": required}
            ]
        }
    )
    result = assess(state_with(*(contact(points=1.0) for _ in range(active))), model)
    assert (result.requirements[0].ratio, result.coverage) == (ratio, ratio)


def test_key_roles_active_lists_each_key_role_once() -> None:
    state = state_with(
        contact("champion", 1.0),
        contact("budget_holder", 1.0),
        contact("champion", 1.0),
        contact("technical_evaluator", 1.0),
    )
    assert assess(state, MODEL).key_roles_active == ("budget_holder", "champion")


# --- the other conditions of the threshold rule -----------------------------------------------


@pytest.mark.parametrize(
    ("intent_ms", "recent"),
    [(T0, True), (at(days=-7) + 1, True), (at(days=-7), False), (None, False)],
    ids=[
        "an intent touch now is recent",
        "an intent touch just under 7 days ago is recent",
        "an intent touch exactly 7 days ago is not",
        "no intent touch is not recent",
    ],
)
def test_intent_window(intent_ms: int | None, recent: bool) -> None:
    assert assess(state_with(intent_ms=intent_ms), MODEL).intent_recent is recent


@pytest.mark.parametrize(
    ("icp_fit", "fit_ok"),
    [(50, True), (49.9, False), (100, True), (0, False)],
    ids=["a fit of 50 is enough", "a fit just under 50 is not", "a perfect fit", "no fit"],
)
def test_fit(icp_fit: float, fit_ok: bool) -> None:
    assert assess(state_with(icp_fit=icp_fit), MODEL).fit_ok is fit_ok


@pytest.mark.parametrize(
    ("lifecycle", "ok"),
    [
        ("prospect", True),
        ("customer", False),
        ("open_opportunity", False),
        ("partner", False),
        ("competitor", False),
    ],
    ids=lambda value: str(value),
)
def test_only_prospects_pass_the_lifecycle_condition(lifecycle: str, ok: bool) -> None:
    assert assess(state_with(lifecycle=lifecycle), MODEL).lifecycle_ok is ok


def qualified_state(**changes: object) -> AccountState:
    people = [contact("decision_maker", 30.0), contact("champion", 30.0), contact("end_user", 30.0)]
    return state_with(*people, **changes)  # type: ignore[arg-type]


def test_a_qualifying_state_has_nothing_missing() -> None:
    result = assess(qualified_state(), MODEL)
    assert (result.score, result.coverage, len(result.active_stakeholders)) == (84.0, 0.75, 3)
    assert result.missing() == []
    assert result.qualifies and result.score_ok


@pytest.mark.parametrize(
    ("state", "gap"),
    [
        (qualified_state(lifecycle="customer"), "lifecycle is not prospect"),
        (qualified_state(icp_fit=40), "ICP fit below the minimum"),
        (qualified_state(tier=2), "score 90.0 below threshold 100"),
        (qualified_state(intent_ms=at(days=-8)), "no high-intent or form touchpoint"),
        (
            state_with(*(contact("decision_maker", 30.0) for _ in range(3))),
            "buying-group coverage 0.25 below 0.5",
        ),
        (
            state_with(
                *(contact(role, 30.0) for role in ("technical_evaluator", "end_user", "other"))
            ),
            "no decision maker, budget holder or champion active",
        ),
    ],
    ids=[
        "a customer misses the lifecycle",
        "a low fit misses the fit",
        "90 points (three capped at 30) miss the tier-2 threshold",
        "an 8-day-old intent touch misses the intent window",
        "three decision makers miss coverage",
        "no key role misses the key roles",
    ],
)
def test_each_missing_condition_is_named(state: AccountState, gap: str) -> None:
    result = assess(state, MODEL)
    assert len(result.missing()) == 1
    assert gap in result.missing()[0]
    assert not result.qualifies


def test_too_few_stakeholders_is_named() -> None:
    model = model_with(**{"mqa.min_active_stakeholders": 4})
    result = assess(qualified_state(), model)
    assert result.missing() == ["3 active stakeholder(s), need 4"]


def test_an_empty_account_misses_everything_but_lifecycle_and_fit() -> None:
    gaps = assess(state_with(intent_ms=None), MODEL).missing()
    assert [gap.split(" ")[0] for gap in gaps] == ["score", "0", "buying-group", "no", "no"]


# --- surge ------------------------------------------------------------------------------------

TODAY = day_index(T0)


def surge_state(daily: dict[int, list[float]], people: int = 2) -> AccountState:
    return state_with(*(contact(points=1.0) for _ in range(people)), daily=daily)


@pytest.mark.parametrize(
    ("daily", "people", "ratio", "weekly", "surging"),
    [
        ({TODAY: [30.0, 3]}, 2, 30.0, 0.0, True),
        ({TODAY: [1.5, 3]}, 2, 1.5, 0.0, False),
        ({TODAY: [30.0, 2]}, 2, 30.0, 0.0, False),
        ({TODAY: [30.0, 3]}, 1, 30.0, 0.0, False),
        ({TODAY: [14.0, 3], TODAY - 7: [28.0, 4]}, 2, 2.0, 7.0, True),
        ({TODAY: [13.0, 3], TODAY - 7: [28.0, 4]}, 2, 1.86, 7.0, False),
        ({TODAY - 6: [14.0, 3], TODAY - 34: [28.0, 4]}, 2, 2.0, 7.0, True),
        ({TODAY: [14.0, 3], TODAY - 35: [280.0, 4]}, 2, 14.0, 0.0, True),
        ({TODAY - 7: [40.0, 5]}, 2, 0.0, 10.0, False),
        ({TODAY + 1: [40.0, 5]}, 2, 0.0, 0.0, False),
    ],
    ids=[
        "a first burst from silence has its points as ratio (baseline floored at 1)",
        "a tiny first burst is no surge",
        "two touchpoints are too few for a surge",
        "one person is too few for a surge",
        "twice the weekly baseline is a surge",
        "just under twice the baseline is not",
        "the window edges: 6 days back is recent, 34 days back is baseline",
        "35 days back is outside the baseline",
        "points of 7 days back are baseline only",
        "days after the evaluation day are ignored",
    ],
)
def test_surge(
    daily: dict[int, list[float]], people: int, ratio: float, weekly: float, surging: bool
) -> None:
    info = surge(surge_state(daily, people), MODEL, T0)
    assert (info.ratio, info.baseline_weekly_points, info.surging) == (ratio, weekly, surging)


def test_surge_counts_recent_touchpoints_and_people() -> None:
    state = surge_state({TODAY: [10.0, 2], TODAY - 3: [5.0, 1], TODAY - 10: [7.0, 1]}, people=0)
    state.contacts["recent@acme.com"] = contact(points=1.0, scored_ms=at(days=-6) - T0 % DAY)
    state.contacts["old@acme.com"] = contact(points=1.0, scored_ms=at(days=-7) - T0 % DAY - 1)
    info = surge(state, MODEL, T0)
    assert (info.recent_points, info.recent_touchpoints, info.recent_people) == (15.0, 3, 1)
