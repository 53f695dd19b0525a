"""The 0 series the collector starts with: one per value of a fixed label set."""

from __future__ import annotations

from prometheus_client import REGISTRY

from producers import metrics


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_the_collector_starts_a_series_per_clamp_reason() -> None:
    metrics.start_series()
    for why in ("future", "before_2000"):
        assert value("abm_collector_timestamps_clamped_total", why=why) is not None
