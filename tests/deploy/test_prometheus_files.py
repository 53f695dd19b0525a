"""The shipped Prometheus configuration and alert rules, checked by Prometheus's own promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from abm.ops.catalog import PROCESSES, STANDARD, process_of
from abm.ops.dashboard import metrics_used
from tests.integration.ops_tools import PROMETHEUS_DIR, need

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
