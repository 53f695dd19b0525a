"""`abm`: the one command for everything a user runs."""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import orjson
import typer

from abm.backtest.cli import backtest as backtest_command
from abm.core.model import ModelError, load_model
from abm.core.state import StateVersionError
from abm.directory.cli import app as directory_app
from abm.infra.process import InfraError
from abm.log_limit import configure_logging
from abm.ops.cli import app as ops_app
from abm.outcomes.cli import app as outcomes_app
from abm.privacy.cli import app as privacy_app
from abm_cli.settings import Settings, get_settings
from alerting.cli import alerts as alerts_command
from alerting.cli import sales_app

if TYPE_CHECKING:
    from abm.plumbing.topics_admin import ConfigChange

app = typer.Typer(
    help="Real-time account qualification for account-based marketing, on Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
infra_app = typer.Typer(help="Start, stop and check the local Kafka broker and Redis.")
mqa_app = typer.Typer(help="Read MQA events.")
model_app = typer.Typer(help="Check the scoring model.")
topics_app = typer.Typer(help="Create and list the engine's topics.")
state_app = typer.Typer(help="The engagement table: rebuild it from touchpoints.resolved.")
app.add_typer(infra_app, name="infra")
app.add_typer(mqa_app, name="mqa")
app.add_typer(model_app, name="model")
app.add_typer(topics_app, name="topics")
app.add_typer(state_app, name="state")


@app.callback()
def _command_line(context: typer.Context) -> None:
    """Every command reads the full settings (`get_settings`, once per process); those of the
    lower layers (`abm privacy`, `abm alerts`, ...) find them here (`command_settings`)."""
    context.obj = get_settings


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:
        _fail(f"invalid settings: {exc}")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


@infra_app.command("up")
def infra_up() -> None:
    """Start the local broker and Redis (those not given by KAFKA_BOOTSTRAP_SERVERS/REDIS_URL)
    and create the engine's topics."""
    from abm.infra.stack import Stack
    from abm.plumbing.topics_admin import ensure_topics

    settings = _settings()
    try:
        statuses = Stack(settings).up()
        created = asyncio.run(ensure_topics(settings))
    except (InfraError, TimeoutError) as exc:
        _fail(str(exc))
    for status in statuses:
        who = "local" if status.managed else "yours"
        typer.echo(f"{status.name:<6} up    {status.address} ({who})")
    if created:
        typer.echo(f"topics created: {', '.join(created)}")


@infra_app.command("down")
def infra_down() -> None:
    """Stop the local broker and Redis started by `abm infra up` (data is kept)."""
    from abm.infra.stack import Stack

    stopped = Stack(_settings()).down()
    typer.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@infra_app.command("status")
def infra_status() -> None:
    """Say which services answer. Exit code 1 when one does not."""
    from abm.infra.stack import Stack

    statuses = Stack(_settings()).status()
    for status in statuses:
        state = "up" if status.up else "DOWN"
        who = f"local, pid {status.pid}" if status.managed and status.pid else (
            "local" if status.managed else "yours")  # fmt: skip
        typer.echo(f"{status.name:<6} {state:<5} {status.address} ({who})")
    if not all(s.up for s in statuses):
        raise typer.Exit(1)


@topics_app.command("create")
def topics_create() -> None:
    """Create the engine's topics that do not exist yet, and show the managed configs of
    existing ones that differ from the settings (`abm topics configure` applies them)."""
    from abm.plumbing.topics_admin import configure_topics, ensure_topics

    settings = _settings()
    try:
        created = asyncio.run(ensure_topics(settings))
    except Exception as exc:
        _fail(f"cannot create topics on {settings.kafka_bootstrap_servers}: {exc}")
    typer.echo("created: " + (", ".join(created) if created else "none (all exist)"))
    try:
        drift = asyncio.run(configure_topics(settings, apply=False))
    except Exception as exc:
        _fail(f"cannot read the topics' configs on {settings.kafka_bootstrap_servers}: {exc}")
    for change in drift:
        typer.echo(f"differs from the settings: {_config_change(change)}")
    if drift:
        typer.echo("apply the settings with `abm topics configure`")


@topics_app.command("configure")
def topics_configure(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would change."),
) -> None:
    """Set the managed configs of existing topics as the settings say: the retention of
    touchpoints.raw (ABM_RAW_RETENTION_DAYS) and touchpoints.resolved
    (ABM_RESOLVED_RETENTION_DAYS), and the changelog's compaction lag
    (ABM_CHANGELOG_COMPACTION_MAX_LAG_S). A topic's other configs are kept."""
    from abm.plumbing.topics_admin import configure_topics

    settings = _settings()
    try:
        changes = asyncio.run(configure_topics(settings, apply=not dry_run))
    except Exception as exc:
        _fail(f"cannot configure topics on {settings.kafka_bootstrap_servers}: {exc}")
    verb = "would change" if dry_run else "changed"
    for change in changes:
        typer.echo(f"{verb}: {_config_change(change)}")
    if not changes:
        typer.echo("nothing to change: the topics' configs match the settings")


def _config_change(change: ConfigChange) -> str:
    current = change.current if change.current is not None else "(broker default)"
    return f"{change.topic} {change.name} {current} -> {change.wanted}"


@state_app.command("rebuild")
def state_rebuild(
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
) -> None:
    """With every worker stopped: compute the engagement table again from touchpoints.resolved
    (e.g. after `abm worker` refused states it cannot read), write it to the table's changelog,
    remove the local table store and move the workers' offsets to the end of what was read, so
    nothing is applied or alerted twice."""
    from stream.app import create_app
    from stream.rebuild import RebuildError, rebuild

    settings = _settings()
    try:
        model = load_model(settings.scoring_model)
    except ModelError as exc:
        _fail(str(exc), code=2)
    table_dir = create_app(settings, model).app.conf.tabledir
    try:
        report = asyncio.run(
            rebuild(settings, model, table_dir, progress=sys.stderr if progress else None)
        )
    except RebuildError as exc:
        _fail(str(exc))
    except (OSError, TimeoutError) as exc:
        _fail(f"cannot rebuild against {settings.kafka_bootstrap_servers}: {exc}")
    typer.echo(
        f"rebuilt {report.accounts} accounts from {report.touchpoints} touchpoints in "
        f"{report.partitions} partitions ({report.seconds:.1f} s); {report.tombstones} "
        f"accounts removed, {report.skipped} records skipped (not touchpoints)"
        + (f", {report.suppressed} of suppressed persons left out" if report.suppressed else "")
    )
    for path in report.removed_store:
        typer.echo(f"removed the local table store {path}")
    ends = ", ".join(f"{p}: {end}" for p, end in sorted(report.ends.items()))
    typer.echo(f"the workers go on from touchpoints.resolved offsets {ends}")


@model_app.command("check")
def model_check(
    path: Annotated[
        Path | None, typer.Argument(help="Model YAML; default: the bundled one.")
    ] = None,
) -> None:
    """Validate a scoring model file and print its version and thresholds."""
    try:
        model = load_model(path)
    except ModelError as exc:
        _fail(str(exc), code=2)
    tiers = ", ".join(f"tier {t}: {model.threshold(t):g}" for t in sorted(model.tiers))
    typer.echo(f"ok: model {model.version} ({tiers})")


class WorkerRole(StrEnum):
    all = "all"
    resolution = "resolution"
    engagement = "engagement"


@app.command()
def worker(
    role: Annotated[
        WorkerRole | None,
        typer.Option(
            help="Agents to run: all (default), resolution or engagement; one worker of each "
            "of the last two uses two cores. Overrides ABM_WORKER_ROLE.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the stream worker (the resolution and engagement agents, or those of --role;
    /metrics on ABM_WEB_PORT)."""
    from stream.worker import run_worker

    settings = _settings()
    if role is not None:
        settings = settings.model_copy(update={"worker_role": role.value})
    try:
        run_worker(settings)
    except StateVersionError as exc:
        _fail(str(exc), code=3)
    except ModelError as exc:
        _fail(str(exc), code=2)
    except (OSError, TimeoutError) as exc:
        _fail(f"cannot start the worker against {settings.kafka_bootstrap_servers}: {exc}")


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="Segment messages, one JSON object a line.")],
    shift_to_now: Annotated[
        bool, typer.Option(help="Move all times so that the latest event is now.")
    ] = False,
    rate: Annotated[
        float | None, typer.Option(help="Messages per second (default: as fast as possible).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Produce a JSONL file into the raw touchpoint topic; bad lines are reported and skipped."""
    from producers.replay import replay as run_replay

    if not file.is_file():
        _fail(f"{file}: no such file", code=2)
    settings = _settings()
    # the report goes to stdout; the log (stderr) has the warnings: waits for Kafka or Redis
    configure_logging("warning", settings.log_connection_error_interval_s)
    report = asyncio.run(
        run_replay(settings, file, shift_to_now=shift_to_now, rate=rate, progress=progress)
    )
    for bad in report.bad_lines[:50]:
        typer.secho(f"{file}:{bad.line}: skipped: {bad.why}", err=True, fg=typer.colors.YELLOW)
    if len(report.bad_lines) > 50:
        typer.secho(f"... and {len(report.bad_lines) - 50} more bad lines", err=True)
    typer.echo(
        f"sent {report.sent} messages in {report.seconds:.1f} s ({report.rate:,.0f}/s); "
        f"skipped {len(report.bad_lines)} bad lines"
        + (f", {report.suppressed} of suppressed persons" if report.suppressed else "")
    )


@app.command()
def collector() -> None:
    """Run the HTTP collector: Segment's tracking API (/v1/track, page, identify, group, batch)
    and provider webhooks, into the raw topic; /healthz, /metrics, /openapi.json."""
    from producers.collector import config_problem, run_collector

    settings = _settings()
    problem = config_problem(settings)
    if problem:
        _fail(problem, code=2)
    run_collector(settings)


@mqa_app.command("tail")
def mqa_tail(
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object a line instead of text.")
    ] = False,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest MQA.")] = False,
    idle_exit: Annotated[
        float | None, typer.Option(help="Exit after this many seconds without a new MQA.")
    ] = None,
) -> None:
    """Print MQA events as they come (each MQA once). The text names persons as the alerts do
    (looked up in the directory); `--json` prints the events as the topic holds them, persons
    by pseudonym."""
    from abm.core.mqa_event import MqaEventError
    from abm.plumbing.redis_clients import open_directory
    from alerting.tail import mqa_events, tail_text

    settings = _settings()

    async def run() -> None:
        directory = None if json_lines else await open_directory(settings)
        try:
            async for event in mqa_events(
                settings, from_beginning=from_beginning, idle_timeout_s=idle_exit
            ):
                if directory is None:
                    line = orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()
                    sys.stdout.write(line + "\n")
                else:
                    try:
                        text = await tail_text(event, directory.names_of)
                    except MqaEventError as exc:
                        sys.stderr.write(f"an MQA record that cannot be shown: {exc}\n")
                        continue
                    sys.stdout.write(text + "\n\n")
                sys.stdout.flush()
        finally:
            if directory is not None:
                await directory.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except TimeoutError as exc:
        _fail(str(exc))


@app.command()
def simulate(
    out: Annotated[
        Path,
        typer.Option(
            help="Folder for accounts.csv, contacts.csv, touchpoints.jsonl and opportunities.csv."
        ),
    ] = Path("simulated"),
    accounts: Annotated[int, typer.Option(min=1, help="Target accounts.")] = 200,
    days: Annotated[int, typer.Option(min=1, help="Days of traffic.")] = 90,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 7,
    to: Annotated[
        str,
        typer.Option(
            help="jsonl: only write the files; collector: also POST the traffic to the "
            "collector's /v1/batch; kafka: also produce it straight into the raw topic."
        ),
    ] = "jsonl",
    rate: Annotated[
        float | None,
        typer.Option(min=0.001, help="Messages per second (default: as fast as possible)."),
    ] = None,
    collector_url: Annotated[
        str | None, typer.Option(help="Default: http://ABM_COLLECTOR_HOST:ABM_COLLECTOR_PORT.")
    ] = None,
    write_key: Annotated[
        str | None, typer.Option(help="Default: the first of ABM_COLLECTOR_WRITE_KEYS.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Messages per collector request.")] = 100,
    shift_to_now: Annotated[
        bool, typer.Option(help="Move all times so that the latest event is now.")
    ] = False,
    load_directory: Annotated[
        bool, typer.Option(help="Load the simulated directory before sending (collector, kafka).")
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Write seeded synthetic ABM traffic and its directory (the bundled sample is seed 7), and
    optionally send the traffic to the collector or to Kafka."""
    import time

    from producers import outputs
    from producers.replay import shift_to_now_ms
    from producers.simulator import SimConfig, Simulator, generate

    if to not in ("jsonl", "collector", "kafka"):
        _fail(f"--to must be jsonl, collector or kafka, not {to!r}", code=2)
    config = SimConfig(accounts=accounts, days=days, seed=seed)
    paths = generate(out, config)
    for kind, path in paths.items():
        typer.echo(f"{kind:<13} {path}")
    if to == "jsonl":
        return
    settings = _settings()
    if load_directory:
        records = Simulator(config).records()
        try:
            asyncio.run(outputs.load_directory(settings, *records))
        except (OSError, ValueError) as exc:
            _fail(f"cannot load the directory into Redis at {settings.redis_url_redacted()}: {exc}")
        typer.echo(f"directory     {len(records[0])} accounts, {len(records[1])} contacts loaded")
    jsonl = paths["touchpoints"]
    if to == "kafka":
        report = asyncio.run(
            outputs.to_kafka(
                settings, jsonl, rate=rate, progress=progress, shift_to_now=shift_to_now
            )
        )
        typer.echo(
            f"produced {report.sent} messages in {report.seconds:.1f} s ({report.rate:,.0f}/s); "
            f"skipped {len(report.bad_lines)} lines that are not JSON"
        )
        return
    url = collector_url or f"http://{settings.collector_host}:{settings.collector_port}"
    keys = settings.write_keys()
    key = write_key or (keys[0] if keys else "")
    shift_ms = shift_to_now_ms(jsonl, int(time.time() * 1000)) if shift_to_now else 0
    try:
        posted = asyncio.run(
            outputs.to_collector(
                url, key, jsonl, rate=rate, progress=progress, batch_size=batch_size,
                shift_ms=shift_ms,
            )
        )  # fmt: skip
    except RuntimeError as exc:
        _fail(str(exc))
    for reason in posted.refusals[:5]:
        typer.secho(f"refused: {reason}", err=True, fg=typer.colors.YELLOW)
    typer.echo(
        f"posted {posted.sent} messages in {posted.requests} requests, {posted.seconds:.1f} s "
        f"({posted.rate:,.0f}/s); {posted.refused} refused, {posted.unavailable} answers 503"
    )


@app.command()
def demo(
    keep_running: Annotated[
        bool, typer.Option(help="Leave the worker running after the summary.")
    ] = False,
) -> None:
    """Bring up the local stack and run the engine on the bundled sample: MQA alerts with their
    explanations, then a summary."""
    from abm_cli.demo import run_demo

    try:
        code = run_demo(_settings(), keep_running=keep_running)
    except (InfraError, ModelError) as exc:
        _fail(str(exc))
    raise typer.Exit(code)


app.add_typer(directory_app, name="directory")
app.add_typer(outcomes_app, name="outcomes")
app.add_typer(privacy_app, name="privacy")
app.command("backtest")(backtest_command)
app.command("alerts")(alerts_command)
app.add_typer(sales_app, name="sales")
app.add_typer(ops_app, name="ops")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
