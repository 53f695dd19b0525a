"""What an account executive sees about one account: the account page and its JSON API.

A pure function of the account state and the scoring model, judged at one moment of event time
(`at_ms`; never before the account's own clock). Every number on the page is traceable: the
score is the decayed, capped sum of the stakeholders' points, the coverage lists who covers
which requirement, the timeline lists the scored touchpoints with their points then and now, and
each past MQA carries the explanation it was sent with.

The score history is reconstructed, not stored: see `score_history`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

from abm.core import decay
from abm.core.assessment import Assessment, assess
from abm.core.explain import activity_label, coverage_rows
from abm.core.model import DAY_MS, ScoringModel
from abm.core.state import AccountState, TouchRecord
from abm.core.timefmt import day_index, iso_ms

HISTORY_DAYS: Final = 90


@dataclass(frozen=True, slots=True)
class ScorePoint:
    at_ms: int
    score: float | None
    """None where the state can no longer tell (before `ScoreHistory.exact_from_ms`)."""


@dataclass(frozen=True, slots=True)
class ScoreHistory:
    points: tuple[ScorePoint, ...]
    """The score at the end of each UTC day of the window, the last point at `at_ms` itself."""
    exact_from_ms: int | None
    """None: every point is exact. Otherwise the state kept only the latest
    `state.timeline_size` scored touchpoints, and points before this time are unknown."""


def score_history(
    state: AccountState, model: ScoringModel, at_ms: int, days: int = HISTORY_DAYS
) -> ScoreHistory:
    """The account's score over the last `days` days, at the end of each UTC day.

    Reconstructed from the state: the timeline holds every scored touchpoint (granted points,
    class, contact, time) until it reaches `state.timeline_size` entries, after which the oldest
    are dropped. A dropped touchpoint is older than every kept one, so from the oldest kept
    touchpoint on, the dropped ones only decay; their remaining worth per contact and class is
    what the exact decay accumulators hold beyond the kept touchpoints. So:

    - timeline never truncated: every point is exact;
    - truncated: points from the oldest kept touchpoint on are exact, earlier ones are None.

    Contacts folded into the account's remainder by the state's bounds count from their
    timeline entries; what the remainder holds beyond those is decayed back like dropped
    touchpoints (for a busy account, a close estimate rather than an exact figure).

    "Exact" up to two things the state does not keep: the stored points are rounded to 4
    decimals, and the per-contact cap uses the account's current tier threshold. Contacts
    forgotten after a month of silence (once their points fell under 0.01) are still counted
    from the timeline.
    """
    at = max(at_ms, state.clock_ms)
    last_day = day_index(at)
    moments = [(day + 1) * DAY_MS - 1 for day in range(last_day - days + 1, last_day)] + [at]
    truncated = len(state.timeline) >= model.state.timeline_size
    exact_from = state.timeline[0].at_ms if truncated and state.timeline else None

    by_stream: dict[tuple[str, str], list[TouchRecord]] = defaultdict(list)
    for touch in state.timeline:
        by_stream[(touch.contact, touch.signal_class)].append(touch)
    dropped: dict[tuple[str, str], float] = {}
    if truncated:
        clock = state.clock_ms
        for key, contact_state in state.contacts.items():
            for cls, acc in contact_state.accumulators.items():
                half_life = model.half_life_ms(cls)
                kept = sum(
                    decay.decayed(t.points, clock - t.at_ms, half_life)
                    for t in by_stream.get((key, cls), ())
                )
                dropped[(key, cls)] = max(0.0, decay.value_at(acc, clock, half_life) - kept)

    # The remainder (contacts folded away by the state's bounds) is explained by the timeline
    # entries of contacts no longer kept; what it holds beyond them is treated like dropped
    # touchpoints, and it is not capped (it was capped when folded).
    rest: dict[str, float] = {}
    for cls, acc in state.remainder.items():
        half_life = model.half_life_ms(cls)
        explained = sum(
            decay.decayed(t.points, state.clock_ms - t.at_ms, half_life)
            for (contact, stream_cls), touches in by_stream.items()
            if stream_cls == cls and contact not in state.contacts
            for t in touches
        )
        rest[cls] = max(0.0, decay.value_at(acc, state.clock_ms, half_life) - explained)

    cap = model.caps.per_contact_share_of_threshold * model.threshold(state.account.tier)
    classes_of: dict[str, set[str]] = defaultdict(set)
    for contact, cls in set(by_stream) | set(dropped):
        classes_of[contact].add(cls)
    points = []
    for moment in moments:
        if exact_from is not None and moment < exact_from:
            points.append(ScorePoint(moment, None))
            continue
        total = 0.0
        for contact, classes in classes_of.items():
            worth = 0.0
            for cls in classes:
                half_life = model.half_life_ms(cls)
                worth += sum(
                    decay.decayed(t.points, moment - t.at_ms, half_life)
                    for t in by_stream.get((contact, cls), ())
                    if t.at_ms <= moment
                )
                # What the dropped touchpoints were still worth at `moment`: they all lie
                # before it, so their worth at the clock only has to be decayed back.
                worth += dropped.get((contact, cls), 0.0) * 2.0 ** (
                    (state.clock_ms - moment) / half_life
                )
            total += min(worth, cap)
        for cls, value in rest.items():
            total += value * 2.0 ** ((state.clock_ms - moment) / model.half_life_ms(cls))
        points.append(ScorePoint(moment, round(total, 2)))
    return ScoreHistory(tuple(points), exact_from)


def account_view(
    state: AccountState,
    model: ScoringModel,
    at_ms: int | None = None,
    history_days: int = HISTORY_DAYS,
) -> dict[str, Any]:
    """The account page's content as a JSON-ready dict (also the `/accounts/{id}` JSON)."""
    at = state.clock_ms if at_ms is None else max(at_ms, state.clock_ms)
    assessment = assess(state, model, at)
    account = state.account
    exit_score = model.mqa.exit_ratio * assessment.threshold
    history = score_history(state, model, at, history_days)
    window_start = history.points[0].at_ms - DAY_MS + 1
    return {
        "account": account.to_dict(),
        "as_of": iso_ms(at),
        "as_of_ms": at,
        "last_touch": iso_ms(state.clock_ms),
        "first_engaged_at": _iso(state.first_engaged_ms),
        "last_engaged_at": _iso(state.last_engaged_ms),
        "touches": state.touches,
        "score": round(assessment.score, 2),
        "threshold": assessment.threshold,
        "exit_score": round(exit_score, 2),
        "heat": round(assessment.score / assessment.threshold, 3),
        "qualifies_now": assessment.qualifies,
        "missing": assessment.missing(),
        "in_episode": state.qualified and assessment.score >= exit_score,
        "episode": state.episode,
        "coverage": assessment.coverage,
        "coverage_by_requirement": coverage_rows(assessment),
        "key_roles_active": list(assessment.key_roles_active),
        "stakeholders": _stakeholders(state, assessment),
        "surge": {
            "ratio": assessment.surge.ratio,
            "recent_points": assessment.surge.recent_points,
            "baseline_weekly_points": assessment.surge.baseline_weekly_points,
            "surging": assessment.surge.surging,
        },
        "timeline": _timeline(state, model, at),
        "score_history": {
            "days": history_days,
            "exact_from": _iso(history.exact_from_ms),
            "points": [
                {"at": iso_ms(p.at_ms), "at_ms": p.at_ms, "score": p.score} for p in history.points
            ],
        },
        "mqa_history": [
            {
                "mqa_id": m.mqa_id,
                "episode": m.episode,
                "rule": m.rule,
                "qualified_at": iso_ms(m.qualified_at_ms),
                "qualified_at_ms": m.qualified_at_ms,
                "in_chart": m.qualified_at_ms >= window_start,
                "event": m.event,
            }
            for m in reversed(state.mqa_history)
        ],
        "model_version": model.version,
    }


def _stakeholders(state: AccountState, assessment: Assessment) -> list[dict[str, Any]]:
    active = set(assessment.active_stakeholders)
    ranked = sorted(
        state.contacts.items(),
        key=lambda item: (-round(assessment.contributions.get(item[0], 0.0), 4), item[0]),
    )
    return [
        {
            "contact": key,
            "role": c.role,
            "seniority": c.seniority,
            "title": c.title,
            "known": c.known,
            "active": key in active,
            "points": round(assessment.contributions.get(key, 0.0), 2),
            "last_touch": iso_ms(c.last_touch_ms),
            "last_scored": _iso(c.last_scored_ms),
            "touches": c.touches,
        }
        for key, c in ranked
    ]


def _timeline(state: AccountState, model: ScoringModel, at_ms: int) -> list[dict[str, Any]]:
    return [
        {
            "at": iso_ms(t.at_ms),
            "at_ms": t.at_ms,
            "activity": t.activity,
            "label": activity_label(t.activity),
            "signal_class": t.signal_class,
            "contact": t.contact,
            "role": t.role,
            "points": round(t.points, 2),
            "points_now": round(
                decay.decayed(t.points, at_ms - t.at_ms, model.half_life_ms(t.signal_class)), 2
            ),
            "url": t.url,
        }
        for t in reversed(state.timeline)
    ]


def _iso(epoch_ms: int | None) -> str | None:
    return iso_ms(epoch_ms) if epoch_ms is not None else None
