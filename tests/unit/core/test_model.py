"""The scoring model: shipped defaults, and validation errors that name the offending key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from abm.core.model import DAY_MS, ModelError, ScoringModel, load_model, parse_model
from tests.support.factories import DELETE, model_data, set_path


def invalid(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for dotted, value in changes.items():
        data = set_path(data, dotted, value)
    return data


def test_the_bundled_model_loads_with_the_shipped_version() -> None:
    model = load_model()
    assert isinstance(model, ScoringModel)
    assert model.version == "2026.11-default"


@pytest.mark.parametrize(
    ("tier", "threshold", "follow_up_hours"),
    [(1, 70, 4), (2, 100, 24), (3, 150, 48)],
    ids=["tier 1 needs 70 and 4 h", "tier 2 needs 100 and 24 h", "tier 3 needs 150 and 48 h"],
)
def test_default_tiers(tier: int, threshold: float, follow_up_hours: float) -> None:
    model = load_model()
    assert model.threshold(tier) == threshold
    assert model.tiers[tier].follow_up_hours == follow_up_hours


@pytest.mark.parametrize(
    ("signal_class", "days"),
    [
        ("high_intent", 14),
        ("web", 7),
        ("email", 14),
        ("content", 45),
        ("webinar", 30),
        ("ads", 7),
        ("social", 14),
        ("form", 90),
        ("sales", 30),
    ],
    ids=lambda value: str(value),
)
def test_default_half_lives(signal_class: str, days: float) -> None:
    assert load_model().half_life_ms(signal_class) == days * DAY_MS


def test_default_rule_numbers_match_the_agreement() -> None:
    model = load_model()
    assert (model.caps.per_contact_activity_day, model.caps.per_contact_web_day) == (20, 10)
    assert model.caps.per_contact_share_of_threshold == 0.4
    assert model.mqa.qualifying_lifecycles == ("prospect",)
    assert (model.mqa.min_icp_fit, model.mqa.act_now_min_icp_fit) == (50, 50)
    assert (model.mqa.min_active_stakeholders, model.mqa.min_coverage) == (2, 0.5)
    assert model.mqa.key_roles == ("decision_maker", "budget_holder", "champion")
    assert (model.mqa.exit_ratio, model.mqa.cooldown_days) == (0.6, 30)
    assert model.mqa.act_now_follow_up_minutes == 30
    assert model.zero_score_lifecycles == ("competitor",)
    assert model.buying_group.active_window_days == 30
    assert [r.roles for r in model.buying_group.requirements] == [
        ("decision_maker",),
        ("champion",),
        ("technical_evaluator",),
        ("influencer", "end_user"),
    ]
    assert model.state.max_lateness_days == 35


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"tiers.2.threshold": 0}, "tiers.2.threshold", "greater than 0"),
        ({"tiers.1.threshold": "high"}, "tiers.1.threshold", "valid number"),
        ({"tiers.3": DELETE}, "tiers", "exactly the tiers 1, 2 and 3"),
        ({"tiers.4": {"threshold": 200, "follow_up_hours": 72}}, "tiers", "exactly the tiers"),
        ({"tiers.1.sla": 4}, "tiers.1.sla", "Extra inputs are not permitted"),
        ({"events.Demo Requested.class": "intent"}, "events.Demo Requested.class", "'intent'"),
        ({"page_categories.pricing.class": "hot"}, "page_categories.pricing.class", "'hot'"),
        ({"page_categories.blog.points": -1}, "page_categories.blog.points", "greater than"),
        ({"page_categories.other": DELETE}, "page_categories.other", "required"),
        ({"url_rules.0.category": "prices"}, "url_rules.0.category", "'prices'"),
        ({"url_rules.1.pattern": "^/(security"}, "url_rules.1", "not a valid regular exp"),
        ({"signal_classes.web": 0}, "signal_classes.web", "half-life must be > 0"),
        ({"seniority_multipliers.intern": 0.2}, "seniority_multipliers.intern", "'intern'"),
        ({"seniority_multipliers.vp": -1}, "seniority_multipliers.vp", "must be >= 0"),
        ({"seniority_multipliers.unknown": DELETE}, "seniority_multipliers.unknown", "required"),
        ({"zero_score_lifecycles": ["rival"]}, "zero_score_lifecycles", "'rival'"),
        ({"mqa.qualifying_lifecycles": ["lead"]}, "mqa.qualifying_lifecycles", "'lead'"),
        ({"mqa.key_roles": ["ceo"]}, "mqa.key_roles", "unknown buying role 'ceo'"),
        ({"mqa.intent_classes": ["hot"]}, "mqa.intent_classes", "unknown signal class 'hot'"),
        ({"mqa.min_coverage": 1.5}, "mqa.min_coverage", "less than or equal to 1"),
        (
            {"buying_group.requirements.2.roles": ["it"]},
            "buying_group.requirements.2.roles",
            "unknown buying role 'it'",
        ),
        (
            {"buying_group.requirements.0.min": 0},
            "buying_group.requirements.0.min",
            "or equal to 1",
        ),
        ({"caps.per_contact_share_of_threshold": 1.5}, "caps.per_contact_share_of_threshold", "1"),
        ({"caps.per_contact_week": 50}, "caps.per_contact_week", "Extra inputs"),
        ({"caps": DELETE}, "caps", "Field required"),
        ({"tier": {1: 70}}, "tier", "Extra inputs are not permitted"),
        ({"version": ""}, "version", "at least 1 character"),
        ({"state.timeline_size": 0}, "state.timeline_size", "greater than or equal to 1"),
        ({"surge.recent_days": 0}, "surge.recent_days", "greater than or equal to 1"),
    ],
    ids=[
        "a zero tier-2 threshold names tiers.2.threshold",
        "a non-numeric threshold names tiers.1.threshold",
        "a missing tier names tiers",
        "an extra tier names tiers",
        "an unknown key inside a tier is named",
        "an event of an unknown class names the event's class key",
        "a page category of an unknown class names its class key",
        "negative points name the page category's points",
        "a missing catch-all page category names page_categories.other",
        "a url rule to an unknown category names its index",
        "a url rule with a bad regex names its index",
        "a zero half-life names the signal class",
        "an unknown seniority names the multiplier key",
        "a negative multiplier names the multiplier key",
        "a missing unknown-seniority multiplier is named",
        "an unknown zero-score lifecycle names zero_score_lifecycles",
        "an unknown qualifying lifecycle names mqa.qualifying_lifecycles",
        "an unknown key role names mqa.key_roles",
        "an unknown intent class names mqa.intent_classes",
        "a coverage above 1 names mqa.min_coverage",
        "an unknown role in a requirement names the requirement",
        "a requirement of zero contacts names its min",
        "a per-contact share above 1 names the cap",
        "an unknown cap names itself",
        "a missing section names it",
        "a misspelt top-level key names it",
        "an empty version names version",
        "an empty timeline names state.timeline_size",
        "a zero-day surge window names surge.recent_days",
    ],
)
def test_invalid_models_name_the_key(changes: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ModelError) as info:
        parse_model(invalid(model_data(), changes), "team-model.yaml")
    message = str(info.value)
    assert message.startswith("team-model.yaml: invalid scoring model: ")
    assert f"`{key}`" in message or f"{key}: " in message
    assert words in message
    assert "(top level)" not in message


def test_several_problems_are_all_reported() -> None:
    data = invalid(model_data(), {"tiers.1.threshold": -5, "caps.per_contact_web_day": 0})
    with pytest.raises(ModelError) as info:
        parse_model(data)
    assert "tiers.1.threshold" in str(info.value)
    assert "caps.per_contact_web_day" in str(info.value)


@pytest.mark.parametrize(
    "document",
    [None, [], "version: 1", 42],
    ids=["an empty file", "a list", "a bare string", "a number"],
)
def test_a_model_must_be_a_mapping(document: Any) -> None:
    with pytest.raises(ModelError, match=r"^src\.yaml: the model must be a YAML mapping"):
        parse_model(document, "src.yaml")


def test_load_model_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ModelError, match="cannot read the scoring model") as info:
        load_model(missing)
    assert str(missing) in str(info.value)


def test_load_model_names_a_file_that_is_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: [unclosed\n", "utf-8")
    with pytest.raises(ModelError, match="not valid YAML") as info:
        load_model(path)
    assert str(info.value).startswith(str(path))


def test_load_model_names_the_file_and_key_of_a_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    text = (Path(__file__).parents[3] / "abm/core/default_model.yaml").read_text("utf-8")
    path.write_text(text.replace("min_icp_fit: 50", "min_icp_fit: 150"), "utf-8")
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: invalid scoring model")
    assert "mqa.min_icp_fit" in str(info.value)


def test_a_changed_copy_of_the_default_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    text = (Path(__file__).parents[3] / "abm/core/default_model.yaml").read_text("utf-8")
    path.write_text(text.replace('"2026.11-default"', '"team-7"'), "utf-8")
    model = load_model(path)
    assert model.version == "team-7"
    assert model.threshold(1) == 70


@pytest.mark.parametrize(
    ("path_text", "category"),
    [
        ("/pricing", "pricing"),
        ("/PRICING/enterprise", "pricing"),
        ("/trust", "security"),
        ("/docs/api/auth", "integrations"),
    ],
    ids=[
        "rules compile to patterns",
        "compiled rules ignore case",
        "alternatives in a rule match",
        "a rule matches a sub-path",
    ],
)
def test_compiled_url_rules(path_text: str, category: str) -> None:
    model = load_model()
    matches = [cat for pattern, cat in model.compiled_url_rules if pattern.search(path_text)]
    assert matches[0] == category
