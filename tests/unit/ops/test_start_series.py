"""The 0 series a process starts with: one per value of a fixed label set, nothing else."""

from __future__ import annotations

from prometheus_client import REGISTRY

from abm.core.directory_csv import TIERS
from alerting import metrics as alert_metrics
from alerting.activity import KINDS
from producers import metrics as collector_metrics


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_the_alert_service_starts_a_series_per_tier_outcome_and_kind() -> None:
    alert_metrics.start_series()
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
    alert_metrics.start_series()
    before = value("abm_sla_outcomes_total", tier="1", outcome="met")
    alert_metrics.start_series()
    assert value("abm_sla_outcomes_total", tier="1", outcome="met") == before


def test_the_collector_starts_a_series_per_clamp_reason() -> None:
    collector_metrics.start_series()
    for why in ("future", "before_2000"):
        assert value("abm_collector_timestamps_clamped_total", why=why) is not None
