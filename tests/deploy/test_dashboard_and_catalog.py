"""The Grafana dashboard and the metric catalog: generated file up to date, only catalog
metrics, Prometheus naming conventions, the worker's metrics module matches its catalog entry,
and the operations page lists every metric."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import orjson
import pytest
from prometheus_client import Counter, Gauge, Histogram

from abm.ops import dashboard
from abm.ops.catalog import PROCESSES, STANDARD, Process, process_of
from tests.support.ops_tools import REPO

DASHBOARD_FILE = REPO / "deploy" / "grafana" / "dashboards" / "abm.json"
FORBIDDEN_LABELS = {"account", "account_id", "contact", "email", "user", "user_id", "person",
                    "domain", "owner", "mqa_id", "message_id"}  # fmt: skip


def test_the_dashboard_file_is_the_generated_one() -> None:
    assert DASHBOARD_FILE.read_bytes() == dashboard.render(), "run `abm ops dashboard`"


def test_the_dashboard_has_the_abm_and_the_pipe_rows() -> None:
    model = orjson.loads(DASHBOARD_FILE.read_bytes())
    rows = [p["title"] for p in model["panels"] if p["type"] == "row"]
    assert rows == ["ABM view", "Pipe view"]
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    for panel in model["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


def test_the_abm_view_covers_what_revops_asked_for() -> None:
    abm_metrics = {
        name for panel in dashboard.ABM_ROW for q in panel.queries
        for name in dashboard.metrics_used(q.expr)
    }  # fmt: skip
    assert {"abm_accounts_reached", "abm_target_accounts", "abm_accounts_engaged", "abm_mqa_total",
            "abm_engaged_accounts_by_coverage", "abm_sla_outcomes_total",
            "abm_followup_seconds_bucket", "abm_opportunities_created_total",
            "abm_opportunities_won_total", "abm_mqa_converted_total", "abm_mqa_feedback_total",
            "abm_mqa_feedback_withdrawn_total"} <= abm_metrics  # fmt: skip
    funnel = next(p for p in dashboard.ABM_ROW if p.title == "Funnel per tier")
    assert [q.legend.split(",")[0] for q in funnel.queries] == [
        "target", "reached", "engaged", "MQA", "opportunity", "won"
    ]  # fmt: skip
    for panel in dashboard.ABM_ROW:  # per tier at most, never per account
        for query in panel.queries:
            assert not re.search(r"account_id|contact|email", query.expr), query.expr
    pipe_metrics = {
        name for panel in dashboard.PIPE_ROW for q in panel.queries
        for name in dashboard.metrics_used(q.expr)
    }  # fmt: skip
    assert {"abm_raw_messages_total", "abm_consumer_lag_records",
            "abm_event_to_mqa_seconds_bucket", "abm_dead_letters_total",
            "abm_alert_deliveries_total"} <= pipe_metrics  # fmt: skip


def test_every_dashboard_query_uses_catalog_metrics_only() -> None:
    for query in dashboard.all_queries():
        used = dashboard.metrics_used(query.expr)
        assert used, query.expr
        for name in used:
            assert name in STANDARD or process_of(name) is not None, (query.expr, name)


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_catalog_names_follow_the_prometheus_conventions(process: Process) -> None:
    for name in process.metrics:
        assert re.fullmatch(r"abm_[a-z0-9_]+", name), name
        assert not name.endswith(("_count", "_sum", "_bucket", "_created")), name
        for unit in ("_ms", "_milliseconds", "_minutes", "_hours", "_days"):
            assert unit not in name, name


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_the_metrics_module_matches_the_catalog(process: Process) -> None:
    module = importlib.import_module(process.metrics_module)
    defined: dict[str, Counter | Gauge | Histogram] = {}
    for value in vars(module).values():
        if isinstance(value, Counter):
            defined[f"{value._name}_total"] = value
        elif isinstance(value, Gauge | Histogram):
            defined[value._name] = value
    assert set(defined) == set(process.metrics)
    for name, metric in defined.items():
        labels = set(metric._labelnames)
        assert not labels & FORBIDDEN_LABELS, (name, labels)
        if isinstance(metric, Histogram):
            assert name.endswith("_seconds"), name


def test_the_operations_page_lists_every_metric() -> None:
    page = (REPO / "docs" / "operations.md").read_text()
    for process in PROCESSES:
        for name in process.metrics:
            assert f"`{name}`" in page, name


CREATED_PROBE = """
import importlib, sys
from prometheus_client import CollectorRegistry, Counter, generate_latest
importlib.import_module(sys.argv[1])
registry = CollectorRegistry()
Counter("probe", "probe", ["x"], registry=registry).labels(x="1").inc()
sys.stdout.write(generate_latest(registry).decode())
"""


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_importing_the_metrics_module_turns_off_created_series(process: Process) -> None:
    """In a fresh interpreter, as in the process itself: its metrics module alone switches the
    `*_created` series off (they are not in the catalog)."""
    result = subprocess.run(
        [sys.executable, "-c", CREATED_PROBE, process.metrics_module],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "probe_total" in result.stdout and "_created" not in result.stdout, result.stdout
