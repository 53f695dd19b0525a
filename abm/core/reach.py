"""Account-level ABM figures per tier: reach, engagement, coverage, accounts in an MQA episode.

What RevOps watches (docs/operations.md, "What the account gauges mean"): never per account
as a metric, always aggregated per tier. Everything is judged at one moment of **event time**
(`at_ms`, normally the latest event time the engine has seen, see `reference_ms`), so a replay
of last quarter's touchpoints gives last quarter's figures, and the same touchpoints always
give the same figures.

Definitions (each a pure function of the account state and the scoring model):

- **reached**: the account had at least one touchpoint (scored or not, anyone, known or
  anonymous) in the `REACH_WINDOW_DAYS` before `at_ms`.
- **engaged**: at least one active stakeholder at `at_ms`: a known contact with a scored touch
  in the model's active window (30 days), the same notion the MQA rule counts
  (docs/scoring.md, "Buying group: stakeholders and coverage").
- **coverage**: the buying-group coverage at `at_ms` (`abm.core.assessment`); its distribution
  is reported over engaged accounts (an account that is not engaged covers nothing).
- **in an MQA episode**: the account qualified and its score at `at_ms` has not fallen under the
  hysteresis exit (the share of the threshold the engine applies at the next touchpoint;
  docs/scoring.md, "One MQA per episode: leaving qualified and the cool-down").
- **surging**: the surge rule of the model holds at `at_ms` (docs/scoring.md, "Surge").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from abm.core.assessment import assess
from abm.core.model import DAY_MS, ScoringModel
from abm.core.state import AccountState

REACH_WINDOW_DAYS: Final = 30
COVERAGE_BANDS: Final = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Lower bounds of the coverage bands: an account is counted in the highest band it reaches."""


@dataclass(frozen=True, slots=True)
class Standing:
    """How one account stands at `at_ms`; the input of every per-tier figure."""

    account_id: str
    name: str
    tier: int
    at_ms: int
    last_touch_ms: int
    reached: bool
    engaged: bool
    in_episode: bool
    surging: bool
    score: float
    threshold: float
    coverage: float
    active_stakeholders: int

    @property
    def heat(self) -> float:
        """Score as a share of the tier threshold: 1.0 means at the threshold."""
        return self.score / self.threshold if self.threshold > 0 else 0.0


@dataclass(slots=True)
class TierSummary:
    tier: int
    tracked: int = 0
    """Accounts with engagement state (at least one resolved touchpoint, ever)."""
    reached: int = 0
    engaged: int = 0
    in_episode: int = 0
    surging: int = 0
    coverage: dict[str, int] = field(default_factory=dict)
    """Engaged accounts per coverage band (`coverage_band`), every band present."""


def slim(state: AccountState) -> AccountState:
    """The part of a state that `standing` needs: without the timeline, the dedupe set, the
    cap ledger and the MQA history (the bulk of a state), so a worker can keep one per account
    in memory between scans. `standing(slim(s)) == standing(s)`."""
    return replace(state, timeline=[], seen={}, caps={}, mqa_history=[])


def reference_ms(states: Iterable[AccountState]) -> int | None:
    """The engine's event-time "now": the latest event time among the accounts."""
    return max((s.clock_ms for s in states), default=None)


def standing(state: AccountState, model: ScoringModel, at_ms: int | None = None) -> Standing:
    """The account at `at_ms` (default: its own clock; never before it, since the state cannot
    go back in time)."""
    at = state.clock_ms if at_ms is None else max(at_ms, state.clock_ms)
    assessment = assess(state, model, at)
    exit_score = model.mqa.exit_ratio * assessment.threshold
    return Standing(
        account_id=state.account.account_id,
        name=state.account.name,
        tier=state.account.tier,
        at_ms=at,
        last_touch_ms=state.clock_ms,
        reached=state.clock_ms > at - REACH_WINDOW_DAYS * DAY_MS,
        engaged=len(assessment.active_stakeholders) >= 1,
        in_episode=state.qualified and assessment.score >= exit_score,
        surging=assessment.surge.surging,
        score=assessment.score,
        threshold=assessment.threshold,
        coverage=assessment.coverage,
        active_stakeholders=len(assessment.active_stakeholders),
    )


def coverage_band(coverage: float) -> str:
    """The label of the highest band whose lower bound `coverage` reaches, e.g. "0.5"."""
    band = COVERAGE_BANDS[0]
    for bound in COVERAGE_BANDS:
        if coverage + 1e-9 >= bound:
            band = bound
    return f"{band:g}"


def band_labels() -> tuple[str, ...]:
    return tuple(f"{b:g}" for b in COVERAGE_BANDS)


def summarize(standings: Iterable[Standing], tiers: Sequence[int]) -> dict[int, TierSummary]:
    """Per-tier counts; every tier of `tiers` is present (zeros included) so a gauge drops to
    zero instead of keeping its last value. Accounts of other tiers get their own entry."""
    summaries = {t: _empty(t) for t in tiers}
    for s in standings:
        summary = summaries.get(s.tier)
        if summary is None:
            summary = summaries[s.tier] = _empty(s.tier)
        summary.tracked += 1
        summary.reached += s.reached
        summary.engaged += s.engaged
        summary.in_episode += s.in_episode
        summary.surging += s.surging
        if s.engaged:
            band = coverage_band(s.coverage)
            summary.coverage[band] += 1
    return summaries


def _empty(tier: int) -> TierSummary:
    return TierSummary(tier=tier, coverage=dict.fromkeys(band_labels(), 0))


def hottest(standings: Iterable[Standing], tier: int | None, limit: int) -> list[Standing]:
    """The accounts closest to (or furthest past) their threshold, hottest first; ties by
    account id so every worker and every call orders them the same way. Accounts without a
    score are left out."""
    chosen = [s for s in standings if (tier is None or s.tier == tier) and s.score > 0]
    chosen.sort(key=lambda s: (-round(s.heat, 6), s.account_id))
    return chosen[: max(0, limit)]
