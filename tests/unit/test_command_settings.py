"""The commands of the lower layers (`abm privacy`, `abm alerts`, ...) read the command line's
full settings through its context (`abm.settings.command_settings`), without importing the top
layer: every variable is still read and validated whichever command runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from abm.settings import AlertSettings, CommonSettings, WorkerSettings, command_settings
from abm_cli import main
from abm_cli.settings import Settings, get_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No ABM_/Kafka/Redis variable or .env file of the machine leaks into a test, and the
    command line reads the settings afresh."""
    for name in list(os.environ):
        if name.startswith("ABM_") or name in {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _sub_command_seeing(seen: list[CommonSettings], model: type[CommonSettings]) -> typer.Typer:
    """A lower layer's command group, as `abm privacy` is: it reads `model`."""
    group = typer.Typer()

    @group.command()
    def look(context: typer.Context) -> None:
        seen.append(command_settings(context, model))

    @group.command()
    def other() -> None:
        """A second command, so that `look` is called by name."""

    return group


def test_under_the_abm_command_line_its_full_settings_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[CommonSettings] = []
    monkeypatch.setattr(main, "app", typer.Typer())
    main.app.callback()(main._command_line)
    main.app.add_typer(_sub_command_seeing(seen, WorkerSettings), name="sub")
    monkeypatch.setenv("ABM_TOPIC_PREFIX", "from-env")
    ran = CliRunner().invoke(main.app, ["sub", "look"])
    assert ran.exit_code == 0, ran.output
    assert seen == [get_settings()] and seen[0] is get_settings()
    assert isinstance(seen[0], Settings) and seen[0].topic_prefix == "from-env"


def test_a_command_run_on_its_own_reads_its_model(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[CommonSettings] = []
    monkeypatch.setenv("ABM_REDIS_PREFIX", "alone")
    ran = CliRunner().invoke(_sub_command_seeing(seen, AlertSettings), ["look"])
    assert ran.exit_code == 0, ran.output
    assert [(type(s), s.redis_prefix) for s in seen] == [(AlertSettings, "alone")]


@pytest.mark.timeout(30)  # a command that missed the invalid variable would wait for Kafka
@pytest.mark.parametrize(
    "command",
    [
        ["alerts"],
        ["sales", "activity", "acme.com"],
        ["privacy", "check", "--email", "dana@acme.com"],
        ["directory", "show", "acme.com"],
        ["outcomes", "load", "opportunities.csv"],
    ],
    ids=" ".join,
)
def test_a_lower_layers_command_refuses_any_invalid_variable(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """`abm alerts` reads the alert service's model, `abm privacy` the common one, yet a
    worker's variable set wrong stops them before they connect anywhere, as before: the command
    line validates every variable."""
    monkeypatch.setenv("ABM_ENGAGEMENT_BATCH_SIZE", "0")
    failed = CliRunner().invoke(main.app, command)
    assert failed.exit_code != 0
    assert "engagement_batch_size" in str(failed.output) + str(failed.exception)
