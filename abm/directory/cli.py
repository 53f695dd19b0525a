"""`abm directory`: load the account and contact CSV files into Redis, inspect, erase.

Exit codes: 0 done, 1 Redis unreachable or nothing found, 2 the files have errors (then nothing
is written).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import orjson
import redis.asyncio as aioredis
import typer
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from abm.core.directory_csv import (
    DirectoryError,
    RowError,
    format_errors,
    listed_values,
    parse_accounts,
    parse_contacts,
)
from abm.core.records import AccountRecord, ContactRecord
from abm.directory.store import DirectoryStore, LoadReport
from abm.settings import CommonSettings, command_settings

app = typer.Typer(
    help="Load and inspect the account directory",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_UNAVAILABLE = 1
EXIT_INVALID = 2

T = TypeVar("T")


@app.command()
def load(
    context: typer.Context,
    accounts: Annotated[
        Path, typer.Argument(metavar="ACCOUNTS.csv", help="Accounts CSV (see docs/directory.md).")
    ],
    contacts: Annotated[
        Path | None, typer.Argument(metavar="CONTACTS.csv", help="Contacts CSV.")
    ] = None,
) -> None:
    """Validate the files, then load them in one transaction (all or nothing)."""
    report, totals = _run(context, lambda store: _load(store, accounts, contacts))
    typer.echo(
        f"loaded {report.accounts} accounts ({report.accounts_replaced} replaced), "
        f"{report.domains} domains ({report.domains_removed} released), "
        f"{report.contacts} contacts ({report.contacts_replaced} replaced)"
    )
    for tier, total in totals.items():
        typer.echo(f"tier {tier}: {report.tiers.get(tier, 0)} loaded, {total} in the directory")


@app.command()
def show(
    context: typer.Context, account_id: Annotated[str, typer.Argument(metavar="ACCOUNT_ID")]
) -> None:
    """Print an account's record as JSON."""
    record = _run(context, lambda store: store.account(account_id))
    if record is None:
        typer.echo(f"no account `{account_id}` in the directory", err=True)
        raise typer.Exit(EXIT_UNAVAILABLE)
    typer.echo(orjson.dumps(record.to_dict(), option=orjson.OPT_INDENT_2).decode())


@app.command()
def forget(context: typer.Context, email: Annotated[str, typer.Argument(metavar="EMAIL")]) -> None:
    """Erase a contact and every person link to its e-mail (GDPR)."""
    if _run(context, lambda store: store.forget_contact(email)):
        typer.echo(f"erased the contact record and person links of {email}")
    else:
        typer.echo(f"nothing stored for {email}")


async def _load(
    store: DirectoryStore, accounts_path: Path, contacts_path: Path | None
) -> tuple[LoadReport, dict[int, int]]:
    accounts_data = _read(accounts_path)
    contacts_data = _read(contacts_path) if contacts_path is not None else None
    # Ask the directory what validation needs: who owns the file's domains already, and which
    # accounts the contacts refer to beyond those of the accounts file.
    claimed = await store.domain_owners(listed_values(accounts_data, "domains"))
    known = listed_values(accounts_data, "id")
    if contacts_data is not None:
        referenced = listed_values(contacts_data, "account_id")
        known |= await store.known_account_ids(referenced - known)

    errors: list[RowError] = []
    account_records: list[AccountRecord] = []
    contact_records: list[ContactRecord] = []
    try:
        account_records = parse_accounts(
            accounts_data, name=str(accounts_path), claimed_domains=claimed
        )
    except DirectoryError as exc:
        errors.extend(exc.errors)
    if contacts_data is not None:
        try:
            contact_records = parse_contacts(contacts_data, known, name=str(contacts_path))
        except DirectoryError as exc:
            errors.extend(exc.errors)
    if errors:
        _fail(errors)
    try:
        report = await store.load(account_records, contact_records)
    except DirectoryError as exc:  # the directory changed since the files were validated
        _fail(exc.errors)
    return report, await store.target_accounts_by_tier()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        _fail([RowError(str(path), 0, None, f"cannot read it: {exc.strerror}")])


def _fail(errors: list[RowError]) -> NoReturn:
    by_file: dict[str, list[RowError]] = {}
    for error in errors:
        by_file.setdefault(error.file, []).append(error)
    for file_errors in by_file.values():
        typer.echo(format_errors(file_errors), err=True)
    typer.echo(f"{len(errors)} error(s); nothing was loaded", err=True)
    raise typer.Exit(EXIT_INVALID)


def _run(context: typer.Context, work: Callable[[DirectoryStore], Awaitable[T]]) -> T:
    """Run `work` against the directory of the configured Redis, with a clear message when
    Redis cannot be reached (the URL may carry a password: only its redacted form is shown)."""
    settings = command_settings(context, CommonSettings)
    try:
        return asyncio.run(_with_store(settings, work))
    except AuthenticationError:
        typer.echo(
            f"Redis at {settings.redis_url_redacted()} refused the credentials; check REDIS_URL",
            err=True,
        )
    except (RedisConnectionError, RedisTimeoutError):
        typer.echo(
            f"cannot reach Redis at {settings.redis_url_redacted()}; start it with "
            "`abm infra up` or set REDIS_URL",
            err=True,
        )
    raise typer.Exit(EXIT_UNAVAILABLE)


async def _with_store(
    settings: CommonSettings, work: Callable[[DirectoryStore], Awaitable[T]]
) -> T:
    async with _redis(settings) as client:
        return await work(DirectoryStore(client, settings.redis_prefix, cache_ttl=0))


@asynccontextmanager
async def _redis(settings: CommonSettings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_connect_timeout=5, socket_timeout=30
    )
    try:
        await client.ping()
        yield client
    finally:
        await client.aclose()
