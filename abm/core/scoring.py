"""What one touchpoint is worth: activity, base points, signal class, multiplier.

The rules, with the shipped points: docs/scoring.md, "What a touchpoint scores".

Pure lookups in the scoring model. Unknown event names are not the sender's error: they score 0
(class `web`, so they never count as intent) and are flagged so the caller can count them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from abm.core.model import ScoringModel
from abm.core.segment import PAGE_EVENT
from abm.core.touchpoint import Touchpoint


class Activity(NamedTuple):
    """What a touchpoint is worth before multipliers and caps (a named tuple: one is made per
    touchpoint, and a tuple is made several times faster than a frozen dataclass)."""

    key: str
    """Cap bucket and explanation key, e.g. `page:pricing` or `Email Replied`."""
    points: float
    """Base points, before the seniority multiplier and caps."""
    signal_class: str
    act_now: bool = False
    known: bool = True


def classify(touchpoint: Touchpoint, model: ScoringModel) -> Activity:
    if touchpoint.event == PAGE_EVENT:
        category = page_category(touchpoint.path, model)
        rule = model.page_categories[category]
        return Activity(f"page:{category}", rule.points, rule.class_)
    event = model.events.get(touchpoint.event)
    if event is None:
        return Activity(touchpoint.event, 0.0, _zero_class(model), known=False)
    points = event.premium_points if touchpoint.premium and event.premium_points else event.points
    return Activity(touchpoint.event, points, event.class_, act_now=event.act_now)


def page_category(path: str | None, model: ScoringModel) -> str:
    if path:
        return _first_match(path, model.compiled_url_rules)
    return "other"


@lru_cache(maxsize=8192)
def _first_match(path: str, rules: tuple[tuple[re.Pattern[str], str], ...]) -> str:
    """Cached: a site has a limited set of paths (8,192 of them, a few MB at most)."""
    for pattern, category in rules:
        if pattern.search(path):
            return category
    return "other"


def multiplier(touchpoint: Touchpoint, model: ScoringModel) -> float:
    """Seniority multiplier; 0 for accounts whose lifecycle never scores (competitors;
    docs/scoring.md, "Seniority and lifecycle")."""
    if touchpoint.account.lifecycle in model.zero_score_lifecycles:
        return 0.0
    factors = model.seniority_multipliers
    return factors.get(touchpoint.seniority, factors["unknown"])


def _zero_class(model: ScoringModel) -> str:
    return "web" if "web" in model.signal_classes else next(iter(model.signal_classes))
