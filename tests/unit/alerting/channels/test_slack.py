"""The Slack channel's decisions without Slack: which answers are retried, after how long, and
which are permanent; and where an alert or an escalation goes."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.channels.slack import SlackChannel, classify_slack
from alerting.content import Owner
from alerting.recipients import Route
from tests.support.alerting import alert_settings

OWNED = Owner("ae@vendor.example", "U0AE")
UNOWNED = Owner(None, None)
BOT = {"slack_bot_token": "xoxb-t"}
HOOK = {"slack_webhook_url": "https://hooks.slack.example/T/B/x"}


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "webhook", "verdict", "reason", "wait"),
    [
        (200, {"ok": True, "ts": "1.2"}, None, False, "sent", "ok", None),
        (429, {"ok": False, "error": "ratelimited"}, "7", False, "retry", "rate_limited", 7.0),
        (500, "oops", None, False, "retry", "server_error", None),
        (503, {"ok": False}, "2", False, "retry", "server_error", 2.0),
        (200, {"ok": False, "error": "ratelimited"}, None, False, "retry", "rate_limited", None),
        (200, {"ok": False, "error": "internal_error"}, None, False, "retry", "server_error", None),
        (200, {"ok": False, "error": "channel_not_found"}, None, False, "permanent",
         "channel_not_found", None),
        (200, {"ok": False, "error": "is_archived"}, None, False, "permanent", "is_archived", None),
        (200, {"ok": False, "error": "invalid_auth"}, None, False, "permanent", "invalid_auth",
         None),
        (200, {"ok": False, "error": "brand_new_error"}, None, False, "permanent", "slack_error",
         None),
        (400, "not json", None, False, "permanent", "client_error", None),
        (200, "ok", None, True, "sent", "ok", None),
        (404, "channel_not_found", None, True, "permanent", "channel_not_found", None),
        (410, "channel_is_archived", None, True, "permanent", "channel_is_archived", None),
        (403, "invalid_token", None, True, "permanent", "invalid_token", None),
        (429, "rate limited", "1", True, "retry", "rate_limited", 1.0),
        (502, "bad gateway", None, True, "retry", "server_error", None),
    ],
    ids=["ok", "429 with Retry-After", "500", "503 with Retry-After", "ratelimited in body",
         "internal_error", "channel not found", "archived", "invalid auth", "unknown error code",
         "4xx without JSON", "webhook ok", "webhook channel not found", "webhook archived",
         "webhook bad token", "webhook 429", "webhook 502"],
)  # fmt: skip
def test_slack_answers(
    status: int, body: Any, retry_after: str | None, webhook: bool, verdict: str, reason: str,
    wait: float | None,
) -> None:  # fmt: skip
    attempt = classify_slack(status, body, retry_after, webhook=webhook)
    assert (attempt.verdict, attempt.reason, attempt.retry_after_s) == (verdict, reason, wait)


def test_the_slack_ts_is_kept_as_the_reference() -> None:
    assert classify_slack(200, {"ok": True, "ts": "171.5"}, None).ref == "171.5"


@pytest.mark.parametrize(
    ("configured", "owner", "expected"),
    [
        ({**BOT, "slack_fallback_channel": "#abm-unowned"}, OWNED, Route("slack", "U0AE", True)),
        ({**BOT, "slack_fallback_channel": "#abm-unowned"}, UNOWNED,
         Route("slack", "#abm-unowned", False)),
        ({**BOT, "slack_channel": "#mqa"}, OWNED, Route("slack", "#mqa", True)),
        (HOOK, OWNED, Route("slack", "webhook", True)),
        (HOOK, UNOWNED, Route("slack", "webhook", False)),
        ({**BOT, **HOOK}, OWNED, Route("slack", "U0AE", True)),
        (BOT, UNOWNED, Route("slack", None)),
    ],
    ids=["owner: DM", "unowned: fallback", "one channel for all, owner mentioned",
         "webhook, owner mentioned", "webhook, unowned", "a bot token wins over a webhook",
         "unowned without fallback: no route"],
)  # fmt: skip
def test_mqa_route(configured: dict[str, str], owner: Owner, expected: Route) -> None:
    assert SlackChannel.mqa_route(alert_settings(**configured), owner) == expected


def test_escalation_route() -> None:
    escalate = {"escalation_slack_channel": "#sales-leads"}
    assert SlackChannel.escalation_route(alert_settings(**BOT, **escalate)) == Route(
        "slack", "#sales-leads", True
    )
    assert SlackChannel.escalation_route(alert_settings(**HOOK, **escalate)) == Route(
        "slack", "webhook", True
    )
    assert SlackChannel.escalation_route(alert_settings(**BOT)) is None
