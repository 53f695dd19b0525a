"""The MQA event: what an account executive reads, and its deterministic id."""

from __future__ import annotations

from typing import Any

import pytest

from abm.core.assessment import assess
from abm.core.explain import (
    EVENT_SCHEMA,
    RULE_ACT_NOW,
    RULE_THRESHOLD,
    activity_label,
    build_mqa_event,
    follow_up_ms,
    mqa_id,
)
from abm.core.state import AccountState
from tests.support.factories import (
    CHAMPION,
    DM,
    HOUR,
    MINUTE,
    T0,
    TECH,
    USER,
    account,
    acts,
    at,
    default_model,
    model_with,
    mqas,
    page,
    qualifying_group,
    replay,
)

MODEL = default_model()


def threshold_mqa() -> tuple[AccountState, dict[str, Any]]:
    """An end user reads pricing two hours before decision maker, champion and evaluator fill
    in lead forms at T0; the evaluator's lead-gen form makes the account an MQA."""
    record = account(value_score=3)
    touches = [
        page("/pricing", at_ms=at(hours=-2), account_record=record, title="Analyst", **USER),
        *qualifying_group(T0, record),
    ]
    state, outcomes = replay(touches)
    [event] = mqas(outcomes)
    return state, event


# --- the id -----------------------------------------------------------------------------------

BASE_ID = ("acme", 1, T0, RULE_THRESHOLD, "v1")


def test_the_id_is_a_stable_digest() -> None:
    identifier = mqa_id(*BASE_ID)
    assert identifier == mqa_id(*BASE_ID)
    assert identifier.startswith("mqa_") and len(identifier) == 4 + 24
    int(identifier[4:], 16)


@pytest.mark.parametrize(
    "changed",
    [
        ("acme2", 1, T0, RULE_THRESHOLD, "v1"),
        ("acme", 2, T0, RULE_THRESHOLD, "v1"),
        ("acme", 1, T0 + 1, RULE_THRESHOLD, "v1"),
        ("acme", 1, T0, RULE_ACT_NOW, "v1"),
        ("acme", 1, T0, RULE_THRESHOLD, "v2"),
        ("acme1", 1, T0, RULE_THRESHOLD, "v1"),
    ],
    ids=[
        "another account has another id",
        "another episode has another id",
        "another qualification time has another id",
        "another rule has another id",
        "another model version has another id",
        "fields cannot run into each other",
    ],
)
def test_every_part_of_the_identity_changes_the_id(changed: tuple[Any, ...]) -> None:
    assert mqa_id(*changed) != mqa_id(*BASE_ID)


def test_the_event_id_is_derived_from_its_identity() -> None:
    state, event = threshold_mqa()
    expected = mqa_id("acme", 1, T0, RULE_THRESHOLD, MODEL.version)
    assert event["mqa_id"] == expected == state.mqa_history[-1].mqa_id


# --- follow-up due ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "tier", "due_ms"),
    [
        (RULE_THRESHOLD, 1, 4 * HOUR),
        (RULE_THRESHOLD, 2, 24 * HOUR),
        (RULE_THRESHOLD, 3, 48 * HOUR),
        (RULE_ACT_NOW, 1, 30 * MINUTE),
        (RULE_ACT_NOW, 3, 30 * MINUTE),
    ],
    ids=[
        "tier 1 is followed up within 4 hours",
        "tier 2 within 24 hours",
        "tier 3 within 48 hours",
        "act now within 30 minutes",
        "act now within 30 minutes whatever the tier",
    ],
)
def test_follow_up_due(rule: str, tier: int, due_ms: int) -> None:
    assert follow_up_ms(rule, tier, MODEL) == due_ms
    state, _ = threshold_mqa()
    state.account = account(tier=tier)
    event = build_mqa_event(state, assess(state, MODEL), rule, MODEL).to_dict()
    assert event["follow_up"] == {
        "due_at_ms": T0 + due_ms,
        "due_at": event["follow_up"]["due_at"],
        "sla_seconds": due_ms // 1000,
    }
    assert event["follow_up"]["due_at"].startswith("2026-03-0")


def test_follow_up_times_are_configurable() -> None:
    model = model_with(**{"tiers.2.follow_up_hours": 0.5, "mqa.act_now_follow_up_minutes": 5})
    assert (follow_up_ms(RULE_THRESHOLD, 2, model), follow_up_ms(RULE_ACT_NOW, 2, model)) == (
        30 * MINUTE,
        5 * MINUTE,
    )


# --- content ----------------------------------------------------------------------------------


def test_the_threshold_event_states_rule_score_fit_tier_and_version() -> None:
    _, event = threshold_mqa()
    assert event["schema"] == EVENT_SCHEMA
    assert (event["rule"], event["episode"]) == ("threshold", 1)
    assert event["account"] == {
        "id": "acme",
        "name": "Acme BV",
        "tier": 1,
        "icp_fit": 80.0,
        "lifecycle": "prospect",
        "value_score": 3,
        "domains": ["acme.com"],
    }
    assert (event["qualified_at"], event["qualified_at_ms"]) == ("2026-03-02T09:00:00.000Z", T0)
    assert event["threshold"] == 70
    assert event["score"] == round(3 * 28 + 10 * 2 ** (-2 / (14 * 24)), 2) == 93.96
    assert event["model_version"] == "2026.11-default"
    assert event["owner"] == {"email": "ae@vendor.example", "slack_id": "U0AE"}
    assert event["first_engaged_at"] == "2026-03-02T07:00:00.000Z"
    assert event["engaged_to_mqa_seconds"] == 2 * 3600
    assert event["follow_up"]["due_at"] == "2026-03-02T13:00:00.000Z"


def test_coverage_is_explained_by_role() -> None:
    _, event = threshold_mqa()
    assert event["coverage"] == 1.0
    assert event["active_stakeholders"] == 4
    assert event["key_roles_active"] == ["champion", "decision_maker"]
    assert event["coverage_by_requirement"] == [
        {
            "requirement": "decision_maker",
            "roles": ["decision_maker"],
            "required": 1,
            "active": 1,
            "contacts": ["dana@acme.com"],
        },
        {
            "requirement": "champion",
            "roles": ["champion"],
            "required": 1,
            "active": 1,
            "contacts": ["chris@acme.com"],
        },
        {
            "requirement": "technical_evaluator",
            "roles": ["technical_evaluator"],
            "required": 1,
            "active": 1,
            "contacts": ["tess@acme.com"],
        },
        {
            "requirement": "influencer_or_end_user",
            "roles": ["influencer", "end_user"],
            "required": 1,
            "active": 1,
            "contacts": ["uma@acme.com"],
        },
    ]


def test_top_contacts_are_ranked_by_points_with_role_seniority_and_last_touch() -> None:
    _, event = threshold_mqa()
    rows = [
        (c["contact"], c["role"], c["seniority"], c["points"], c["last_touch"], c["touches"])
        for c in event["top_contacts"]
    ]
    assert rows == [
        ("chris@acme.com", "champion", "manager", 28.0, "2026-03-02T09:00:00.000Z", 2),
        ("dana@acme.com", "decision_maker", "manager", 28.0, "2026-03-02T09:00:00.000Z", 2),
        ("tess@acme.com", "technical_evaluator", "manager", 28.0, "2026-03-02T09:00:00.000Z", 1),
        ("uma@acme.com", "end_user", "manager", 9.96, "2026-03-02T07:00:00.000Z", 1),
    ]
    assert event["top_contacts"][3]["title"] == "Analyst"
    assert all(c["active"] for c in event["top_contacts"])


def test_top_touchpoints_are_ranked_by_their_worth_now() -> None:
    _, event = threshold_mqa()
    rows = [
        (t["activity"], t["label"], t["contact"], t["points"], t["points_now"])
        for t in event["top_touchpoints"]
    ]
    lead_gen = "LinkedIn Lead Gen Form Submitted"
    assert rows == [
        (lead_gen, lead_gen, "chris@acme.com", 30.0, 30.0),
        (lead_gen, lead_gen, "dana@acme.com", 30.0, 30.0),
        (lead_gen, lead_gen, "tess@acme.com", 30.0, 30.0),
        ("Form Submitted", "Form Submitted", "chris@acme.com", 10.0, 10.0),
        ("Form Submitted", "Form Submitted", "dana@acme.com", 10.0, 10.0),
        ("page:pricing", "pricing page", "uma@acme.com", 10.0, 9.96),
    ]
    pricing = event["top_touchpoints"][-1]
    assert pricing["at"] == "2026-03-02T07:00:00.000Z"
    assert pricing["url"] == "https://www.vendor.example/pricing"
    assert pricing["role"] == "end_user" and pricing["act_now"] is False


def test_top_lists_are_bounded_by_the_model() -> None:
    people = [{"contact": f"p{n}@acme.com", "role": "champion"} for n in range(7)]
    touches = [
        tp
        for n, who in enumerate(people)
        for tp in acts(who, "/pricing", "/security", at_ms=at(minutes=n))
    ]
    state, _ = replay(touches)
    event = build_mqa_event(state, assess(state, MODEL), RULE_THRESHOLD, MODEL).to_dict()
    assert len(state.contacts) == 7 and len(state.timeline) == 14
    assert len(event["top_contacts"]) == MODEL.state.explain_top_contacts == 5
    assert len(event["top_touchpoints"]) == MODEL.state.explain_top_touchpoints == 8
    # the seven pricing views (newest, so least decayed, first), then the newest security view
    assert [(t["label"], t["contact"]) for t in event["top_touchpoints"]] == [
        *(("pricing page", f"p{n}@acme.com") for n in range(6, -1, -1)),
        ("security / trust page", "p6@acme.com"),
    ]


def test_the_surge_is_part_of_the_explanation() -> None:
    _, event = threshold_mqa()
    assert event["surge"] == {
        "ratio": 120.0,
        "recent_points": 120.0,
        "baseline_weekly_points": 0.0,
        "recent_touchpoints": 6,
        "recent_people": 4,
        "surging": True,
    }


def test_the_threshold_summary_names_account_score_roles_and_what_they_read() -> None:
    _, event = threshold_mqa()
    assert event["summary"] == (
        "Acme BV (tier 1, fit 80): score 93.96 >= 70, 4 active stakeholders "
        "(champion, decision_maker, end_user, technical_evaluator), coverage 100%; "
        "recent: Form Submitted, LinkedIn Lead Gen Form Submitted"
    )


def test_the_act_now_event_names_the_request_and_who_asked() -> None:
    _, outcomes = replay(acts({**TECH, "seniority": "vp"}, "Demo Requested"))
    [event] = mqas(outcomes)
    assert (event["rule"], event["score"], event["threshold"]) == ("act_now", 28.0, 70)
    assert event["follow_up"] == {
        "due_at": "2026-03-02T09:30:00.000Z",
        "due_at_ms": T0 + 30 * MINUTE,
        "sla_seconds": 1800,
    }
    assert event["top_touchpoints"][0]["act_now"] is True
    assert event["top_touchpoints"][0]["points"] == 75.0
    assert event["summary"] == (
        "Acme BV (tier 1, fit 80): Demo Requested by tess@acme.com (technical_evaluator)"
        " - act now, follow up by 2026-03-02T09:30:00.000Z"
    )


def test_an_event_of_an_account_never_engaged_has_no_engagement_times() -> None:
    state = AccountState(account=account(), clock_ms=T0)
    event = build_mqa_event(state, assess(state, MODEL), RULE_ACT_NOW, MODEL).to_dict()
    assert (event["first_engaged_at"], event["engaged_to_mqa_seconds"]) == (None, None)
    assert (event["top_contacts"], event["top_touchpoints"]) == ([], [])
    assert event["summary"].endswith(
        "demo or contact-sales request - act now, follow up by 2026-03-02T09:30:00.000Z"
    )


def test_building_the_event_changes_nothing_in_the_state() -> None:
    state, _ = threshold_mqa()
    before = state.to_bytes()
    build_mqa_event(state, assess(state, MODEL), RULE_THRESHOLD, MODEL)
    assert state.to_bytes() == before


@pytest.mark.parametrize(
    ("activity", "label"),
    [
        ("page:pricing", "pricing page"),
        ("page:security", "security / trust page"),
        ("page:integrations", "integrations / docs page"),
        ("page:case_study", "case study"),
        ("page:blog", "blog post"),
        ("page:other", "web page"),
        ("page:partner_portal", "partner portal page"),
        ("Webinar Attended", "Webinar Attended"),
    ],
    ids=[
        "pricing pages read as such",
        "security pages read as trust pages",
        "integration pages include docs",
        "a case study",
        "a blog post",
        "other pages are web pages",
        "a category of a custom model reads as words",
        "track events keep their name",
    ],
)
def test_activity_label(activity: str, label: str) -> None:
    assert activity_label(activity) == label


def test_the_pricing_reader_is_an_end_user_not_a_key_role() -> None:
    _, event = threshold_mqa()
    assert "end_user" not in event["key_roles_active"]
    assert {DM["role"], CHAMPION["role"]} == set(event["key_roles_active"])
