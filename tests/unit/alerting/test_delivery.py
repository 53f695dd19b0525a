"""The deliverer's order of work and its answers to a failing ledger, with the ledger in memory
(tests/support/alert_fakes.py) and no network: a delivery is `sending` only while its request
is on its way, and a Redis error inside a live instance does not turn its own deliveries into
`unconfirmed` ones."""

from __future__ import annotations

import pytest

from alerting.channels.base import Found
from alerting.channels.slack import SlackChannel
from alerting.retry import Attempt
from tests.support.alert_fakes import (
    DeadLetters,
    FakeTime,
    Killed,
    MemoryLedger,
    ScriptedChannel,
    deliverer,
    delivery,
)


@pytest.mark.parametrize("wait", ["pacing", "retry_after"])
async def test_a_kill_while_waiting_for_slack_leaves_the_delivery_claimed(wait: str) -> None:
    """Killed during the pacing wait or a Retry-After hold, the delivery must still be
    `claimed` (no request left), so the next instance sends it instead of calling it
    unconfirmed."""
    ledger = MemoryLedger()
    clock = FakeTime()
    seen: list[str] = []
    d = delivery()
    key = ledger.key(d.item.alert_id, "slack")

    async def sleep_then_die(seconds: float) -> None:
        seen.append(ledger.rows[key]["state"])
        raise Killed

    slack = SlackChannel(api_url="http://127.0.0.1:1/api/", bot_token="xoxb-t", webhook_url=None,
                         timeout_s=1.0, min_interval_s=1.0, monotonic=clock.monotonic,
                         sleep=sleep_then_die)  # fmt: skip
    if wait == "pacing":
        slack._next["U0AE"] = clock.now + 1.0  # a message to the owner left just now
    else:
        slack.hold(20.0)
    with pytest.raises(Killed):
        await deliverer(ledger, slack, DeadLetters()).deliver(d)
    assert seen == ["claimed"]
    assert ledger.rows[key]["state"] == "claimed"


async def test_the_turn_is_taken_before_each_attempt_and_sending_only_after_it() -> None:
    ledger = MemoryLedger()
    slack = ScriptedChannel("slack", Attempt("retry", "server_error", "HTTP 500"))
    assert await deliverer(ledger, slack, DeadLetters()).deliver(delivery()) == "sent"
    assert slack.turns == ["U0AE", "U0AE"] and len(slack.requests) == 2
    assert ledger.calls == ["claim", "sending", "not_sent", "sending", "finish"]


@pytest.mark.parametrize(
    ("method", "when", "answers", "requests"),
    [
        ("finish", "before", (), 1),
        ("finish", "after", (), 1),
        ("sending", "before", (), 1),
        ("sending", "after", (), 1),
        ("not_sent", "before", (Attempt("retry", "server_error", "HTTP 500"),), 2),
        ("not_sent", "after", (Attempt("retry", "server_error", "HTTP 500"),), 2),
        ("claim", "after", (), 1),
    ],
    ids=["finish fails", "finish reply lost", "sending fails", "sending reply lost",
         "not_sent fails", "not_sent reply lost", "claim reply lost"],
)  # fmt: skip
async def test_a_redis_error_inside_a_live_instance_does_not_make_its_delivery_unconfirmed(
    method: str, when: str, answers: tuple[Attempt, ...], requests: int
) -> None:
    """The call is tried again in place (Redis answers on the second try), with the same
    token: Slack accepted the message, so it is `sent`; Slack refused it, so it is sent on
    the next attempt. Never `unconfirmed`, never a second message."""
    ledger = MemoryLedger()
    getattr(ledger, f"fail_{when}")[method] = 1
    slack = ScriptedChannel("slack", *answers)
    dead = DeadLetters()
    d = delivery()
    assert await deliverer(ledger, slack, dead).deliver(d) == "sent"
    assert len(slack.requests) == requests
    assert dead.written == []
    assert ledger.rows[ledger.key(d.item.alert_id, "slack")]["state"] == "sent"


async def test_an_unconfirmed_dead_letter_is_written_before_the_final_state() -> None:
    """A take-over of a delivery left `sending`: while Kafka refuses the dead letter, the
    delivery stays `orphaned` (not final), and it ends `unconfirmed` only once the dead letter
    is written."""
    ledger = MemoryLedger()
    d = delivery()
    key = ledger.key(d.item.alert_id, "slack")
    ledger.rows[key] = {"state": "sending", "token": "dead-instance", "lease": "0",
                        "target": "U0AE"}  # fmt: skip
    states: list[str] = []

    async def sleep(seconds: float) -> None:
        states.append(ledger.rows[key]["state"])

    dead = DeadLetters(failures=3)
    slack = ScriptedChannel()
    assert await deliverer(ledger, slack, dead, sleep=sleep).deliver(d) == "unconfirmed"
    assert states == ["orphaned"] * 3
    [letter] = dead.written
    assert letter.reason == "unconfirmed" and "previous holder" in letter.detail
    assert ledger.rows[key]["state"] == "unconfirmed" and slack.requests == []


def orphan(ledger: MemoryLedger, key: str) -> None:
    """A delivery another instance left `sending` (its lease ran out)."""
    ledger.rows[key] = {"state": "sending", "token": "dead-instance", "lease": "0",
                        "target": "U0AE", "claimed_ms": "1700000000000"}  # fmt: skip


@pytest.mark.parametrize(
    ("found", "outcome", "requests", "state"),
    [
        (Found("found", ref="171.000200"), "sent", 0, "sent"),
        (Found("absent", "not among 3 messages since the claim"), "sent", 1, "sent"),
        (Found("unknown", "conversations.history: HTTP 503"), "unconfirmed", 0, "unconfirmed"),
    ],
    ids=["found: counts as sent", "absent: sent now", "Slack cannot answer: unconfirmed"],
)
async def test_a_take_over_asks_slack_before_giving_up(
    found: Found, outcome: str, requests: int, state: str
) -> None:
    ledger = MemoryLedger()
    d = delivery()
    key = ledger.key(d.item.alert_id, "slack")
    orphan(ledger, key)
    slack = ScriptedChannel()
    slack.found = found
    dead = DeadLetters()
    assert await deliverer(ledger, slack, dead).deliver(d) == outcome
    assert slack.asked == [(d.item.alert_id, "U0AE", 1_700_000_000_000)]
    assert len(slack.requests) == requests
    assert ledger.rows[key]["state"] == state
    if state == "unconfirmed":
        [letter] = dead.written
        assert letter.reason == "unconfirmed" and "HTTP 503" in letter.detail
    else:
        assert dead.written == []
    if found.state == "found":
        assert ledger.rows[key]["ref"] == "171.000200"


@pytest.mark.parametrize(
    ("found", "requests"),
    [
        (Found("found", ref="171.000300"), 1),
        (Found("absent", "not among 2 messages since the claim"), 2),
        (Found("unknown", "conversations.history: HTTP 503"), 2),
    ],
    ids=["Slack has it: sent, not posted again", "Slack does not: posted again",
         "Slack cannot say: posted again (at-least-once, as before)"],
)  # fmt: skip
async def test_after_a_timeout_slack_is_asked_before_the_message_is_posted_again(
    found: Found, requests: int
) -> None:
    """A request that timed out may have been taken (Slack answered late): the next attempt
    first reads the conversation's history, so a slow Slack does not get the alert twice."""
    ledger = MemoryLedger()
    slack = ScriptedChannel("slack", Attempt("retry", "timeout", "no answer within 2 s"))
    slack.found = found
    d = delivery()
    assert await deliverer(ledger, slack, DeadLetters()).deliver(d) == "sent"
    assert len(slack.requests) == requests
    assert [alert_id for alert_id, _, _ in slack.asked] == [d.item.alert_id]
    row = ledger.rows[ledger.key(d.item.alert_id, "slack")]
    assert row["state"] == "sent"
    if found.state == "found":
        assert row["ref"] == "171.000300"


async def test_an_answer_that_says_the_message_was_not_taken_asks_nothing() -> None:
    ledger = MemoryLedger()
    slack = ScriptedChannel("slack", Attempt("retry", "server_error", "HTTP 503"))
    slack.found = Found("found", ref="never")
    assert await deliverer(ledger, slack, DeadLetters()).deliver(delivery()) == "sent"
    assert len(slack.requests) == 2 and slack.asked == []
