"""Slack reconciliation against the Slack stand-in: after a take-over of a delivery left
`sending`, the alert is looked for in the target conversation's history by the alert id in the
message metadata. Found, absent, a bounded window, and Slack not answering."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from alerting.channels.base import Outgoing
from alerting.channels.slack import RECONCILE_MAX_MESSAGES, SlackChannel
from tests.faults.providers import SlackStandIn
from tests.support.alert_fakes import delivery

pytestmark = pytest.mark.integration


@pytest.fixture
async def stand_in() -> AsyncIterator[SlackStandIn]:
    slack = SlackStandIn()
    await slack.start()
    try:
        yield slack
    finally:
        await slack.stop()


def channel(stand_in: SlackStandIn, webhook: bool = False) -> SlackChannel:
    async def no_wait(seconds: float) -> None:
        return None

    return SlackChannel(api_url=stand_in.api_url, bot_token=None if webhook else "xoxb-test",
                        webhook_url=stand_in.webhook_url if webhook else None, timeout_s=5.0,
                        min_interval_s=0.0, sleep=no_wait)  # fmt: skip


def filler(stand_in: SlackStandIn, conversation: str, count: int, after_s: float) -> None:
    """`count` other messages (other alerts, people talking) after `after_s` (epoch s)."""
    messages = stand_in.conversations.setdefault(conversation, [])
    for n in range(count):
        messages.append({"type": "message", "ts": f"{after_s + 0.001 * (n + 1):.6f}",
                         "text": "hi", "metadata": None})  # fmt: skip


async def test_an_alert_in_the_history_is_found_and_another_is_absent(
    stand_in: SlackStandIn,
) -> None:
    slack = channel(stand_in)
    mine, other = delivery(account_id="found"), delivery(account_id="absent")
    since_ms = int(time.time() * 1000)
    try:
        answer = await slack.send(Outgoing(mine.item.alert_id, mine.item.content), "U0AE", True)
        filler(stand_in, "D0AE", 450, time.time())  # three pages of 200 to read through
        found = await slack.find_sent(mine.item.alert_id, "U0AE", since_ms)
        assert (found.state, found.ref) == ("found", answer.ref)
        assert len(stand_in.history_calls) == 3
        assert stand_in.history_calls[0]["include_all_metadata"] == "true"
        assert stand_in.history_calls[0]["channel"] == "D0AE"  # the DM, opened
        absent = await slack.find_sent(other.item.alert_id, "U0AE", since_ms)
        assert absent.state == "absent"
        # the history is read from the claim on (less a margin), not from the beginning
        old = await slack.find_sent(mine.item.alert_id, "U0AE", since_ms + 3_600_000)
        assert old.state == "absent"
    finally:
        await slack.close()


async def test_the_window_is_bounded_and_what_cannot_be_read_is_unknown(
    stand_in: SlackStandIn,
) -> None:
    slack, hook = channel(stand_in), channel(stand_in, webhook=True)
    d = delivery(account_id="bounded")
    since_ms = int(time.time() * 1000)
    try:
        await slack.send(Outgoing(d.item.alert_id, d.item.content), "C0ALERTS", True)
        filler(stand_in, "C0ALERTS", RECONCILE_MAX_MESSAGES + 1, time.time())
        too_many = await slack.find_sent(d.item.alert_id, "C0ALERTS", since_ms)
        assert too_many.state == "unknown" and "more than" in too_many.detail
        assert len(stand_in.history_calls) == RECONCILE_MAX_MESSAGES // 200
        by_name = await slack.find_sent(d.item.alert_id, "#alerts", since_ms)
        assert by_name.state == "unknown" and "channel name" in by_name.detail
        webhook = await hook.find_sent(d.item.alert_id, "webhook", since_ms)
        assert webhook.state == "unknown"
        stand_in.history_script.extend([(503, {"ok": False}, {})] * 3)
        down = await slack.find_sent(d.item.alert_id, "C0ALERTS", since_ms)
        assert down.state == "unknown" and "HTTP 503" in down.detail
        stand_in.history_script.append((200, {"ok": False, "error": "missing_scope"}, {}))
        scope = await slack.find_sent(d.item.alert_id, "C0ALERTS", since_ms)
        assert scope.state == "unknown" and "missing_scope" in scope.detail
        stand_in.history_script.extend([(429, {"ok": False}, {"Retry-After": "1"})])
        retried = await slack.find_sent(d.item.alert_id, "C0ALERTS", since_ms)
        assert retried.state == "unknown" and "more than" in retried.detail  # read after a 429
    finally:
        await slack.close()
        await hook.close()
