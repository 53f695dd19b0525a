"""`abm topics create` and `abm topics configure` against the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from abm_cli.main import app
from abm_cli.settings import get_settings

DAY_MS = 86_400_000


@pytest.fixture
def prefix(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("ABM_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("ABM_APP_ID", prefix)
    monkeypatch.setenv("ABM_PARTITIONS", "1")
    monkeypatch.setenv("ABM_RAW_RETENTION_DAYS", "2")
    get_settings.cache_clear()
    yield prefix
    get_settings.cache_clear()


def test_topics_configure_applies_a_changed_retention(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["topics", "create"])
    assert created.exit_code == 0, created.output
    assert f"{prefix}.touchpoints.raw" in created.output
    assert "differs" not in created.output

    monkeypatch.setenv("ABM_RAW_RETENTION_DAYS", "3")
    get_settings.cache_clear()
    change = f"{prefix}.touchpoints.raw retention.ms {2 * DAY_MS} -> {3 * DAY_MS}"
    shown = runner.invoke(app, ["topics", "create"])
    assert shown.exit_code == 0, shown.output
    assert f"differs from the settings: {change}" in shown.output
    assert "apply the settings with `abm topics configure`" in shown.output

    planned = runner.invoke(app, ["topics", "configure", "--dry-run"])
    assert planned.output.splitlines() == [f"would change: {change}"]
    applied = runner.invoke(app, ["topics", "configure"])
    assert applied.exit_code == 0, applied.output
    assert applied.output.splitlines() == [f"changed: {change}"]
    again = runner.invoke(app, ["topics", "configure"])
    assert "nothing to change" in again.output


def test_topics_configure_names_the_broker_it_cannot_reach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    get_settings.cache_clear()
    try:
        failed = CliRunner().invoke(app, ["topics", "configure"])
    finally:
        get_settings.cache_clear()
    assert failed.exit_code == 1
    assert "cannot configure topics on 127.0.0.1:1" in failed.output
