"""A backtest: two scoring models over the same touchpoints, measured against CRM outcomes.

Pure: touchpoints, models and opportunities in, figures out; time is the touchpoints' event
time. `run_model` is a plain loop over `abm.core.engagement.apply` (one state per account, as
the offline reference keeps them), so a model's pass costs what the core costs; `compare`
turns the MQAs of both passes and the opportunities into the report's figures (a JSON-ready
dict, what `abm backtest` writes and renders). Definitions, all over the backtest's window:

- an MQA *converted* when an opportunity of its account was created at or after the MQA and
  at most `conversion_days` later; its *lead time* is the days to the first such opportunity;
- an opportunity was *found* when an MQA of its account came at most `conversion_days` before
  it was created, else it was *missed*; the opportunities counted are those created from the
  window's start to `conversion_days` after its end (an MQA late in the window may still turn
  into one);
- precision = converted MQAs / MQAs; recall = found opportunities / opportunities counted;
- pipeline = the summed amounts of the found opportunities, won = of those that were won
  (an opportunity without an amount adds nothing and is counted apart).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from abm.core.engagement import apply
from abm.core.model import ScoringModel
from abm.core.opportunities import WON, Opportunity
from abm.core.state import AccountState
from abm.core.timefmt import DAY_MS, day_index, iso_ms
from abm.core.touchpoint import Touchpoint

MAX_TOUCHPOINTS: Final = 2_000_000
"""Bound of one backtest: the touchpoints are held in memory (about 1 KB each, decoded) so that
both models read the same ones; a longer history is refused with a shorter `--since` asked."""
MAX_LISTED: Final = 200
"""Bound of each list in the report (accounts that differ, missed opportunities): the first
ones are listed, the rest counted."""
PROGRESS_EVERY: Final = 8192
"""Touchpoints between two progress callbacks of `run_model`."""
LEAD_TIME_BINS: Final = ((0, 7), (7, 14), (14, 30), (30, 60), (60, 90), (90, 180), (180, 365))
"""Lead-time histogram bins, in days, [low, high); cut at the conversion window (`_bins`)."""
TIERS: Final = (1, 2, 3)


class BacktestError(ValueError):
    """The input cannot be backtested (too much of it, nothing in the window)."""


@dataclass(frozen=True, slots=True)
class BacktestMqa:
    """What the report keeps of one MQA (the full event is not kept)."""

    account_id: str
    account_name: str
    tier: int
    rule: str
    at_ms: int
    """Qualification time, event time, epoch ms."""
    mqa_id: str
    why: str
    """The MQA's one-line summary (`abm.core.explain.summarize`)."""


@dataclass(frozen=True, slots=True)
class Window:
    """The backtest's span in event time, epoch ms: MQAs are counted from `start_ms` to
    `end_ms`; touchpoints from `warmup_ms` on are applied (the state before the window)."""

    warmup_ms: int
    start_ms: int
    end_ms: int


def window_of(touchpoints: Sequence[Touchpoint], since_days: float, warmup_days: float) -> Window:
    """The `since_days` up to the latest touchpoint, with `warmup_days` before them."""
    if not touchpoints:
        raise BacktestError("no touchpoints to backtest")
    end = max(t.at_ms for t in touchpoints)
    start = end - round(since_days * DAY_MS)
    return Window(warmup_ms=start - round(warmup_days * DAY_MS), start_ms=start, end_ms=end)


def in_window(
    touchpoints: Iterable[Touchpoint], window: Window, limit: int = MAX_TOUCHPOINTS
) -> list[Touchpoint]:
    """The touchpoints to apply (from the warm-up on), in their order; refuses more than
    `limit`."""
    kept = [t for t in touchpoints if t.at_ms >= window.warmup_ms]
    if len(kept) > limit:
        raise BacktestError(
            f"{len(kept):,} touchpoints in the window; a backtest takes at most "
            f"{limit:,} (give a shorter --since)"
        )
    return kept


def run_model(
    touchpoints: Sequence[Touchpoint],
    model: ScoringModel,
    count_from_ms: int,
    progress: Callable[[int], None] | None = None,
) -> list[BacktestMqa]:
    """Apply every touchpoint in order with `model` (one state per account) and return the new
    MQAs qualified at or after `count_from_ms`. `progress` is called with the number of
    touchpoints done every `PROGRESS_EVERY` touchpoints and at the end."""
    states: dict[str, AccountState] = {}
    found: list[BacktestMqa] = []
    total = len(touchpoints)
    for start in range(0, total, PROGRESS_EVERY):
        for touchpoint in touchpoints[start : start + PROGRESS_EVERY]:
            account_id = touchpoint.account.account_id
            outcome = apply(states.get(account_id), touchpoint, model)
            states[account_id] = outcome.state
            if outcome.new_mqa:
                event = outcome.mqa
                assert event is not None
                if event["qualified_at_ms"] >= count_from_ms:
                    found.append(_kept(event))
        if progress is not None:
            progress(min(start + PROGRESS_EVERY, total))
    return found


def _kept(event: Mapping[str, Any]) -> BacktestMqa:
    account = event["account"]
    return BacktestMqa(
        account_id=account["id"],
        account_name=account["name"],
        tier=int(account["tier"]),
        rule=event["rule"],
        at_ms=int(event["qualified_at_ms"]),
        mqa_id=event["mqa_id"],
        why=event["summary"],
    )


@dataclass(frozen=True, slots=True)
class ModelRun:
    """One model's pass: which model, its MQAs, and how long it took (seconds, wall clock,
    measured by the caller)."""

    label: str
    source: str
    """Where the model came from: a file path, or `live (...)`."""
    version: str
    mqas: Sequence[BacktestMqa]
    seconds: float


def week_start(at_ms: int) -> int:
    """The UTC day number of the Monday of the week of `at_ms` (1970-01-01 was a Thursday)."""
    day = day_index(at_ms)
    return day - (day + 3) % 7


def compare(
    baseline: ModelRun,
    candidate: ModelRun,
    opportunities: Sequence[Opportunity] | None,
    window: Window,
    *,
    touchpoints: int,
    conversion_days: int = 90,
    listed: int = MAX_LISTED,
    verdicts: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The report's figures (JSON-ready). `opportunities` None: no outcomes are loaded, and the
    outcome figures are None. Lists (accounts that differ, missed opportunities) hold at most
    `listed` rows; the rest is counted. `verdicts`: the AE verdicts recorded on live MQAs
    (MQA id -> each person's verdict, `good` or `not_a_fit`), matched to the MQAs of each model
    by id; None when they could not be read."""
    conversion_ms = conversion_days * DAY_MS
    counted = _counted(opportunities, window, conversion_ms)
    weeks = _weeks(window)
    models = {
        run.label: _model_figures(run, counted, weeks, conversion_ms, listed)
        for run in (baseline, candidate)
    }
    return {
        "window": {
            "from": iso_ms(window.start_ms),
            "to": iso_ms(window.end_ms),
            "warmup_from": iso_ms(window.warmup_ms),
            "days": round((window.end_ms - window.start_ms) / DAY_MS, 2),
        },
        "touchpoints": touchpoints,
        "conversion_days": conversion_days,
        "weeks": [iso_ms(day * DAY_MS)[:10] for day in weeks],
        "models": models,
        "differences": {
            f"only_{baseline.label}": _only(baseline.mqas, candidate.mqas, listed),
            f"only_{candidate.label}": _only(candidate.mqas, baseline.mqas, listed),
        },
        "opportunities": None if counted is None else len(counted),
        "verdicts": None
        if verdicts is None
        else _verdicts((baseline, candidate), verdicts, counted, conversion_ms),
    }


def figures_of(
    run: ModelRun,
    opportunities: Sequence[Opportunity] | None,
    window: Window,
    *,
    conversion_days: int = 90,
    listed: int = MAX_LISTED,
) -> dict[str, Any]:
    """One model's figures, as `compare` gives them for each of its two (the demo's closing
    backtest of the shipped model)."""
    conversion_ms = conversion_days * DAY_MS
    counted = _counted(opportunities, window, conversion_ms)
    return _model_figures(run, counted, _weeks(window), conversion_ms, listed)


def _counted(
    opportunities: Sequence[Opportunity] | None, window: Window, conversion_ms: int
) -> list[Opportunity] | None:
    """The opportunities measured against: created from the window's start to the conversion
    window after its end."""
    if opportunities is None:
        return None
    return [
        o for o in opportunities if window.start_ms <= o.created_ms <= window.end_ms + conversion_ms
    ]


def _weeks(window: Window) -> list[int]:
    """The UTC day numbers of the Mondays of the window's weeks."""
    return list(range(week_start(window.start_ms), week_start(window.end_ms) + 1, 7))


def _model_figures(
    run: ModelRun,
    opportunities: Sequence[Opportunity] | None,
    weeks: Sequence[int],
    conversion_ms: int,
    listed: int,
) -> dict[str, Any]:
    per_week: dict[int, Counter[int]] = defaultdict(Counter)
    for mqa in run.mqas:
        per_week[week_start(mqa.at_ms)][mqa.tier] += 1
    figures: dict[str, Any] = {
        "source": run.source,
        "version": run.version,
        "seconds": round(run.seconds, 3),
        "mqas": len(run.mqas),
        "accounts": len({m.account_id for m in run.mqas}),
        "by_tier": {str(t): sum(1 for m in run.mqas if m.tier == t) for t in TIERS},
        "by_rule": dict(sorted(Counter(m.rule for m in run.mqas).items())),
        "per_week": [
            {"week": iso_ms(week * DAY_MS)[:10], **{f"tier_{t}": per_week[week][t] for t in TIERS}}
            for week in weeks
        ],
        "outcomes": None,
    }
    if opportunities is not None:
        figures["outcomes"] = _outcomes(run.mqas, opportunities, conversion_ms, listed)
    return figures


def _outcomes(
    mqas: Sequence[BacktestMqa],
    opportunities: Sequence[Opportunity],
    conversion_ms: int,
    listed: int,
) -> dict[str, Any]:
    in_order = sorted(opportunities, key=lambda o: (o.created_ms, o.opportunity_id))
    opportunities_of: dict[str, list[Opportunity]] = defaultdict(list)
    for opportunity in in_order:
        opportunities_of[opportunity.account_id].append(opportunity)
    mqas_of: dict[str, list[int]] = defaultdict(list)
    for mqa in mqas:
        mqas_of[mqa.account_id].append(mqa.at_ms)

    lead_days: list[float] = []
    for mqa in mqas:
        first = next(
            (
                o
                for o in opportunities_of.get(mqa.account_id, ())
                if mqa.at_ms <= o.created_ms <= mqa.at_ms + conversion_ms
            ),
            None,
        )
        if first is not None:
            lead_days.append(round((first.created_ms - mqa.at_ms) / DAY_MS, 2))

    found: list[Opportunity] = []
    missed: list[Opportunity] = []
    for opportunity in in_order:
        preceded = any(
            opportunity.created_ms - conversion_ms <= at <= opportunity.created_ms
            for at in mqas_of.get(opportunity.account_id, ())
        )
        (found if preceded else missed).append(opportunity)

    converted = len(lead_days)
    return {
        "converted": converted,
        "share_converted": _ratio(converted, len(mqas)),
        "median_lead_days": round(statistics.median(lead_days), 2) if lead_days else None,
        "lead_days": sorted(lead_days),
        "lead_time_histogram": _histogram(lead_days, conversion_ms // DAY_MS),
        "false_mqas": len(mqas) - converted,
        "opportunities_found": len(found),
        "opportunities_missed": len(missed),
        "precision": _ratio(converted, len(mqas)),
        "recall": _ratio(len(found), len(found) + len(missed)),
        "pipeline_amount": sum(o.amount or 0.0 for o in found),
        "won_amount": sum(o.amount or 0.0 for o in found if o.outcome == WON),
        "found_without_amount": sum(1 for o in found if o.amount is None),
        "missed_list": [_opportunity_row(o) for o in missed[:listed]],
        "missed_not_listed": max(0, len(missed) - listed),
    }


def _verdicts(
    runs: Sequence[ModelRun],
    verdicts: Mapping[str, Sequence[str]],
    opportunities: Sequence[Opportunity] | None,
    conversion_ms: int,
) -> dict[str, Any]:
    """Per model: how many of its MQAs an AE judged, the verdicts given (one per person and
    MQA), and, with opportunities, how many of the MQAs judged good / not a fit converted. An
    MQA counts as judged good when most of its verdicts say so (a tie: not a fit)."""
    created_of: dict[str, list[int]] = defaultdict(list)
    for opportunity in opportunities or ():
        created_of[opportunity.account_id].append(opportunity.created_ms)

    def converted(mqa: BacktestMqa) -> bool:
        return any(mqa.at_ms <= c <= mqa.at_ms + conversion_ms for c in created_of[mqa.account_id])

    models: dict[str, Any] = {}
    for run in runs:
        judged = [(m, verdicts[m.mqa_id]) for m in run.mqas if verdicts.get(m.mqa_id)]
        given = Counter(v for _, vs in judged for v in vs)
        good = [m for m, vs in judged if 2 * vs.count("good") > len(vs)]
        unfit = [m for m, vs in judged if 2 * vs.count("good") <= len(vs)]
        models[run.label] = {
            "mqas_judged": len(judged),
            "good": given["good"],
            "not_a_fit": given["not_a_fit"],
            "mqas_judged_good": len(good),
            "mqas_judged_not_a_fit": len(unfit),
            "good_converted": None if opportunities is None else sum(map(converted, good)),
            "not_a_fit_converted": None if opportunities is None else sum(map(converted, unfit)),
        }
    return {"mqas_with_verdicts": sum(1 for v in verdicts.values() if v), "models": models}


def _histogram(lead_days: Sequence[float], conversion_days: int) -> list[dict[str, Any]]:
    """Converted MQAs per lead-time bin: the bins of `LEAD_TIME_BINS` below `conversion_days`,
    the last one ending at `conversion_days` itself (included)."""
    bins = [
        (low, min(high, conversion_days)) for low, high in LEAD_TIME_BINS if low < conversion_days
    ]
    if bins[-1][1] < conversion_days:
        bins.append((bins[-1][1], conversion_days))
    last = len(bins) - 1
    return [
        {
            "from_days": low,
            "to_days": high,
            "mqas": sum(low <= d < high or (i == last and d == high) for d in lead_days),
        }
        for i, (low, high) in enumerate(bins)
    ]


def _opportunity_row(opportunity: Opportunity) -> dict[str, Any]:
    return {
        "opportunity_id": opportunity.opportunity_id,
        "account_id": opportunity.account_id,
        "created_at": iso_ms(opportunity.created_ms),
        "stage": opportunity.stage,
        "amount": opportunity.amount,
        "outcome": opportunity.outcome,
    }


def _only(
    mine: Sequence[BacktestMqa], theirs: Sequence[BacktestMqa], listed: int
) -> dict[str, Any]:
    """The accounts with an MQA in `mine` and none in `theirs`, each with its first MQA."""
    others = {m.account_id for m in theirs}
    first: dict[str, BacktestMqa] = {}
    for mqa in sorted(mine, key=lambda m: (m.at_ms, m.account_id)):
        if mqa.account_id not in others:
            first.setdefault(mqa.account_id, mqa)
    rows = [
        {
            "account_id": m.account_id,
            "account_name": m.account_name,
            "tier": m.tier,
            "rule": m.rule,
            "qualified_at": iso_ms(m.at_ms),
            "why": m.why,
        }
        for m in list(first.values())[:listed]
    ]
    return {"accounts": len(first), "listed": rows, "not_listed": max(0, len(first) - listed)}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
