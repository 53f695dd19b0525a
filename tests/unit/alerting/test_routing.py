"""Which channels are on, and who gets an alert or an escalation on each."""

from __future__ import annotations

import pytest

from alerting.content import Owner
from alerting.routing import (
    Route,
    RoutingConfig,
    RoutingError,
    enabled_channels,
    escalation_routes,
    mqa_routes,
)

OWNED = Owner("ae@vendor.example", "U0AE")
UNOWNED = Owner(None, None)


@pytest.mark.parametrize(
    ("requested", "bot", "hook", "smtp", "expected"),
    [
        ("auto", False, False, False, ("console",)),
        ("auto", True, False, True, ("slack", "email")),
        ("auto", False, True, False, ("slack",)),
        ("console, email", False, False, True, ("console", "email")),
        ("Slack,slack", True, False, False, ("slack",)),
    ],
    ids=["nothing configured: console", "bot and smtp", "webhook only", "explicit list",
         "case and repeats"],
)  # fmt: skip
def test_enabled_channels(
    requested: str, bot: bool, hook: bool, smtp: bool, expected: tuple[str, ...]
) -> None:
    assert enabled_channels(requested, slack_bot=bot, slack_webhook=hook, smtp=smtp) == expected


@pytest.mark.parametrize(
    ("requested", "why"),
    [("pager", "unknown channel 'pager'"), ("slack", "ABM_SLACK_BOT_TOKEN"),
     ("email", "ABM_SMTP_HOST"), (" , ", "empty")],
    ids=["unknown", "slack unconfigured", "email unconfigured", "empty"],
)  # fmt: skip
def test_impossible_channel_settings_are_named(requested: str, why: str) -> None:
    with pytest.raises(RoutingError, match=why):
        enabled_channels(requested, slack_bot=False, slack_webhook=False, smtp=False)


BOT = RoutingConfig(
    ("slack", "email", "console"),
    slack_mode="bot",
    slack_fallback_channel="#abm-unowned",
    fallback_email="revops@vendor.example",
)


@pytest.mark.parametrize(
    ("config", "owner", "expected"),
    [
        (BOT, OWNED, [Route("slack", "U0AE", True), Route("email", "ae@vendor.example"),
                      Route("console", "stdout")]),
        (BOT, UNOWNED, [Route("slack", "#abm-unowned", False),
                        Route("email", "revops@vendor.example"), Route("console", "stdout")]),
        (RoutingConfig(("slack",), slack_mode="bot", slack_channel="#mqa"), OWNED,
         [Route("slack", "#mqa", True)]),
        (RoutingConfig(("slack",), slack_mode="webhook"), OWNED, [Route("slack", "webhook", True)]),
        (RoutingConfig(("slack",), slack_mode="webhook"), UNOWNED,
         [Route("slack", "webhook", False)]),
        (RoutingConfig(("slack", "email"), slack_mode="bot"), UNOWNED,
         [Route("slack", None), Route("email", None)]),
    ],
    ids=["owner: DM and e-mail", "unowned: fallbacks", "one channel for all, owner mentioned",
         "webhook, owner mentioned", "webhook, unowned", "unowned without fallbacks: no route"],
)  # fmt: skip
def test_mqa_routes(config: RoutingConfig, owner: Owner, expected: list[Route]) -> None:
    assert mqa_routes(config, owner) == expected


def test_escalation_routes() -> None:
    config = RoutingConfig(("slack", "email", "console"), slack_mode="bot",
                           escalation_slack_channel="#sales-leads",
                           escalation_email="head-of-sales@vendor.example")  # fmt: skip
    assert escalation_routes(config) == [
        Route("slack", "#sales-leads", True),
        Route("email", "head-of-sales@vendor.example"),
        Route("console", "stdout"),
    ]
    assert escalation_routes(RoutingConfig(("slack", "email"), slack_mode="bot")) == []
