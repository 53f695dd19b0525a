"""The shipped Prometheus configuration and alert rules, checked by Prometheus's own promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from abm.ops.catalog import PROCESSES, STANDARD, process_of
from abm.ops.dashboard import metrics_used
from tests.support.ops_tools import PROMETHEUS_DIR, REPO, need

RULES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))


def promtool(*args: str | Path) -> str:
    result = subprocess.run(
        [need("promtool"), *map(str, args)], capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_promtool_check_config() -> None:
    assert "SUCCESS" in promtool("check", "config", PROMETHEUS_DIR / "prometheus.yml")


def test_promtool_check_rules() -> None:
    assert RULES
    assert "SUCCESS" in promtool("check", "rules", *RULES)


def test_promtool_test_rules() -> None:
    assert RULE_TESTS
    assert "SUCCESS" in promtool("test", "rules", *RULE_TESTS)


def alert_rules() -> list[dict[str, str]]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_every_alert_rule_has_a_promtool_test_that_fires_it() -> None:
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alert_rules()} <= tested


def test_the_required_alerts_exist() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    assert {"AbmConsumerLagGrowing", "AbmDeadLettersSpiking", "AbmAlertDeliveryFailing",
            "AbmSlaBreached"} <= names  # fmt: skip


def test_alert_rules_use_only_catalog_metrics() -> None:
    for rule in alert_rules():
        for name in metrics_used(rule["expr"]):
            assert name in STANDARD or process_of(name) is not None, (rule["alert"], name)


def test_one_scrape_job_per_process_at_its_compose_service_and_port() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for process in PROCESSES:
        targets = [t for sc in jobs[process.job]["static_configs"] for t in sc["targets"]]
        assert targets == [f"{process.name}:{process.port}"], process.job


CODE = [REPO / package for package in ("abm", "stream", "producers", "alerting")]
FREE_LABELS = {"job", "instance", "topic", "severity"}
"""Labels whose values come from the deployment (scrape target, topic name), not the code."""


def code_literals() -> set[str]:
    """Every string literal in the engine's code (a label value the code can set is one)."""
    return {
        match
        for package in CODE
        for path in package.rglob("*.py")
        for match in re.findall(r"\"([a-z0-9_]+)\"", path.read_text())
    }


def matchers(text: str) -> set[tuple[str, str, str]]:
    """(metric, label, value) of every `metric{label="value", ...}` in `text`."""
    found = set()
    for metric, body in re.findall(r"\b(abm_[a-z0-9_]+)\{([^}]*)\}", text):
        for label, value in re.findall(r"([a-z_]+)=~?\"([^\"]*)\"", body):
            found.add((metric, label, value))
    return found


def test_label_values_in_rules_and_rule_tests_are_ones_the_code_sets() -> None:
    """`outcome="sent"`, `outcome="breached"`, a retry reason: a value the code never sets
    would make a rule that never fires, or a test of a case that cannot happen."""
    literals = code_literals()
    used = {m for rule in alert_rules() for m in matchers(rule["expr"])}
    for path in RULE_TESTS:
        used |= matchers(path.read_text())
    assert any(m[1] == "outcome" for m in used)
    unknown = {m for m in used if m[1] not in FREE_LABELS and m[2] not in literals}
    assert not unknown, unknown
