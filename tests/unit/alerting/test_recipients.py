"""Which registered channels are on, and the routes the service asks them for."""

from __future__ import annotations

import pytest

from alerting.channels.registry import CHANNELS
from alerting.content import Owner
from alerting.recipients import Route, RoutingError, enabled_channels, escalation_routes, mqa_routes
from tests.support.alerting import alert_settings

OWNED = Owner("ae@vendor.example", "U0AE")
BOT = {"slack_bot_token": "xoxb-t"}
HOOK = {"slack_webhook_url": "https://hooks.slack.example/T/B/x"}
SMTP = {"smtp_host": "smtp.vendor.example"}


@pytest.mark.parametrize(
    ("requested", "configured", "expected"),
    [
        ("auto", {}, ("console",)),
        ("auto", {**BOT, **SMTP}, ("slack", "email")),
        ("auto", HOOK, ("slack",)),
        ("console, email", SMTP, ("console", "email")),
        ("Slack,slack", BOT, ("slack",)),
    ],
    ids=["nothing configured: console", "bot and smtp", "webhook only", "explicit list",
         "case and repeats"],
)  # fmt: skip
def test_enabled_channels(
    requested: str, configured: dict[str, str], expected: tuple[str, ...]
) -> None:
    on = enabled_channels(requested, alert_settings(**configured), CHANNELS)
    assert tuple(channel.name for channel in on) == expected


@pytest.mark.parametrize(
    ("requested", "why"),
    [("pager", "unknown channel 'pager'"), ("slack", "ABM_SLACK_BOT_TOKEN"),
     ("email", "ABM_SMTP_HOST"), (" , ", "empty")],
    ids=["unknown", "slack unconfigured", "email unconfigured", "empty"],
)  # fmt: skip
def test_impossible_channel_settings_are_named(requested: str, why: str) -> None:
    with pytest.raises(RoutingError, match=why):
        enabled_channels(requested, alert_settings(), CHANNELS)


def test_every_channel_on_is_asked_for_its_route_in_the_order_asked_for() -> None:
    settings = alert_settings(**BOT, **SMTP, escalation_email="head-of-sales@vendor.example")
    on = enabled_channels("email,console,slack", settings, CHANNELS)
    assert mqa_routes(on, settings, OWNED) == [
        Route("email", "ae@vendor.example"),
        Route("console", "stdout"),
        Route("slack", "U0AE", True),
    ]
    # Slack has no escalation channel set: no escalation route there
    assert escalation_routes(on, settings) == [
        Route("email", "head-of-sales@vendor.example"),
        Route("console", "stdout"),
    ]


def test_every_registered_channel_is_registered_under_its_own_name() -> None:
    assert all(name == channel.name for name, channel in CHANNELS.items())
