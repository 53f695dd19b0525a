"""`abm backtest`: a candidate scoring model against the baseline (the live one by default) on
the same touchpoints, measured against the CRM's opportunities.

Exit codes: 0 done; 1 Kafka or Redis could not be reached; 2 bad input (a model, the
touchpoints, the opportunities, an option), with the file, line and why.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, NoReturn

import orjson
import typer

from abm.core.backtest import (
    BacktestError,
    ModelRun,
    compare,
    in_window,
    run_model,
    window_of,
)
from abm.core.model import ModelError, ScoringModel, load_model
from abm.core.opportunities import OpportunitiesError, Opportunity, parse_opportunities
from abm.settings import CommonSettings, WorkerSettings, command_settings

if TYPE_CHECKING:
    from abm.backtest.sources import Touchpoints

EXIT_UNAVAILABLE = 1
EXIT_INVALID = 2
TOPIC: Final = "topic"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dwh])\s*$")
_UNIT_DAYS = {"d": 1.0, "w": 7.0, "h": 1 / 24}


def parse_days(text: str) -> float:
    """`90d`, `12w`, `36h` -> days. Raises ValueError with what is accepted."""
    match = _DURATION.match(text.lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"`{text}` is not a duration like 90d, 12w or 36h")
    return float(match.group(1)) * _UNIT_DAYS[match.group(2)]


def _fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def backtest(
    context: typer.Context,
    model: Annotated[
        Path,
        typer.Option("--model", help="The candidate scoring model (YAML).", show_default=False),
    ],
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="The model to compare with; default: the live one (ABM_SCORING_MODEL, "
            "else the bundled model)."
        ),
    ] = None,
    since: Annotated[
        str,
        typer.Option(help="How far back from the latest touchpoint MQAs are counted (d, w, h)."),
    ] = "90d",
    warmup: Annotated[
        str,
        typer.Option(help="Touchpoints this long before the window build the starting state."),
    ] = "30d",
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="`topic` (touchpoints.resolved) or a JSONL or Parquet (.parquet) file: resolved "
            "touchpoints, or raw Segment messages (then resolved with --accounts/--contacts).",
        ),
    ] = TOPIC,
    accounts: Annotated[
        Path | None,
        typer.Option(
            help="For raw Segment messages: the accounts CSV; default: accounts.csv "
            "next to the file."
        ),
    ] = None,
    contacts: Annotated[
        Path | None,
        typer.Option(
            help="For raw Segment messages: the contacts CSV; default: contacts.csv "
            "next to the file, when there is one."
        ),
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            help="An opportunities CSV (docs/backtest.md) instead of the ones stored "
            "by `abm outcomes load`."
        ),
    ] = None,
    conversion_days: Annotated[
        int, typer.Option(min=1, help="An MQA converts when an opportunity follows within this.")
    ] = 90,
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.json.")] = Path(
        "backtest"
    ),
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    verdicts_wanted: Annotated[
        bool,
        typer.Option(
            "--verdicts/--no-verdicts",
            help="Read the AE verdicts on live MQAs from Redis (skipped with a note when it "
            "cannot be reached).",
        ),
    ] = True,
) -> None:
    """Run a candidate model and the baseline over the same touchpoints with the pure core;
    write an HTML report and its figures as JSON; print a summary and the report's path."""
    try:
        since_days, warmup_days = parse_days(since), parse_days(warmup)
    except ValueError as exc:
        _fail(f"--since/--warmup: {exc}")
    candidate_model, baseline_model, baseline_source = _models(context, model, baseline)
    settings: CommonSettings | None = None
    if source == TOPIC or outcomes is None or verdicts_wanted:
        try:
            settings = command_settings(context, CommonSettings)
        except ValueError as exc:
            _fail(f"invalid settings: {exc}")

    touchpoints = _touchpoints(source, accounts, contacts, settings, progress)
    opportunities = _opportunities(outcomes, settings)
    try:
        window = window_of(touchpoints.items, since_days, warmup_days)
        replayed = in_window(touchpoints.items, window)
    except BacktestError as exc:
        _fail(str(exc))

    runs = []
    for label, scoring, where in (
        ("baseline", baseline_model, baseline_source),
        ("candidate", candidate_model, str(model)),
    ):
        bar = _bar(progress, len(replayed), f"{label} {scoring.version}", "tp")
        started = time.perf_counter()
        mqas = run_model(replayed, scoring, window.start_ms, _advance(bar))
        runs.append(ModelRun(label, where, scoring.version, mqas, time.perf_counter() - started))
        if bar is not None:
            bar.close()

    verdicts, verdicts_note = _verdicts(settings, verdicts_wanted)
    report = compare(
        runs[0],
        runs[1],
        opportunities,
        window,
        touchpoints=len(replayed),
        conversion_days=conversion_days,
        verdicts=verdicts,
    )
    report["verdicts_note"] = verdicts_note
    report["source"] = touchpoints.source
    report["not_touchpoints"] = touchpoints.not_touchpoints
    html_path, json_path = _write(report, out)
    for line in summary_lines(report):
        typer.echo(line)
    typer.echo(f"report: {html_path}")
    typer.echo(f"figures: {json_path}")


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The short summary `abm backtest` prints: one line of context, then per figure both
    models side by side."""
    window = report["window"]
    skipped = sum(report.get("not_touchpoints", {}).values())
    lines = [
        f"{report['touchpoints']:,} touchpoints from {report.get('source', '?')}; MQAs counted "
        f"{window['from'][:10]} .. {window['to'][:10]} ({window['days']:g} days)"
        + (f"; {skipped:,} messages were not touchpoints (in the JSON)" if skipped else "")
    ]
    models = report["models"]
    heads = [f"{label} ({figures['version']})" for label, figures in models.items()]
    lines.append(f"{'':<28}" + "".join(f"{head:>30}" for head in heads))

    def row(title: str, values: list[str]) -> None:
        lines.append(f"{title:<28}" + "".join(f"{v:>30}" for v in values))

    row("MQAs", [str(m["mqas"]) for m in models.values()])
    verdicts = report.get("verdicts")
    if verdicts is not None and verdicts["mqas_with_verdicts"]:
        row("AE verdicts good / not a fit",
            [f"{v['good']} / {v['not_a_fit']}" for v in verdicts["models"].values()])  # fmt: skip
    if report["opportunities"] is None:
        lines.append("no opportunities loaded: no conversion figures")
        return lines
    outcomes = [m["outcomes"] for m in models.values()]
    row("converted within "
        f"{report['conversion_days']} d", [f"{o['converted']} ({_pct(o['precision'])})"
                                            for o in outcomes])  # fmt: skip
    row("opportunities found", [f"{o['opportunities_found']} of {report['opportunities']} "
                                f"({_pct(o['recall'])})" for o in outcomes])  # fmt: skip
    row("median lead time",
        ["-" if o["median_lead_days"] is None else f"{o['median_lead_days']:g} d"
         for o in outcomes])  # fmt: skip
    row("pipeline / won behind MQAs",
        [f"{o['pipeline_amount']:,.0f} / {o['won_amount']:,.0f}" for o in outcomes])  # fmt: skip
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _models(
    context: typer.Context, candidate: Path, baseline: Path | None
) -> tuple[ScoringModel, ScoringModel, str]:
    try:
        candidate_model = load_model(candidate)
    except ModelError as exc:
        _fail(f"--model: {exc}")
    if baseline is not None:
        where = str(baseline)
    else:
        try:
            live = command_settings(context, WorkerSettings).scoring_model
        except ValueError as exc:
            _fail(f"invalid settings: {exc}")
        baseline, where = live, f"live ({live or 'the bundled model'})"
    try:
        return candidate_model, load_model(baseline), where
    except ModelError as exc:
        _fail(f"--baseline: {exc}")


def _touchpoints(
    source: str,
    accounts: Path | None,
    contacts: Path | None,
    settings: CommonSettings | None,
    progress: bool,
) -> Touchpoints:
    from abm.backtest.sources import (
        SourceError,
        is_resolved,
        read_raw_jsonl,
        read_resolved_jsonl,
        read_topic,
    )

    try:
        if source == TOPIC:
            assert settings is not None
            bar = _bar(progress, None, "read touchpoints.resolved", "rec")

            def show(done: int, total: int) -> None:
                if bar is not None:
                    bar.total = total
                    _to(bar, done)

            try:
                return asyncio.run(read_topic(settings, show))
            except (OSError, TimeoutError) as exc:
                _fail(
                    f"cannot read touchpoints.resolved at {settings.kafka_bootstrap_servers}: "
                    f"{exc}",
                    EXIT_UNAVAILABLE,
                )
            finally:
                if bar is not None:
                    bar.close()
        path = Path(source)
        if not path.is_file():
            _fail(f"--from {path}: no such file (or give `topic`)")
        if is_resolved(path):
            return read_resolved_jsonl(path)
        accounts_csv = accounts or path.parent / "accounts.csv"
        if not accounts_csv.is_file():
            _fail(
                f"{path} holds raw Segment messages: resolving them needs the directory; "
                f"{accounts_csv} does not exist (give --accounts and --contacts)"
            )
        contacts_csv = contacts or path.parent / "contacts.csv"
        return read_raw_jsonl(path, accounts_csv, contacts_csv if contacts_csv.is_file() else None)
    except SourceError as exc:
        _fail(str(exc))
    except BacktestError as exc:
        _fail(str(exc))


def _opportunities(path: Path | None, settings: CommonSettings | None) -> list[Opportunity] | None:
    """The opportunities of the file, or the stored ones; None when none are stored."""
    if path is not None:
        try:
            return parse_opportunities(path, None)
        except OpportunitiesError as exc:
            _fail(f"{exc}\n{len(exc.errors)} error(s) in the opportunities")
    assert settings is not None
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError

    try:
        stored = asyncio.run(_stored_opportunities(settings))
    except (RedisConnectionError, RedisError, OSError):
        _fail(
            f"cannot read the opportunities from Redis at {settings.redis_url_redacted()}; start "
            "it with `abm infra up`, set REDIS_URL, or give --outcomes opportunities.csv",
            EXIT_UNAVAILABLE,
        )
    return stored or None


async def _stored_opportunities(settings: CommonSettings) -> list[Opportunity]:
    import redis.asyncio as aioredis

    from abm.outcomes.store import OutcomeStore

    client = aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_connect_timeout=5, socket_timeout=30
    )
    try:
        return await OutcomeStore(client, settings.redis_prefix).all()
    finally:
        await client.aclose()


def _verdicts(
    settings: CommonSettings | None, wanted: bool
) -> tuple[dict[str, list[str]] | None, str | None]:
    """The AE verdicts stored by the alert service (MQA id -> each person's verdict), or None
    and why not. Redis that cannot be reached is not an error here: the report says so."""
    if not wanted or settings is None:
        return None, "not read (--no-verdicts)"
    from redis.exceptions import RedisError

    try:
        stored = asyncio.run(_stored_verdicts(settings))
    except (RedisError, OSError) as exc:
        return None, (
            f"Redis at {settings.redis_url_redacted()} could not be reached ({type(exc).__name__})"
        )
    return stored, None


async def _stored_verdicts(settings: CommonSettings) -> dict[str, list[str]]:
    import redis.asyncio as aioredis

    from abm.outcomes.verdicts import VerdictStore

    client = aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_connect_timeout=5, socket_timeout=30
    )
    try:
        found = await VerdictStore(client, settings.redis_prefix).all()
    finally:
        await client.aclose()
    return {mqa_id: [v.verdict for v in verdicts] for mqa_id, verdicts in found.items()}


def _write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    from abm.backtest.html import render

    try:
        out.mkdir(parents=True, exist_ok=True)
        html_path, json_path = out / "report.html", out / "report.json"
        html_path.write_text(render(report), encoding="utf-8")
        json_path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    except OSError as exc:
        _fail(f"cannot write the report into {out}: {exc}")
    return html_path, json_path


def _bar(enabled: bool, total: int | None, name: str, unit: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit=unit, unit_scale=True, leave=True)


def _advance(bar: Any) -> Callable[[int], None] | None:
    """A `run_model` progress callback moving `bar`, or None without a bar."""
    if bar is None:
        return None

    def advance(done: int) -> None:
        _to(bar, done)

    return advance


def _to(bar: Any, done: int) -> None:
    bar.update(done - bar.n)
