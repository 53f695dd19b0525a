"""The deliverer's order of work and its answers to a failing ledger, with the ledger in memory
(tests/unit/alerting/fakes.py) and no network: a delivery is `sending` only while its request
is on its way, and a Redis error inside a live instance does not turn its own deliveries into
`unconfirmed` ones."""

from __future__ import annotations

import pytest

from alerting.channels import SlackChannel
from alerting.retry import Attempt
from tests.unit.alerting.fakes import (
    DeadLetters,
    Killed,
    MemoryLedger,
    ScriptedChannel,
    deliverer,
    delivery,
)
from tests.unit.alerting.test_slack_pacing import FakeTime


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
