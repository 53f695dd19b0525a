"""The follow-up SLA through the service, the real broker and Redis, with the SLA clock set by
the test: a follow-up in time means no escalation; none means exactly one, also across a
restart; acknowledgements (Slack button, e-mail link) and the CRM webhook count as follow-ups."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from abm.infra.process import free_port
from abm_cli.settings import Settings
from alerting.activity import SalesActivity
from alerting.signing import ack_url
from tests.faults.providers import SlackStandIn
from tests.support.alert_service import (
    SIGNING_SECRET,
    Clock,
    activities_caught_up,
    alerts_caught_up,
    block_action,
    metric,
    produce_activity,
    produce_mqas,
    running,
    signed,
)
from tests.support.alerting import mqa_event
from tests.support.factories import HOUR, MINUTE, T0
from tests.support.harness import make_settings
from tests.support.polling import until

pytestmark = pytest.mark.integration

ESCALATIONS = "#sales-leads"
ACK_SECRET = "test-ack-secret"
CRM_TOKEN = "test-crm-token"


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    stand_in = SlackStandIn()
    await stand_in.start()
    try:
        yield stand_in
    finally:
        await stand_in.stop()


def sla_settings(kafka: str, redis: str, tmp: Path, slack: SlackStandIn) -> Settings:
    return make_settings(
        kafka, redis, tmp,
        alert_channels="slack",
        slack_bot_token="xoxb-test",
        slack_api_url=slack.api_url,
        slack_min_interval_s=0.0,
        slack_signing_secret=SIGNING_SECRET,
        alert_ack_secret=ACK_SECRET,
        crm_webhook_token=CRM_TOKEN,
        escalation_slack_channel=ESCALATIONS,
        alert_sla_poll_s=0.05,
        alert_backoff_s=0.05,
        alert_port=free_port(),
    )  # fmt: skip


def escalations(slack: SlackStandIn) -> list[str | None]:
    return [p.alert_id for p in slack.posts if p.body.get("channel") == ESCALATIONS]


async def test_a_follow_up_in_time_means_no_escalation_none_means_exactly_one(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, slack: SlackStandIn
) -> None:
    settings = sla_settings(kafka_bootstrap, redis_url, tmp_path, slack)
    followed = mqa_event("followed", tier=1)  # due T0 + 4 h
    ignored = mqa_event("ignored", tier=1)
    clock = Clock(T0 + MINUTE)
    met_before = metric("abm_sla_outcomes_total", tier="1", outcome="met")
    breached_before = metric("abm_sla_outcomes_total", tier="1", outcome="breached")
    escalated_before = metric("abm_escalations_total", tier="1")
    async with running(settings, clock) as service:
        await produce_mqas(settings, [followed, ignored])
        await alerts_caught_up(settings)
        call = SalesActivity("crm-1", "followed", "call", T0 + 2 * HOUR, source="crm")
        await produce_activity(settings, call)
        await activities_caught_up(settings)
        assert service.slas is not None
        record = await service.slas.get(followed["mqa_id"])
        assert record is not None and record.state == "met"
        assert record.follow_up_seconds == 2 * 3600
        # four hours and a minute later: the ignored one is breached and escalated
        clock.now_ms = T0 + 4 * HOUR + MINUTE
        esc = f"esc_{ignored['mqa_id']}"
        await until(lambda: esc in escalations(slack), "the escalation (SLA poller)")
        # later checks change nothing
        clock.now_ms = T0 + 10 * HOUR
        await service.check_sla()
        await service.check_sla()
    # a restart (new instance, same Redis) does not escalate again
    async with running(settings, clock) as service:
        await service.check_sla()
    assert escalations(slack) == [esc]
    assert metric("abm_sla_outcomes_total", tier="1", outcome="met") == met_before + 1
    assert metric("abm_sla_outcomes_total", tier="1", outcome="breached") == breached_before + 1
    assert metric("abm_escalations_total", tier="1") == escalated_before + 1
    post = next(p for p in slack.posts if p.body.get("channel") == ESCALATIONS)
    assert post.body["text"] == "Follow-up SLA breached: Ignored BV (tier 1)"
    assert "<@U0AE>" in str(post.body["blocks"])


async def test_an_activity_logged_before_the_alert_arrived_counts(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, slack: SlackStandIn
) -> None:
    settings = sla_settings(kafka_bootstrap, redis_url, tmp_path, slack)
    early = mqa_event("early", act_now=True)  # due T0 + 30 min
    clock = Clock(T0 + 5 * MINUTE)
    async with running(settings, clock) as service:
        await produce_activity(settings, SalesActivity("cli-1", "early", "meeting", T0 + MINUTE))
        await activities_caught_up(settings)
        await produce_mqas(settings, [early])
        await alerts_caught_up(settings)
        assert service.slas is not None
        record = await service.slas.get(early["mqa_id"])
        assert record is not None and record.state == "met" and record.follow_up_kind == "meeting"
        clock.now_ms = T0 + HOUR
        await service.check_sla()
    assert escalations(slack) == []


async def test_acknowledgements_and_the_crm_webhook_are_follow_ups(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, slack: SlackStandIn
) -> None:
    settings = sla_settings(kafka_bootstrap, redis_url, tmp_path, slack)
    by_slack, by_mail, by_crm = (mqa_event(a) for a in ("viaslack", "viamail", "viacrm"))
    clock = Clock(T0 + MINUTE)
    base = f"http://127.0.0.1:{settings.alert_port}"
    async with running(settings, clock) as service, aiohttp.ClientSession() as http:
        await produce_mqas(settings, [by_slack, by_mail, by_crm])
        await alerts_caught_up(settings)
        clock.now_ms = T0 + 30 * MINUTE
        # the Slack button: a forged or replayed request is refused, a signed one counts
        body = block_action(by_slack["mqa_id"])
        forged = await http.post(f"{base}/slack/interactions", data=body,
                                 headers=signed(body, "wrong"))  # fmt: skip
        assert forged.status == 401
        answer = await http.post(f"{base}/slack/interactions", data=body, headers=signed(body))
        assert answer.status == 200
        # the e-mail link: a GET only shows the confirm button; the POST acknowledges
        link = ack_url(base, ACK_SECRET, by_mail["mqa_id"], "viamail")
        page = await http.get(link)
        assert page.status == 200 and "<form method=post" in await page.text()
        bad = await http.get(link.replace("&t=", "&t=0"))
        assert bad.status == 403
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
        done = await http.post(f"{base}/ack", data=query)
        assert done.status == 200 and "acknowledged" in await done.text()
        # the CRM webhook: bearer token, a validated activity
        crm = {"account_id": "viacrm", "kind": "email", "by": "ae@vendor.example"}
        refused = await http.post(f"{base}/crm/activity", json=crm)
        assert refused.status == 401
        invalid = await http.post(f"{base}/crm/activity", json={**crm, "kind": "lunch"},
                                  headers={"Authorization": f"Bearer {CRM_TOKEN}"})  # fmt: skip
        assert invalid.status == 400 and "kind" in (await invalid.json())["error"]
        accepted = await http.post(f"{base}/crm/activity", json=crm,
                                   headers={"Authorization": f"Bearer {CRM_TOKEN}"})  # fmt: skip
        assert accepted.status == 202
        await activities_caught_up(settings)
        assert service.slas is not None
        for event, kind in ((by_slack, "ack"), (by_mail, "ack"), (by_crm, "email")):
            record = await service.slas.get(event["mqa_id"])
            assert record is not None and record.state == "met", event["account"]["id"]
            assert record.follow_up_kind == kind and record.followed_up_ms == T0 + 30 * MINUTE
        metrics = await (await http.get(f"{base}/metrics")).text()
        assert "abm_sla_outcomes_total" in metrics and "abm_alert_deliveries_total" in metrics
        clock.now_ms = T0 + 5 * HOUR
        await service.check_sla()
    assert escalations(slack) == []


async def test_a_follow_up_recorded_in_time_while_the_service_was_down_counts(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, slack: SlackStandIn
) -> None:
    """The service stops; a call is recorded 56 s before the due time; the service starts 3 s
    after it. The SLA poller waits until the activities of the start are read, so the SLA is
    met and nothing is escalated."""
    settings = sla_settings(kafka_bootstrap, redis_url, tmp_path, slack)
    event = mqa_event("calledwhiledown", act_now=True)  # due T0 + 30 min
    due = T0 + 30 * MINUTE
    clock = Clock(T0 + MINUTE)
    async with running(settings, clock):
        await produce_mqas(settings, [event])
        await alerts_caught_up(settings)
    call = SalesActivity("crm-down", "calledwhiledown", "call", due - 56_000, source="crm")
    await produce_activity(settings, call)
    clock.now_ms = due + 3_000
    async with running(settings, clock) as service:
        assert service.slas is not None
        slas = service.slas

        async def settled() -> str | None:
            record = await slas.get(event["mqa_id"])
            assert record is not None
            return None if record.state == "open" else record.state

        state = await until(settled, "the call applied to the SLA", timeout_s=60, poll_s=0.05)
        assert state == "met"
        await activities_caught_up(settings)
        await service.check_sla()
    assert escalations(slack) == []
