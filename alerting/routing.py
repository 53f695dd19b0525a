"""Who gets an alert on which channel. Pure: configuration and owner in, routes out.

MQA alerts go to the account owner: on Slack a direct message to the owner's Slack id (or, with
`ABM_SLACK_CHANNEL`, a post in that channel mentioning the owner; with an incoming webhook, a
post in the webhook's channel mentioning the owner), by e-mail to the owner's address. An
account without an owner on a channel goes to that channel's fallback (`ABM_SLACK_FALLBACK_CHANNEL`,
`ABM_ALERT_FALLBACK_EMAIL`); without a fallback the alert has no route and is dead-lettered
(`no_route`), never dropped silently. Escalations go to `ABM_ESCALATION_SLACK_CHANNEL` and/or
`ABM_ESCALATION_EMAIL`, and to the console when it is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from alerting.content import Owner

CONSOLE: Final = "console"
SLACK: Final = "slack"
EMAIL: Final = "email"
CHANNELS: Final = (CONSOLE, SLACK, EMAIL)
WEBHOOK_TARGET: Final = "webhook"
STDOUT_TARGET: Final = "stdout"


class RoutingError(ValueError):
    """A channel configuration that cannot work (names the setting)."""


@dataclass(frozen=True)
class RoutingConfig:
    channels: tuple[str, ...]
    slack_mode: Literal["bot", "webhook"] | None = None
    slack_channel: str | None = None
    slack_fallback_channel: str | None = None
    fallback_email: str | None = None
    escalation_slack_channel: str | None = None
    escalation_email: str | None = None


@dataclass(frozen=True)
class Route:
    channel: str
    target: str | None
    """Slack channel/user id, e-mail address, `webhook` or `stdout`; None: no route."""
    mention: bool = False
    """Slack: mention the owner in the message."""


def enabled_channels(
    requested: str, *, slack_bot: bool, slack_webhook: bool, smtp: bool
) -> tuple[str, ...]:
    """The channels of `ABM_ALERT_CHANNELS` (`auto`: the configured ones, else console)."""
    if requested.strip().lower() == "auto":
        auto = tuple(
            name for name, on in ((SLACK, slack_bot or slack_webhook), (EMAIL, smtp)) if on
        )
        return auto or (CONSOLE,)
    names = tuple(dict.fromkeys(n.strip().lower() for n in requested.split(",") if n.strip()))
    if not names:
        raise RoutingError("ABM_ALERT_CHANNELS: empty (use auto, or console,slack,email)")
    for name in names:
        if name not in CHANNELS:
            raise RoutingError(f"ABM_ALERT_CHANNELS: unknown channel {name!r} "
                               f"(known: {', '.join(CHANNELS)})")  # fmt: skip
    if SLACK in names and not (slack_bot or slack_webhook):
        raise RoutingError("slack needs ABM_SLACK_BOT_TOKEN or ABM_SLACK_WEBHOOK_URL")
    if EMAIL in names and not smtp:
        raise RoutingError("email needs ABM_SMTP_HOST")
    return names


def mqa_routes(config: RoutingConfig, owner: Owner) -> list[Route]:
    routes: list[Route] = []
    for channel in config.channels:
        if channel == CONSOLE:
            routes.append(Route(CONSOLE, STDOUT_TARGET))
        elif channel == SLACK:
            routes.append(_slack_route(config, owner))
        elif channel == EMAIL:
            routes.append(Route(EMAIL, owner.email or config.fallback_email))
    return routes


def _slack_route(config: RoutingConfig, owner: Owner) -> Route:
    has_owner = bool(owner.slack_id)
    if config.slack_mode == "webhook":
        return Route(SLACK, WEBHOOK_TARGET, mention=has_owner)
    if config.slack_channel:
        return Route(SLACK, config.slack_channel, mention=has_owner)
    if has_owner:
        return Route(SLACK, owner.slack_id, mention=True)
    return Route(SLACK, config.slack_fallback_channel, mention=False)


def escalation_routes(config: RoutingConfig) -> list[Route]:
    routes: list[Route] = []
    for channel in config.channels:
        if channel == CONSOLE:
            routes.append(Route(CONSOLE, STDOUT_TARGET))
        elif channel == SLACK and config.escalation_slack_channel:
            target = WEBHOOK_TARGET if config.slack_mode == "webhook" else None
            routes.append(Route(SLACK, target or config.escalation_slack_channel, mention=True))
        elif channel == EMAIL and config.escalation_email:
            routes.append(Route(EMAIL, config.escalation_email))
    return routes
