"""`abm alerts` (the alert service) and `abm sales activity` (record a follow-up)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from typing import Annotated

import typer

from abm.core.timefmt import parse_iso_ms
from abm.settings import AlertSettings, command_settings
from alerting.activity import KINDS, ActivityError, SalesActivity

sales_app = typer.Typer(help="Record sales follow-ups (they close an MQA's follow-up SLA).")


def _settings(context: typer.Context) -> AlertSettings:
    try:
        return command_settings(context, AlertSettings)
    except ValueError as exc:
        typer.secho(f"error: invalid settings: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def alerts(context: typer.Context) -> None:
    """Run the alert service: MQA alerts to the account owner (Slack, e-mail or the console),
    once per MQA per channel; follow-up SLA tracking and escalations; /metrics on
    ABM_ALERT_PORT."""
    from abm.log_limit import configure_logging
    from abm.waiting import kafka, redis, wait_for_all
    from alerting.recipients import RoutingError
    from alerting.service import AlertService

    settings = _settings(context)
    configure_logging(settings.log_level, settings.log_connection_error_interval_s)
    try:
        service = AlertService(settings)
    except (RoutingError, ValueError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None

    async def run() -> None:
        await wait_for_all(kafka(settings.kafka_bootstrap_servers),
                           redis(settings.redis_url.get_secret_value()))  # fmt: skip
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service.stopping.set)
        await service.run()

    try:
        asyncio.run(run())
    except (OSError, TimeoutError) as exc:
        typer.secho(f"error: alert service stopped: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


@sales_app.command("activity")
def activity(
    context: typer.Context,
    account_id: Annotated[str, typer.Argument(help="The account followed up.")],
    kind: Annotated[str, typer.Option(help="meeting, call or email.")] = "meeting",
    by: Annotated[str | None, typer.Option(help="Who (AE e-mail or Slack id).")] = None,
    at: Annotated[
        str | None, typer.Option(help="When, ISO-8601 (default: now).", show_default=False)
    ] = None,
    mqa: Annotated[str | None, typer.Option(help="The MQA id it answers, if known.")] = None,
    note: Annotated[str | None, typer.Option(help="Free text.")] = None,
) -> None:
    """Record a sales activity on an account: it is the follow-up of the account's open MQA."""
    from alerting.service import produce_activity

    if kind not in KINDS or kind == "ack":
        typer.secho(f"error: --kind must be one of meeting, call, email, not {kind!r}", err=True)
        raise typer.Exit(2)
    try:
        at_ms = parse_iso_ms(at) if at else int(time.time() * 1000)
        record = SalesActivity.from_dict(
            {"activity_id": f"cli:{uuid.uuid4().hex}", "account_id": account_id, "kind": kind,
             "at_ms": at_ms, "by": by, "mqa_id": mqa, "source": "cli", "note": note}
        )  # fmt: skip
    except (ValueError, ActivityError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    settings = _settings(context)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(produce_activity(settings, record))
    typer.echo(f"recorded {record.kind} on {record.account_id} at {record.to_dict()['at']} "
               f"({record.activity_id})")  # fmt: skip
