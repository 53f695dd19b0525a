"""A real Prometheus scraping the running stack with the shipped scrape jobs (1 s scrapes): every
dashboard query (abm/ops/dashboard.py) returns data, and every alert rule of deploy/prometheus
loads and evaluates without error."""

from __future__ import annotations

import pytest

from abm.ops import dashboard
from abm.ops.catalog import STANDARD, process_of
from tests.integration.ops.stack import Stack
from tests.support.ops_tools import RUNNING
from tests.support.polling import until_blocking

pytestmark = pytest.mark.integration


def substitute(expr: str) -> str:
    """Grafana's interval variables, as the dashboard would resolve them on a short range."""
    return expr.replace(dashboard.RATE, "1m").replace(dashboard.RANGE, "1h")


def test_every_dashboard_query_of_the_running_processes_returns_data(stack: Stack) -> None:
    queries = dashboard.all_queries()
    ours = []
    for query in queries:
        owners = [
            process_of(name) for name in dashboard.metrics_used(query.expr) if name not in STANDARD
        ]
        assert None not in owners, f"{query.expr}: a metric no process exports"
        if all(owner is not None and owner.name in RUNNING for owner in owners):
            ours.append(substitute(query.expr))
    assert len(ours) == len(queries), "every process of the dashboard runs"

    def empty() -> list[str] | AssertionError:
        missing = [expr for expr in ours if not stack.prometheus.query(expr)]
        return AssertionError(missing) if missing else ["all returned data"]

    until_blocking(empty, "data for every dashboard query", timeout_s=90, poll_s=1)


def test_the_alert_rules_load_and_evaluate(stack: Stack) -> None:
    def healthy() -> list[str] | AssertionError:
        groups = stack.prometheus.api("rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        bad = [f"{r['name']}: {r.get('lastError')}" for r in rules if r["health"] != "ok"]
        if len(rules) < 6 or bad:
            return AssertionError(bad or rules)
        return [r["name"] for r in rules]

    names = until_blocking(healthy, "healthy alert rules", timeout_s=30)
    assert {"AbmConsumerLagGrowing", "AbmDeadLettersSpiking", "AbmAlertDeliveryFailing",
            "AbmSlaBreached"} <= set(names)  # fmt: skip
