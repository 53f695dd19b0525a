"""Who gets an alert on which channel. Pure: settings and owner in, routes out.

The channels are the registered ones (`alerting.channels.registry`); each decides its own
routes (`Channel.mqa_route`, `Channel.escalation_route`), and this module only picks the
channels that are on and asks each in turn. What the bundled channels do:

MQA alerts go to the account owner: on Slack a direct message to the owner's Slack id (or, with
`ABM_SLACK_CHANNEL`, a post in that channel mentioning the owner; with an incoming webhook, a
post in the webhook's channel mentioning the owner), by e-mail to the owner's address. An
account without an owner on a channel goes to that channel's fallback (`ABM_SLACK_FALLBACK_CHANNEL`,
`ABM_ALERT_FALLBACK_EMAIL`); without a fallback the alert has no route and is dead-lettered
(`no_route`), never dropped silently. The outgoing webhook (`ABM_ALERT_WEBHOOK_URL`) gets every
MQA, whoever owns the account, alongside the owner's Slack and e-mail. Escalations go to
`ABM_ESCALATION_SLACK_CHANNEL` and/or `ABM_ESCALATION_EMAIL`, to the webhook when it is on, and
to the console when it is on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from abm.settings import AlertSettings
from alerting.content import Owner

if TYPE_CHECKING:
    from alerting.channels.base import Channel

CONSOLE: Final = "console"
SLACK: Final = "slack"
EMAIL: Final = "email"
WEBHOOK: Final = "webhook"
WEBHOOK_TARGET: Final = "webhook"
"""The target of a delivery to a URL fixed by the settings (Slack's incoming webhook, the
outgoing webhook): never the URL itself, which may carry a secret."""
STDOUT_TARGET: Final = "stdout"


class RoutingError(ValueError):
    """A channel configuration that cannot work (names the setting)."""


@dataclass(frozen=True)
class Route:
    channel: str
    target: str | None
    """Slack channel/user id, e-mail address, `webhook` or `stdout`; None: no route."""
    mention: bool = False
    """Slack: mention the owner in the message."""


def enabled_channels(
    requested: str, settings: AlertSettings, registry: Mapping[str, type[Channel]]
) -> tuple[type[Channel], ...]:
    """The channels of `ABM_ALERT_CHANNELS`, in its order (`auto`: the configured channels of
    the registry that `auto` may turn on, in the registry's order; none configured: console).
    Each one on is checked (`Channel.check`), so a setting that cannot work is named at the
    start instead of at the first alert."""
    if requested.strip().lower() == "auto":
        names = tuple(n for n, c in registry.items() if c.auto and c.configured(settings))
        names = names or (CONSOLE,)
    else:
        names = tuple(dict.fromkeys(n.strip().lower() for n in requested.split(",") if n.strip()))
    if not names:
        raise RoutingError(f"ABM_ALERT_CHANNELS: empty (use auto, or some of "
                           f"{','.join(registry)})")  # fmt: skip
    for name in names:
        if name not in registry:
            raise RoutingError(f"ABM_ALERT_CHANNELS: unknown channel {name!r} "
                               f"(known: {', '.join(registry)})")  # fmt: skip
        registry[name].check(settings)
    return tuple(registry[name] for name in names)


def mqa_routes(
    channels: Sequence[type[Channel]], settings: AlertSettings, owner: Owner
) -> list[Route]:
    """One route per channel that is on (a route without a target is dead-lettered)."""
    return [channel.mqa_route(settings, owner) for channel in channels]


def escalation_routes(channels: Sequence[type[Channel]], settings: AlertSettings) -> list[Route]:
    """The routes of an escalation: the channels that are on and have an escalation target."""
    routes = (channel.escalation_route(settings) for channel in channels)
    return [route for route in routes if route is not None]
