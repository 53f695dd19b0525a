"""The alert service on the real broker and Redis, delivering to a local Slack stand-in and a
local SMTP server: content, retries (429 with Retry-After, 5xx, SMTP down), dead letters,
routing, and each MQA once per channel however often its record arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from slack_sdk.models.blocks import Block

from abm.infra.process import free_port
from abm_cli.settings import Settings
from stream.topics import ALERTS_DEAD_LETTER
from tests.faults.providers import TEST_CERT, SlackStandIn, SmtpServer
from tests.support.alert_service import (
    alert_test_settings,
    alerts_caught_up,
    metric,
    produce_mqas,
    running,
)
from tests.support.alerting import mqa_event
from tests.support.harness import load_directory, read_topic
from tests.support.polling import until

pytestmark = pytest.mark.integration


@dataclass
class Rig:
    slack: SlackStandIn
    smtp: SmtpServer
    tmp: Path
    kafka: str
    redis: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "alert_channels": "slack,email",
            "slack_bot_token": "xoxb-test-token",
            "slack_api_url": self.slack.api_url,
            "slack_min_interval_s": 0.0,
            "smtp_host": "127.0.0.1",
            "smtp_port": self.smtp.port,
            "smtp_starttls": False,
            "smtp_from": "ABM <abm@vendor.example>",
        }
        return alert_test_settings(self.kafka, self.redis, self.tmp, **{**values, **overrides})


@pytest.fixture
async def rig(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    slack = SlackStandIn()
    await slack.start()
    smtp = SmtpServer(port=free_port())
    smtp.start()
    try:
        yield Rig(slack, smtp, tmp_path, kafka_bootstrap, redis_url)
    finally:
        smtp.stop()
        await slack.stop()


async def test_an_mqa_reaches_the_owner_on_slack_and_by_email_once(rig: Rig) -> None:
    settings = rig.settings()
    event = mqa_event("acme")
    async with running(settings):
        await produce_mqas(settings, [event, event])  # the engine may send a record twice
        await alerts_caught_up(settings)
        await produce_mqas(settings, [event])  # and again after a restart of the engine
        await alerts_caught_up(settings)
    assert len(rig.slack.posts) == 1 and len(rig.smtp.inbox) == 1
    post = rig.slack.posts[0]
    assert post.path == "/api/chat.postMessage"
    assert post.authorization == "Bearer xoxb-test-token"
    assert post.body["channel"] == "U0AE" and post.alert_id == event["mqa_id"]
    blocks = [Block.parse(b) for b in post.body["blocks"]]
    for block in blocks:
        assert block is not None
        block.validate_json()
    assert post.body["text"].startswith("<@U0AE> MQA: Acme BV (tier 1, threshold rule)")
    [view, ack, good, unfit] = post.body["blocks"][6]["elements"]
    assert view["url"] == "https://abm.vendor.example/accounts/acme"
    assert ack["value"] == good["value"] == unfit["value"] == event["mqa_id"]
    mail = rig.smtp.inbox[0]
    assert mail["To"] == "ae@vendor.example" and mail["From"] == "ABM <abm@vendor.example>"
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and html is not None
    assert "Why now : score 84 / threshold 70" in text.get_content()
    assert "84 / 70 threshold" in html.get_content()


async def test_a_429_with_retry_after_is_waited_out_then_sent_once(rig: Rig) -> None:
    settings = rig.settings(alert_channels="slack")
    rig.slack.script.append((429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}))
    before = metric("abm_alert_retries_total", channel="slack", reason="rate_limited")
    async with running(settings):
        await produce_mqas(settings, [mqa_event("ratelimited")])
        await alerts_caught_up(settings)
    assert rig.slack.requests == 2 and len(rig.slack.posts) == 1
    assert metric("abm_alert_retries_total", channel="slack", reason="rate_limited") == before + 1


async def test_server_errors_are_retried_until_slack_accepts(rig: Rig) -> None:
    settings = rig.settings(alert_channels="slack")
    rig.slack.script.extend([(500, "oops", {}), (503, "busy", {}), (502, "gateway", {})])
    async with running(settings):
        await produce_mqas(settings, [mqa_event("flaky")])
        await alerts_caught_up(settings)
    assert rig.slack.requests == 4 and len(rig.slack.posts) == 1


async def test_a_permanent_error_goes_to_the_dead_letter_topic_once(rig: Rig) -> None:
    settings = rig.settings()
    event = mqa_event("archived")
    rig.slack.script.append((200, {"ok": False, "error": "channel_not_found"}, {}))
    async with running(settings):
        await produce_mqas(settings, [event])
        await alerts_caught_up(settings)
        await produce_mqas(settings, [event])  # a repeat is not dead-lettered again
        await alerts_caught_up(settings)
    assert rig.slack.requests == 1 and rig.slack.posts == []
    assert len(rig.smtp.inbox) == 1  # the other channel is not held up
    [dead] = await read_topic(settings, ALERTS_DEAD_LETTER, until=1, timeout_s=30, settle_s=1)
    assert dead.key == b"archived"
    assert dead.headers["abm-reason"] == "channel_not_found"
    assert dead.headers["abm-channel"] == "slack"
    body = dead.json()
    assert body["mqa_id"] == event["mqa_id"] and body["channel"] == "slack"
    assert body["reason"] == "channel_not_found" and body["attempts"] == 1
    assert body["event"] == event


async def test_exhausted_retries_are_dead_lettered_with_the_last_reason(rig: Rig) -> None:
    settings = rig.settings(alert_channels="slack", alert_max_attempts=3)
    rig.slack.script.extend([(500, "down", {})] * 3)
    async with running(settings):
        await produce_mqas(settings, [mqa_event("down")])
        await alerts_caught_up(settings)
    [dead] = await read_topic(settings, ALERTS_DEAD_LETTER, until=1, timeout_s=30, settle_s=1)
    assert dead.headers["abm-reason"] == "retries_exhausted"
    assert "last: server_error" in dead.json()["detail"] and dead.json()["attempts"] == 3


async def test_smtp_down_then_up_delivers_the_email_once(rig: Rig) -> None:
    rig.smtp.stop()
    settings = rig.settings(alert_channels="email", alert_max_attempts=100)
    before = metric("abm_alert_retries_total", channel="email", reason="connection")
    async with running(settings):
        await produce_mqas(settings, [mqa_event("smtpdown")])
        await until(
            lambda: (
                metric("abm_alert_retries_total", channel="email", reason="connection")
                >= before + 2
            ),
            "two refused SMTP connections",
        )
        rig.smtp.start()
        await alerts_caught_up(settings)
    assert len(rig.smtp.inbox) == 1
    assert rig.smtp.inbox[0]["X-ABM-Alert-Id"].startswith("mqa_")


async def test_routing_uses_the_directory_owner_and_the_fallbacks(rig: Rig) -> None:
    from tests.support.factories import account

    settings = rig.settings(
        slack_fallback_channel="#abm-unowned", alert_fallback_email="revops@vendor.example"
    )
    moved = mqa_event("moved")
    unowned = mqa_event("nobody", owner_email=None, owner_slack_id=None)
    # the account changed hands after the touchpoint: the directory's owner gets the alert
    await load_directory(settings, [account("moved", domains=("moved.example",),
                                            owner_email="new-ae@vendor.example",
                                            owner_slack_id="U0NEW")], [])  # fmt: skip
    async with running(settings):
        await produce_mqas(settings, [moved, unowned])
        await alerts_caught_up(settings)
    channels = {p.alert_id: p.body["channel"] for p in rig.slack.posts}
    assert channels == {moved["mqa_id"]: "U0NEW", unowned["mqa_id"]: "#abm-unowned"}
    recipients = {m["X-ABM-Alert-Id"].removesuffix(":email"): m["To"] for m in rig.smtp.inbox}
    assert recipients == {moved["mqa_id"]: "new-ae@vendor.example",
                          unowned["mqa_id"]: "revops@vendor.example"}  # fmt: skip
    unowned_post = next(p for p in rig.slack.posts if p.alert_id == unowned["mqa_id"])
    assert "<@" not in str(unowned_post.body)


async def test_an_unowned_account_without_a_fallback_is_dead_lettered_no_route(rig: Rig) -> None:
    settings = rig.settings(alert_channels="email")
    async with running(settings):
        await produce_mqas(settings, [mqa_event("orphan", owner_email=None, owner_slack_id=None)])
        await alerts_caught_up(settings)
    assert rig.smtp.inbox == []
    [dead] = await read_topic(settings, ALERTS_DEAD_LETTER, until=1, timeout_s=30, settle_s=1)
    assert dead.headers["abm-reason"] == "no_route"


async def test_an_incoming_webhook_gets_the_blocks_with_the_owner_mentioned(rig: Rig) -> None:
    settings = rig.settings(alert_channels="slack", slack_bot_token=None,
                            slack_webhook_url=rig.slack.webhook_url)  # fmt: skip
    async with running(settings):
        await produce_mqas(settings, [mqa_event("hooked")])
        await alerts_caught_up(settings)
    [post] = rig.slack.posts
    assert post.path.startswith("/hooks/") and post.authorization is None
    assert "channel" not in post.body and post.body["text"].startswith("<@U0AE> MQA: Hooked BV")
    for block in post.body["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()


async def test_email_over_starttls_with_login(rig: Rig) -> None:
    secure = SmtpServer(port=free_port(), login=("abm", "s3cret"))
    secure.start()
    try:
        good = rig.settings(alert_channels="email", smtp_port=secure.port, smtp_starttls=True,
                            smtp_user="abm", smtp_password="s3cret",
                            smtp_ca_file=str(TEST_CERT))  # fmt: skip
        async with running(good):
            await produce_mqas(good, [mqa_event("secure")])
            await alerts_caught_up(good)
        assert len(secure.inbox) == 1
        wrong = rig.settings(alert_channels="email", smtp_port=secure.port, smtp_starttls=True,
                             smtp_user="abm", smtp_password="wrong",
                             smtp_ca_file=str(TEST_CERT))  # fmt: skip
        async with running(wrong):
            await produce_mqas(wrong, [mqa_event("locked")])
            await alerts_caught_up(wrong)
        [dead] = await read_topic(wrong, ALERTS_DEAD_LETTER, until=1, timeout_s=30, settle_s=1)
        assert dead.headers["abm-reason"] == "auth_failed" and len(secure.inbox) == 1
    finally:
        secure.stop()


async def test_records_that_cannot_be_alerted_are_dead_lettered_and_do_not_block(
    rig: Rig,
) -> None:
    from aiokafka import AIOKafkaProducer

    from stream.topics import MQA

    settings = rig.settings(alert_channels="slack")
    broken = {k: v for k, v in mqa_event("broken").items() if k != "follow_up"}
    before = metric("abm_alert_mqa_invalid_total")
    async with running(settings):
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            for value in (b"{not json", orjson.dumps(broken)):
                await producer.send_and_wait(MQA.name(settings.topic_prefix), value, key=b"broken")
        finally:
            await producer.stop()
        await produce_mqas(settings, [mqa_event("broken")])
        await alerts_caught_up(settings)
    assert metric("abm_alert_mqa_invalid_total") == before + 2
    assert len(rig.slack.posts) == 1
    dead = await read_topic(settings, ALERTS_DEAD_LETTER, until=2, timeout_s=30, settle_s=1)
    by_reason = {d.headers["abm-reason"]: d for d in dead}
    assert sorted(by_reason) == ["invalid_mqa", "not_json"]
    garbage, incomplete = by_reason["not_json"], by_reason["invalid_mqa"]
    assert garbage.key == b"broken" and garbage.json()["raw"] == "{not json"
    assert garbage.headers["abm-source"].startswith(f"{MQA.name(settings.topic_prefix)}/")
    assert incomplete.headers["abm-detail"] == "follow_up: missing"
    body = incomplete.json()
    assert body["event"] == broken and body["mqa_id"] == broken["mqa_id"]
    assert (body["account_id"], body["reason"], body["channel"]) == ("broken", "invalid_mqa", None)
