"""The alert service's metrics and their table in docs/alerting.md name the same metrics."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import Counter, Histogram

from alerting import metrics

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
