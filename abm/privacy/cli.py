"""`abm privacy`: suppress a person's new events (an objection to profiling), lift it, check it.

A person is named by one of `--email`, `--user-id` or `--anonymous-id`. Suppressing an e-mail
also suppresses the userIds and anonymousIds the directory linked to it (identify calls), and
lifting it lifts those too. What is stored is the keyed pseudonym of each identity, never the
identity (docs/privacy.md).

Exit codes: 0 done; 1 Redis unreachable, or the person is not on the list (`unsuppress`,
`check`); 2 bad input (no identity or more than one, empty, too long, not an e-mail address),
then nothing changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, NoReturn, TypeVar

import orjson
import redis.asyncio as aioredis
import typer
from aiokafka.errors import KafkaError
from redis.exceptions import AuthenticationError, RedisError

from abm.core.privacy import Identity, IdentityError, IdentityKind
from abm.directory.store import DirectoryStore
from abm.privacy.suppression import SuppressionFull, SuppressionList
from abm.settings import CommonSettings, command_settings

app = typer.Typer(
    help="Suppress a person's new events, lift it, check it (docs/privacy.md).",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_UNAVAILABLE = 1
EXIT_NOT_FOUND = 1
EXIT_INVALID = 2

T = TypeVar("T")

Email = Annotated[str | None, typer.Option("--email", help="The person's e-mail address.")]
UserId = Annotated[str | None, typer.Option("--user-id", help="The tracker's userId.")]
AnonymousId = Annotated[
    str | None, typer.Option("--anonymous-id", help="The tracker's anonymousId.")
]


@app.command()
def suppress(
    context: typer.Context,
    email: Email = None,
    user_id: UserId = None,
    anonymous_id: AnonymousId = None,
) -> None:
    """Drop the person's new events from now on (within ABM_PRIVACY_REFRESH_S) in the collector
    and the workers; nothing already stored is touched."""
    person = _person(email, user_id, anonymous_id)

    async def run(settings: CommonSettings, redis: aioredis.Redis) -> tuple[int, int]:
        linked: list[Identity] = []
        if person.kind == "email":
            directory = DirectoryStore(redis, settings.redis_prefix)
            for key in await directory.linked_persons(person.value):
                identity = Identity.of_person_key(key)
                if identity is not None:
                    linked.append(identity)
        added = await _list(settings, redis).add(person, linked)
        return added, len(linked)

    added, linked = _run(context, run)
    also = f" and {linked} linked userId/anonymousId(s)" if linked else ""
    state = "suppressed" if added else "already suppressed"
    typer.echo(f"{state}: the {_label(person)}{also} ({added} new on the list)")


@app.command()
def unsuppress(
    context: typer.Context,
    email: Email = None,
    user_id: UserId = None,
    anonymous_id: AnonymousId = None,
) -> None:
    """Lift a suppression (with the identities suppressed with it): new events count again."""
    person = _person(email, user_id, anonymous_id)
    removed = _run(context, lambda settings, redis: _list(settings, redis).remove(person))
    if not removed:
        typer.echo(f"the {_label(person)} is not on the suppression list", err=True)
        raise typer.Exit(EXIT_NOT_FOUND)
    typer.echo(f"no longer suppressed: the {_label(person)} ({removed} off the list)")


@app.command()
def check(
    context: typer.Context,
    email: Email = None,
    user_id: UserId = None,
    anonymous_id: AnonymousId = None,
) -> None:
    """Say whether a person is suppressed (exit 0) or not (exit 1)."""
    person = _person(email, user_id, anonymous_id)
    if _run(context, lambda settings, redis: _list(settings, redis).holds(person)):
        typer.echo(f"suppressed: the {_label(person)}")
        return
    typer.echo(f"not suppressed: the {_label(person)}")
    raise typer.Exit(EXIT_NOT_FOUND)


def _person(email: str | None, user_id: str | None, anonymous_id: str | None) -> Identity:
    named: tuple[tuple[IdentityKind, str | None], ...] = (
        ("email", email),
        ("user_id", user_id),
        ("anonymous_id", anonymous_id),
    )
    given = [(kind, value) for kind, value in named if value is not None]
    if len(given) != 1:
        _fail("name the person by exactly one of --email, --user-id, --anonymous-id", EXIT_INVALID)
    kind, value = given[0]
    try:
        return Identity.parse(kind, value)
    except IdentityError as exc:
        _fail(str(exc), EXIT_INVALID)


def _label(person: Identity) -> str:
    return {"email": "e-mail", "user_id": "userId", "anonymous_id": "anonymousId"}[person.kind]


def _list(settings: CommonSettings, redis: aioredis.Redis) -> SuppressionList:
    return SuppressionList(redis, settings.redis_prefix, settings.pseudonym_secret())


def _run(
    context: typer.Context,
    work: Callable[[CommonSettings, aioredis.Redis], Awaitable[T]],
    *,
    kafka_failure: str = "",
) -> T:
    """`work` with a Redis client of the settings; Redis, Kafka (when `kafka_failure` says
    what failed: `{}` becomes the broker and the error's type) and a full list end the command
    with exit code 1 and one line."""
    try:
        settings = command_settings(context, CommonSettings)
    except ValueError as exc:
        _fail(f"invalid settings: {exc}", EXIT_UNAVAILABLE)

    async def main() -> T:
        redis = aioredis.Redis.from_url(
            settings.redis_url.get_secret_value(), socket_connect_timeout=5, socket_timeout=10
        )
        try:
            return await work(settings, redis)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(main())
    except SuppressionFull as exc:
        _fail(str(exc), EXIT_UNAVAILABLE)
    except AuthenticationError:
        _fail(f"Redis at {settings.redis_url_redacted()} refused the credentials", EXIT_UNAVAILABLE)
    except (KafkaError, RedisError, OSError) as exc:  # OSError: TimeoutError too
        if kafka_failure and isinstance(exc, KafkaError | TimeoutError):
            where = f"at {settings.kafka_bootstrap_servers}, {type(exc).__name__}"
            _fail(kafka_failure.format(where), EXIT_UNAVAILABLE)
        _fail(  # the error may quote the URL: only its redacted form is shown
            f"cannot reach Redis at {settings.redis_url_redacted()}; start it with "
            "`abm infra up` or set REDIS_URL",
            EXIT_UNAVAILABLE,
        )


def _fail(message: str, code: int) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


@app.command()
def forget(
    context: typer.Context,
    email: Email = None,
    user_id: UserId = None,
    anonymous_id: AnonymousId = None,
) -> None:
    """Erase a person (GDPR art. 17): suppress them, scrub them from every account state (the
    workers apply it), delete their contact record and links, and record the erasure in the
    audit log by pseudonym only."""
    from abm.privacy.forget import ForgetReport
    from abm.privacy.forget import forget as run_forget

    person = _person(email, user_id, anonymous_id)
    report: ForgetReport = _run(
        context,
        lambda settings, redis: run_forget(settings, redis, person),
        kafka_failure="cannot send the erasure to Kafka ({}); the person is suppressed already: "
        "run the command again once Kafka answers",
    )
    held = "its contact record and links deleted" if report.directory else "not in the directory"
    typer.echo(
        f"forgotten: the {_label(person)} and {report.identities - 1} linked id(s); {held}; "
        f"erasure {report.erasure_id} sent to the workers ({report.partitions} partitions)"
    )


@app.command()
def show(
    context: typer.Context,
    email: Email = None,
    user_id: UserId = None,
    anonymous_id: AnonymousId = None,
) -> None:
    """What is held about a person (an access request, GDPR art. 15), as JSON: the directory's
    records and links, whether suppressed, and the account states that name them."""
    from abm.privacy.show import show as run_show

    person = _person(email, user_id, anonymous_id)
    held = _run(
        context,
        lambda settings, redis: run_show(settings, redis, person),
        kafka_failure="cannot read the account states from Kafka ({})",
    )
    typer.echo(orjson.dumps(held, option=orjson.OPT_INDENT_2).decode())
