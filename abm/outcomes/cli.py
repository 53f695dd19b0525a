"""`abm outcomes`: load the CRM's opportunities into Redis, for `abm backtest`.

Exit codes: 0 done, 1 Redis unreachable, 2 the file has errors (then nothing is written).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import redis.asyncio as aioredis
import typer
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from abm.core.directory_csv import RowError, listed_values
from abm.core.opportunities import OpportunitiesError, parse_opportunities
from abm.directory.cli import EXIT_INVALID, EXIT_UNAVAILABLE
from abm.directory.cli import _fail as fail_with_errors
from abm.directory.store import DirectoryStore
from abm.outcomes.store import OutcomesLoad, OutcomeStore
from abm.settings import CommonSettings, command_settings

app = typer.Typer(
    help="Load the CRM's opportunities (the outcomes `abm backtest` measures MQAs against).",
    no_args_is_help=True,
    add_completion=False,
)

__all__ = ["EXIT_INVALID", "app"]


@app.command()
def load(
    context: typer.Context,
    opportunities: Annotated[
        Path,
        typer.Argument(
            metavar="OPPORTUNITIES.csv", help="Opportunities CSV (see docs/backtest.md)."
        ),
    ],
) -> None:
    """Validate the file against the directory, then store it in one transaction (all or
    nothing)."""
    settings = command_settings(context, CommonSettings)
    try:
        report = asyncio.run(_load(settings, opportunities))
    except AuthenticationError:
        typer.echo(
            f"Redis at {settings.redis_url_redacted()} refused the credentials; check REDIS_URL",
            err=True,
        )
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    except (RedisConnectionError, RedisTimeoutError):
        typer.echo(
            f"cannot reach Redis at {settings.redis_url_redacted()}; start it with "
            "`abm infra up` or set REDIS_URL",
            err=True,
        )
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    typer.echo(
        f"loaded {report.opportunities} opportunities ({report.replaced} replaced); "
        f"{report.stored} stored"
    )


async def _load(settings: CommonSettings, path: Path) -> OutcomesLoad:
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail_with_errors([RowError(str(path), 0, None, f"cannot read it: {exc.strerror}")])
    client = aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_connect_timeout=5, socket_timeout=30
    )
    try:
        await client.ping()
        directory = DirectoryStore(client, settings.redis_prefix, cache_ttl=0)
        known = await directory.known_account_ids(listed_values(data, "account_id"))
        try:
            records = parse_opportunities(data, known, name=str(path))
        except OpportunitiesError as exc:
            fail_with_errors(exc.errors)
        return await OutcomeStore(client, settings.redis_prefix).load(records)
    finally:
        await client.aclose()
