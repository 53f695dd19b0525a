"""How an account stands at a moment of event time: score, coverage, stakeholders, surge.

Used by the MQA rule, by its explanation and by the account view; it never changes the state.
The rules it computes: docs/scoring.md ("The MQA rules", "Buying group: stakeholders and
coverage", "Surge").
"""

from __future__ import annotations

from dataclasses import dataclass

from abm.core import decay
from abm.core.model import DAY_MS, ScoringModel
from abm.core.state import AccountState, ContactState
from abm.core.timefmt import day_index

SCORE_DIGITS = 6
"""Scores are rounded before comparisons so float summation order never flips a decision."""


@dataclass(frozen=True, slots=True)
class RequirementCoverage:
    name: str
    roles: tuple[str, ...]
    required: int
    active_contacts: tuple[str, ...]

    @property
    def ratio(self) -> float:
        return min(len(self.active_contacts) / self.required, 1.0)


@dataclass(frozen=True, slots=True)
class SurgeInfo:
    ratio: float
    recent_points: float
    baseline_weekly_points: float
    recent_touchpoints: int
    recent_people: int
    surging: bool


@dataclass(frozen=True, slots=True)
class Assessment:
    at_ms: int
    score: float
    threshold: float
    contributions: dict[str, float]
    """Per contact: decayed points after the per-contact cap (what it adds to the score)."""
    active_stakeholders: tuple[str, ...]
    requirements: tuple[RequirementCoverage, ...]
    key_roles_active: tuple[str, ...]
    intent_recent: bool
    fit_ok: bool
    lifecycle_ok: bool
    surge: SurgeInfo
    min_active: int
    min_coverage: float

    @property
    def coverage(self) -> float:
        return round(sum(r.ratio for r in self.requirements) / len(self.requirements), 4)

    @property
    def score_ok(self) -> bool:
        return self.score >= self.threshold

    @property
    def qualifies(self) -> bool:
        """The threshold rule (docs/scoring.md, "The threshold rule"), every condition at once."""
        return not self.missing()

    def missing(self) -> list[str]:
        """What keeps the account from qualifying on the threshold rule, in plain words."""
        gaps = []
        if not self.lifecycle_ok:
            gaps.append("lifecycle is not prospect")
        if not self.fit_ok:
            gaps.append("ICP fit below the minimum")
        if not self.score_ok:
            gaps.append(f"score {self.score:.1f} below threshold {self.threshold:g}")
        if len(self.active_stakeholders) < self.min_active:
            gaps.append(
                f"{len(self.active_stakeholders)} active stakeholder(s), need {self.min_active}"
            )
        if self.coverage < self.min_coverage:
            gaps.append(f"buying-group coverage {self.coverage:.2f} below {self.min_coverage:g}")
        if not self.key_roles_active:
            gaps.append("no decision maker, budget holder or champion active")
        if not self.intent_recent:
            gaps.append("no high-intent or form touchpoint in the intent window")
        return gaps


def contact_points(contact: ContactState, at_ms: int, model: ScoringModel) -> float:
    """A contact's decayed points over all signal classes, before the per-contact cap."""
    return sum(
        decay.value_at(acc, at_ms, model.half_life_ms(cls))
        for cls, acc in contact.accumulators.items()
    )


def share_cap(state: AccountState, model: ScoringModel) -> float:
    """The most one contact adds to the score: a share of the account's tier threshold
    (docs/scoring.md, "Per-contact share of the threshold")."""
    return model.caps.per_contact_share_of_threshold * model.threshold(state.account.tier)


def remainder_points(state: AccountState, at_ms: int, model: ScoringModel) -> float:
    """What the contacts folded away by the state's bounds still add (already capped)."""
    return sum(
        decay.value_at(acc, at_ms, model.half_life_ms(cls)) for cls, acc in state.remainder.items()
    )


def account_score(state: AccountState, at_ms: int, model: ScoringModel) -> float:
    """The decayed, capped score: the per-contact points, each capped, plus the remainder."""
    cap = share_cap(state, model)
    half_lives = model.half_lives_ms
    total = 0.0
    for contact in state.contacts.values():
        points = 0.0
        for cls, (value, ref_ms) in contact.accumulators.items():
            points += (
                value if at_ms <= ref_ms else value * 2.0 ** (-(at_ms - ref_ms) / half_lives[cls])
            )
        total += points if points < cap else cap
    if state.remainder:
        total += remainder_points(state, at_ms, model)
    return round(total, SCORE_DIGITS)


def _score_and_contributions(
    state: AccountState, at_ms: int, model: ScoringModel
) -> tuple[float, dict[str, float]]:
    cap = share_cap(state, model)
    contributions = {
        key: min(contact_points(contact, at_ms, model), cap)
        for key, contact in state.contacts.items()
    }
    total = sum(contributions.values())
    if state.remainder:
        total += remainder_points(state, at_ms, model)
    return round(total, SCORE_DIGITS), contributions


def is_active(contact: ContactState, at_ms: int, model: ScoringModel) -> bool:
    """An active stakeholder: a known person with a scored touch in the active window
    (docs/scoring.md, "Buying group: stakeholders and coverage")."""
    window_ms = model.buying_group.active_window_days * DAY_MS
    return (
        contact.known
        and contact.last_scored_ms is not None
        and contact.last_scored_ms > at_ms - window_ms
    )


def assess(state: AccountState, model: ScoringModel, at_ms: int | None = None) -> Assessment:
    at = state.clock_ms if at_ms is None else at_ms
    score, contributions = _score_and_contributions(state, at, model)
    active = {key: c for key, c in state.contacts.items() if is_active(c, at, model)}
    requirements = tuple(
        RequirementCoverage(
            name=req.name,
            roles=req.roles,
            required=req.min,
            active_contacts=tuple(sorted(k for k, c in active.items() if c.role in req.roles)),
        )
        for req in model.buying_group.requirements
    )
    rule = model.mqa
    key_roles = tuple(sorted({c.role for c in active.values() if c.role in rule.key_roles}))
    intent_window_ms = rule.intent_window_days * DAY_MS
    account = state.account
    return Assessment(
        at_ms=at,
        score=score,
        threshold=model.threshold(account.tier),
        contributions=contributions,
        active_stakeholders=tuple(sorted(active)),
        requirements=requirements,
        key_roles_active=key_roles,
        intent_recent=state.intent_ms is not None and state.intent_ms > at - intent_window_ms,
        fit_ok=account.icp_fit >= rule.min_icp_fit,
        lifecycle_ok=account.lifecycle in rule.qualifying_lifecycles,
        surge=surge(state, model, at),
        min_active=rule.min_active_stakeholders,
        min_coverage=rule.min_coverage,
    )


def surge(state: AccountState, model: ScoringModel, at_ms: int) -> SurgeInfo:
    """Points of the recent days against the weekly average of the days before them
    (docs/scoring.md, "Surge"; not a condition of the MQA rules).

    The baseline is floored at one point a week, so a first burst from silence has a finite
    ratio (its recent points) instead of an infinite one.
    """
    cfg = model.surge
    today = day_index(at_ms)
    recent_first = today - cfg.recent_days + 1
    baseline_first = recent_first - cfg.baseline_days
    recent_points = baseline_points = 0.0
    recent_touches = 0
    for day, (points, touches) in state.daily.items():
        if recent_first <= day <= today:
            recent_points += points
            recent_touches += int(touches)
        elif baseline_first <= day < recent_first:
            baseline_points += points
    weekly = baseline_points * cfg.recent_days / cfg.baseline_days
    ratio = recent_points / max(weekly, 1.0)
    window_start_ms = recent_first * DAY_MS
    people = sum(
        1
        for c in state.contacts.values()
        if c.last_scored_ms is not None and c.last_scored_ms >= window_start_ms
    )
    return SurgeInfo(
        ratio=round(ratio, 2),
        recent_points=round(recent_points, 2),
        baseline_weekly_points=round(weekly, 2),
        recent_touchpoints=recent_touches,
        recent_people=people,
        surging=ratio >= cfg.min_ratio
        and recent_touches >= cfg.min_touchpoints
        and people >= cfg.min_people,
    )
