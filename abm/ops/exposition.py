"""What every process's `/metrics` has in common, set once for the whole process.

Each metrics module (`stream/metrics.py`, `producers/metrics.py`, `alerting/metrics.py`) calls
`configure()` before it defines its metrics, so the worker, the collector and the alert service
expose the same way whichever of them a process imports first.
"""

from __future__ import annotations

from prometheus_client import disable_created_metrics


def configure() -> None:
    """No `*_created` series: they double the series count, Prometheus ignores them in the text
    format, and they are not in the metric catalog (`abm.ops.catalog`). Idempotent."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
