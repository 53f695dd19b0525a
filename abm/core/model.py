"""The scoring model: a versioned YAML file validated into an immutable object.

Every number that decides who becomes an MQA lives here, so sales and marketing can read and
change the agreement without touching code. Validation is strict (unknown keys are errors) so
that a typo stops start-up with the key named instead of silently falling back to a default.
What each key does, with its shipped default: docs/scoring.md ("Every setting").
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

BUYING_ROLES: tuple[str, ...] = (
    "decision_maker",
    "budget_holder",
    "champion",
    "executive_sponsor",
    "technical_evaluator",
    "influencer",
    "end_user",
    "legal_procurement",
    "blocker",
    "other",
)
LIFECYCLES: tuple[str, ...] = ("prospect", "customer", "open_opportunity", "partner", "competitor")
SENIORITIES: tuple[str, ...] = (
    "c_level",
    "vp",
    "director",
    "manager",
    "individual",
    "unknown",
    "student",
)


class ModelError(ValueError):
    """An invalid scoring model; the message names the file and the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UrlRule(_Strict):
    pattern: str
    category: str

    @model_validator(mode="after")
    def _compiles(self) -> UrlRule:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            message = f"pattern {self.pattern!r} is not a valid regular expression: {exc}"
            raise ValueError(message) from None
        return self


class Scored(_Strict):
    points: float = Field(ge=0)
    class_: str = Field(alias="class")


class EventRule(Scored):
    premium_points: float | None = Field(default=None, ge=0)
    act_now: bool = False


class Caps(_Strict):
    per_contact_activity_day: float = Field(gt=0)
    per_contact_web_day: float = Field(gt=0)
    per_contact_share_of_threshold: float = Field(gt=0, le=1)


class Tier(_Strict):
    threshold: float = Field(gt=0)
    follow_up_hours: float = Field(gt=0)


class Requirement(_Strict):
    name: str
    roles: tuple[str, ...] = Field(min_length=1)
    min: int = Field(ge=1)


class BuyingGroup(_Strict):
    active_window_days: float = Field(gt=0)
    requirements: tuple[Requirement, ...] = Field(min_length=1)


class Surge(_Strict):
    recent_days: int = Field(ge=1)
    baseline_days: int = Field(ge=1)
    min_ratio: float = Field(gt=0)
    min_touchpoints: int = Field(ge=0)
    min_people: int = Field(ge=0)


class MqaRule(_Strict):
    qualifying_lifecycles: tuple[str, ...] = Field(min_length=1)
    min_icp_fit: float = Field(ge=0, le=100)
    min_active_stakeholders: int = Field(ge=0)
    min_coverage: float = Field(ge=0, le=1)
    key_roles: tuple[str, ...]
    intent_classes: tuple[str, ...]
    intent_window_days: float = Field(gt=0)
    act_now_min_icp_fit: float = Field(ge=0, le=100)
    act_now_follow_up_minutes: float = Field(gt=0)
    exit_ratio: float = Field(ge=0, le=1)
    cooldown_days: float = Field(ge=0)


class StateLimits(_Strict):
    max_lateness_days: float = Field(gt=0)
    timeline_size: int = Field(ge=1, le=10_000)
    explain_top_contacts: int = Field(ge=1)
    explain_top_touchpoints: int = Field(ge=1)


class ScoringModel(_Strict):
    """The validated model. Cross-references (classes, roles, lifecycles) are checked too."""

    version: str = Field(min_length=1)
    signal_classes: dict[str, float]
    url_rules: tuple[UrlRule, ...]
    page_categories: dict[str, Scored]
    events: dict[str, EventRule]
    seniority_multipliers: dict[str, float]
    zero_score_lifecycles: tuple[str, ...] = ()
    caps: Caps
    tiers: dict[int, Tier]
    buying_group: BuyingGroup
    surge: Surge
    mqa: MqaRule
    state: StateLimits

    @model_validator(mode="after")
    def _cross_references(self) -> ScoringModel:
        for name, half_life in self.signal_classes.items():
            if half_life <= 0:
                raise ValueError(f"signal_classes.{name}: half-life must be > 0 days")
        classes = set(self.signal_classes)
        for name, page in self.page_categories.items():
            _known(page.class_, classes, f"page_categories.{name}.class", "signal class")
        for name, event in self.events.items():
            _known(event.class_, classes, f"events.{name}.class", "signal class")
        for index, rule in enumerate(self.url_rules):
            _known(
                rule.category,
                set(self.page_categories),
                f"url_rules.{index}.category",
                "page category",
            )
        if "other" not in self.page_categories:
            raise ValueError("page_categories.other: required (pages that match no rule)")
        for name, factor in self.seniority_multipliers.items():
            _known(name, set(SENIORITIES), f"seniority_multipliers.{name}", "seniority")
            if factor < 0:
                raise ValueError(f"seniority_multipliers.{name}: must be >= 0")
        if "unknown" not in self.seniority_multipliers:
            raise ValueError("seniority_multipliers.unknown: required")
        for lifecycle in self.zero_score_lifecycles:
            _known(lifecycle, set(LIFECYCLES), "zero_score_lifecycles", "lifecycle")
        for lifecycle in self.mqa.qualifying_lifecycles:
            _known(lifecycle, set(LIFECYCLES), "mqa.qualifying_lifecycles", "lifecycle")
        if set(self.tiers) != {1, 2, 3}:
            raise ValueError("tiers: exactly the tiers 1, 2 and 3 are required")
        for index, requirement in enumerate(self.buying_group.requirements):
            for role in requirement.roles:
                _known(
                    role,
                    set(BUYING_ROLES),
                    f"buying_group.requirements.{index}.roles",
                    "buying role",
                )
        for role in self.mqa.key_roles:
            _known(role, set(BUYING_ROLES), "mqa.key_roles", "buying role")
        for cls in self.mqa.intent_classes:
            _known(cls, classes, "mqa.intent_classes", "signal class")
        return self

    @cached_property
    def compiled_url_rules(self) -> tuple[tuple[re.Pattern[str], str], ...]:
        return tuple((re.compile(r.pattern, re.IGNORECASE), r.category) for r in self.url_rules)

    @cached_property
    def half_lives_ms(self) -> dict[str, float]:
        """Half-life per signal class, in ms (the hot path reads this, not `half_life_ms`)."""
        return {cls: days * DAY_MS for cls, days in self.signal_classes.items()}

    @cached_property
    def shortest_half_life_ms(self) -> float:
        return min(self.half_lives_ms.values())

    def threshold(self, tier: int) -> float:
        return self.tiers[tier].threshold

    def half_life_ms(self, signal_class: str) -> float:
        return self.signal_classes[signal_class] * DAY_MS


DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


def _known(value: str, allowed: set[str], key: str, what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{key}: unknown {what} {value!r} (known: {', '.join(sorted(allowed))})")


def parse_model(data: Any, source: str = "<model>") -> ScoringModel:
    """Validate a loaded YAML document; errors name the source and the dotted key."""
    if not isinstance(data, dict):
        raise ModelError(f"{source}: the model must be a YAML mapping at the top level")
    try:
        return ScoringModel.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            # Cross-reference checks run on the whole model and start with the key themselves.
            problems.append(f"key `{key}`: {message}" if key else message)
        raise ModelError(f"{source}: invalid scoring model: " + "; ".join(problems)) from None


def load_model(path: Path | None = None) -> ScoringModel:
    """Load a model file, or the bundled default when `path` is None."""
    if path is None:
        text = resources.files("abm.core").joinpath("default_model.yaml").read_text("utf-8")
        source = "default_model.yaml"
    else:
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ModelError(f"{path}: cannot read the scoring model: {exc.strerror}") from None
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"{source}: not valid YAML: {exc}") from None
    return parse_model(data, source)


Lifecycle = Literal["prospect", "customer", "open_opportunity", "partner", "competitor"]
