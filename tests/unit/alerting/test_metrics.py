"""The alert service's metrics and their table in docs/alerting.md name the same metrics; the 0
series the service starts with: one per value of a fixed label set, nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY, Counter, Histogram

from abm.core.directory_csv import TIERS
from alerting import metrics
from alerting.activity import KINDS

DOC = Path(__file__).resolve().parents[3] / "docs" / "alerting.md"


def documented() -> set[str]:
    """The metric names of the table under "## Metrics" (a cell may name two: `a` / `b`)."""
    section = DOC.read_text("utf-8").split("\n## Metrics", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `abm_")]
    return {name for cell in rows for name in re.findall(r"`(abm_[a-z_]+)`", cell)}


def test_the_documented_metrics_are_the_metrics() -> None:
    defined = {
        value._name + ("_total" if isinstance(value, Counter) else "")
        for value in vars(metrics).values()
        if isinstance(value, Counter | Histogram)
    }
    assert documented() == defined


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_the_alert_service_starts_a_series_per_tier_outcome_and_kind() -> None:
    metrics.start_series()
    for tier in map(str, TIERS):
        for outcome in ("met", "breached"):
            assert value("abm_sla_outcomes_total", tier=tier, outcome=outcome) is not None
        assert value("abm_escalations_total", tier=tier) is not None
        assert value("abm_followup_seconds_count", tier=tier) is not None
    for kind in KINDS:
        assert value("abm_sales_activities_total", kind=kind) is not None
    for repeat in ("false", "true"):
        assert value("abm_alert_mqa_records_total", repeat=repeat) is not None
    for tier in map(str, TIERS):
        assert value("abm_opportunities_created_total", tier=tier) is not None
        assert value("abm_opportunities_won_total", tier=tier) is not None
        for rule in ("threshold", "act_now"):
            assert value("abm_mqa_converted_total", tier=tier, rule=rule) is not None
            for verdict in ("good", "not_a_fit"):
                for name in ("abm_mqa_feedback_total", "abm_mqa_feedback_withdrawn_total"):
                    assert value(name, tier=tier, rule=rule, verdict=verdict) is not None


def test_starting_twice_changes_no_count() -> None:
    metrics.start_series()
    before = value("abm_sla_outcomes_total", tier="1", outcome="met")
    metrics.start_series()
    assert value("abm_sla_outcomes_total", tier="1", outcome="met") == before
