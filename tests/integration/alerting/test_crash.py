"""Kill `abm alerts` between claim and send, and between send and confirm (a hard exit at a
named point, `ABM_ALERT_CRASH_AT`), or with `kill -9` while a delivery waits for Slack (pacing,
a Retry-After), restart it: each MQA reaches each channel exactly once.

Between send and confirm the provider has the message but the ledger says `sending`; the
restarted service asks Slack (the conversation's history) and counts it as sent when it is
there; an e-mail cannot be asked, so it is not sent again (the at-most-once choice, see
alerting/ledger.py) and is dead-lettered as `unconfirmed` for a person to check. One delivery
is in flight at a time here (`ABM_ALERT_MAX_IN_FLIGHT=1`) so the crash leaves exactly one
delivery in doubt.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from abm.infra.process import free_port
from abm.plumbing.redis_clients import redis_client
from abm_cli.settings import Settings
from alerting.delivery import CRASH_EXIT_CODE
from stream.topics import ALERTS_DEAD_LETTER
from tests.faults.providers import SlackStandIn, SmtpServer
from tests.support.alert_service import AlertProcess, alerts_caught_up, produce_mqas
from tests.support.alerting import mqa_event
from tests.support.factories import HOUR, T0
from tests.support.harness import create_topics, make_settings, read_topic

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("point", ["after_claim", "after_send"])
async def test_a_crash_at_either_side_of_the_send_delivers_each_mqa_once_per_channel(
    point: str, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    slack = SlackStandIn()
    await slack.start()
    smtp = SmtpServer(port=free_port())
    smtp.start()
    settings = make_settings(
        kafka_bootstrap, redis_url, tmp_path,
        alert_channels="slack,email",
        slack_bot_token="xoxb-test",
        slack_api_url=slack.api_url,
        slack_min_interval_s=0.0,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        alert_claim_lease_s=2.0,
        alert_max_in_flight=1,
        alert_backoff_s=0.05,
        alert_port=0,
    )  # fmt: skip
    events = [mqa_event(f"crash{n}") for n in range(3)]
    ids = sorted(e["mqa_id"] for e in events)
    process: AlertProcess | None = None
    try:
        await create_topics(settings)
        await produce_mqas(settings, events)
        process = AlertProcess(settings, tmp_path / "alerts-1.log", ABM_ALERT_CRASH_AT=point)
        process.start()
        assert await process.exited() == CRASH_EXIT_CODE, process.log_tail()
        delivered_before_restart = len(slack.posts) + len(smtp.inbox)
        assert delivered_before_restart == (0 if point == "after_claim" else 1)
        process = AlertProcess(settings, tmp_path / "alerts-2.log")
        process.start()
        await alerts_caught_up(settings, timeout_s=120)
        assert process.alive(), process.log_tail()
    finally:
        if process is not None:
            process.stop()
        smtp.stop()
        await slack.stop()
    assert slack.by_alert() == dict.fromkeys(ids, 1)
    assert smtp.by_alert() == dict.fromkeys(ids, 1)
    dead = await read_topic(settings, ALERTS_DEAD_LETTER, timeout_s=5)
    if point == "after_send":
        # Slack is asked (its history) and settles its delivery; an e-mail cannot be asked
        assert len(dead) <= 1
        for record in dead:
            assert record.headers["abm-reason"] == "unconfirmed"
            assert record.headers["abm-channel"] == "email"
            assert record.json()["mqa_id"] in ids
    else:
        assert dead == []


async def test_a_kill_after_slack_accepted_is_reconciled_not_unconfirmed(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """Killed after Slack accepted the first alert and before the ledger said so: the next
    instance finds it in the conversation's history (the alert id in the message metadata),
    counts it as sent, and sends the others. No `unconfirmed`, no duplicate."""
    slack = SlackStandIn()
    await slack.start()
    settings = make_settings(
        kafka_bootstrap, redis_url, tmp_path,
        alert_channels="slack",
        slack_bot_token="xoxb-test",
        slack_api_url=slack.api_url,
        slack_min_interval_s=0.0,
        alert_claim_lease_s=2.0,
        alert_max_in_flight=1,
        alert_backoff_s=0.05,
        alert_port=0,
    )  # fmt: skip
    events = [mqa_event(f"reconciled{n}") for n in range(3)]
    ids = sorted(e["mqa_id"] for e in events)
    process: AlertProcess | None = None
    try:
        await create_topics(settings)
        await produce_mqas(settings, events)
        process = AlertProcess(settings, tmp_path / "alerts-1.log", ABM_ALERT_CRASH_AT="after_send")
        process.start()
        assert await process.exited() == CRASH_EXIT_CODE, process.log_tail()
        assert len(slack.posts) == 1
        process = AlertProcess(settings, tmp_path / "alerts-2.log")
        process.start()
        await alerts_caught_up(settings, timeout_s=120)
        assert process.alive(), process.log_tail()
    finally:
        if process is not None:
            process.stop()
        await slack.stop()
    assert slack.by_alert() == dict.fromkeys(ids, 1)
    assert await read_topic(settings, ALERTS_DEAD_LETTER, timeout_s=5) == []
    assert len(slack.history_calls) >= 1


async def ledger_states(settings: Settings, ids: list[str]) -> dict[str, str | None]:
    """The ledger state of each alert's Slack delivery (None: not claimed yet)."""
    client = redis_client(settings)
    try:
        states = {}
        for alert_id in ids:
            raw = await client.hget(f"{settings.redis_prefix}:alert:dlv:{alert_id}:slack", "state")
            states[alert_id] = raw.decode() if isinstance(raw, bytes) else raw
        return states
    finally:
        await client.aclose()


@pytest.mark.parametrize("wait", ["pacing", "retry_after"])
async def test_a_kill_while_a_delivery_waits_for_slack_loses_nothing(
    wait: str, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """Two alerts to the same owner; the second waits for its turn (1 message per 5 s to one
    Slack channel; or 1 per 2 s and a Retry-After of 4 s after the first attempt's 429) when
    the service is killed. Nothing left for it, so the next instance sends it: no
    `unconfirmed`."""
    slack = SlackStandIn()
    await slack.start()
    if wait == "retry_after":
        slack.script.append((429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "4"}))
    settings = make_settings(
        kafka_bootstrap, redis_url, tmp_path,
        alert_channels="slack",
        slack_bot_token="xoxb-test",
        slack_api_url=slack.api_url,
        slack_min_interval_s=5.0 if wait == "pacing" else 2.0,
        alert_claim_lease_s=2.0,
        alert_max_in_flight=2,
        alert_backoff_s=0.05,
        alert_port=0,
    )  # fmt: skip
    # one account (one partition, so one batch handles both), both alerts to its owner U0AE
    events = [mqa_event("waiting", at_ms=T0 + n * HOUR) for n in range(2)]
    assert events[0]["mqa_id"] != events[1]["mqa_id"]
    ids = sorted(e["mqa_id"] for e in events)
    process: AlertProcess | None = None
    try:
        await create_topics(settings)
        await produce_mqas(settings, events)
        process = AlertProcess(settings, tmp_path / "alerts-1.log")
        process.start()
        # the first request left and is settled (sent, or back to claimed after its 429),
        # and the other alert is claimed and waiting
        deadline = asyncio.get_running_loop().time() + 90
        while True:
            assert asyncio.get_running_loop().time() < deadline, process.log_tail()
            states = await ledger_states(settings, ids)
            if len(slack.received) == 1 and None not in states.values():
                first = slack.received[0].alert_id
                if states[str(first)] in ("sent", "claimed"):
                    break
            await asyncio.sleep(0.05)
        process.kill()
        assert len(slack.received) == 1
        process = AlertProcess(settings, tmp_path / "alerts-2.log")
        process.start()
        await alerts_caught_up(settings, timeout_s=120)
        assert process.alive(), process.log_tail()
    finally:
        if process is not None:
            process.stop()
        await slack.stop()
    assert slack.by_alert() == dict.fromkeys(ids, 1)
    assert await read_topic(settings, ALERTS_DEAD_LETTER, timeout_s=5) == []
