"""The outgoing webhook channel without a network: the Standard Webhooks signature against a
vector computed apart from the code, the secret's checks (which never show it), the body,
and the routes."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson
import pytest

from alerting.channels.base import Outgoing
from alerting.channels.registry import CHANNELS
from alerting.channels.webhook import WebhookChannel, payload, signature, signing_key
from alerting.content import Escalation, Owner
from alerting.recipients import Route, RoutingError, enabled_channels
from tests.support.alert_fakes import delivery
from tests.support.alerting import alert_settings
from tests.support.factories import T0, at

KEY = b"abm-webhook-test-key"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
URL = "https://hooks.example/catch/12345/t0k3n-in-the-path"


def test_the_secret_is_the_base64_key_after_whsec() -> None:
    assert SECRET == "whsec_YWJtLXdlYmhvb2stdGVzdC1rZXk="  # base64 of KEY, by `base64`
    assert signing_key(SECRET) == KEY


def test_the_signature_matches_a_known_vector() -> None:
    body = b'{"type":"mqa.qualified"}'
    # `printf 'mqa_0123.1772442000.{"type":"mqa.qualified"}' | openssl dgst -sha256 \
    #    -hmac abm-webhook-test-key -binary | base64`
    assert (
        signature(KEY, "mqa_0123", 1_772_442_000, body)
        == "v1,sPA7CoeWSxh4dKG1wpURDOqBfvOtgfHjxrAwJXvJ3AI="
    )


def test_the_signed_headers_verify_as_a_receiver_checks_them() -> None:
    channel = WebhookChannel(url=URL, secret=SECRET, timeout_s=1.0, wall_s=lambda: T0 / 1000 + 0.7)
    d = delivery()
    body = channel.render(d.item, "webhook", False)
    headers = channel.headers(d.item.alert_id, body)
    assert headers["webhook-id"] == d.item.alert_id == d.event["mqa_id"]
    assert headers["webhook-timestamp"] == str(T0 // 1000)
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("secret", "why"),
    [("c2VjcmV0LWtleQ==", "must start with whsec_"), ("whsec_not*base64!", "followed by base64"),
     ("whsec_", "no key")],
    ids=["no prefix", "not base64", "empty"],
)  # fmt: skip
def test_a_bad_secret_is_refused_without_showing_it(secret: str, why: str) -> None:
    settings = alert_settings(alert_webhook_url=URL, alert_webhook_secret=secret)
    with pytest.raises(RoutingError, match=why) as refused:
        enabled_channels("webhook", settings, CHANNELS)
    shown = secret.removeprefix("whsec_")
    assert not shown or shown not in str(refused.value)


@pytest.mark.parametrize(
    ("configured", "why"),
    [({}, "ABM_ALERT_WEBHOOK_URL"), ({"alert_webhook_url": URL}, "ABM_ALERT_WEBHOOK_SECRET"),
     ({"alert_webhook_url": "ftp://hooks.example/t0k3n-in-the-path",
       "alert_webhook_secret": SECRET}, "not an http")],
    ids=["no URL", "no secret", "not http"],
)  # fmt: skip
def test_a_webhook_that_cannot_work_stops_the_start(configured: dict[str, str], why: str) -> None:
    with pytest.raises(RoutingError, match=why) as refused:
        enabled_channels("webhook", alert_settings(**configured), CHANNELS)
    assert "t0k3n" not in str(refused.value)


def test_auto_adds_the_webhook_to_the_other_configured_channels() -> None:
    settings = alert_settings(slack_bot_token="xoxb-t", alert_webhook_url=URL,
                              alert_webhook_secret=SECRET)  # fmt: skip
    on = enabled_channels("auto", settings, CHANNELS)
    assert [channel.name for channel in on] == ["slack", "webhook"]


def test_every_mqa_and_escalation_goes_to_the_webhook_whoever_owns_the_account() -> None:
    settings = alert_settings(alert_webhook_url=URL, alert_webhook_secret=SECRET)
    for owner in (Owner("ae@vendor.example", "U0AE"), Owner(None, None)):
        assert WebhookChannel.mqa_route(settings, owner) == Route("webhook", "webhook")
    assert WebhookChannel.escalation_route(settings) == Route("webhook", "webhook")


def test_an_mqa_body_is_the_alerts_event_and_the_same_bytes_every_time() -> None:
    channel = WebhookChannel(url=URL, secret=SECRET, timeout_s=1.0)
    d = delivery()
    body = channel.render(d.item, "webhook", False)
    assert body == channel.render(d.item, "webhook", False)
    sent = orjson.loads(body)
    assert sent["type"] == "mqa.qualified"
    assert sent["timestamp"] == d.event["qualified_at"]
    assert sent["data"]["alert_id"] == d.event["mqa_id"]
    assert sent["data"]["mqa"]["account"] == d.event["account"]
    assert sent["data"]["mqa"]["owner"] == {"email": "ae@vendor.example", "slack_id": "U0AE"}
    assert sent["data"]["links"]["account"] == "https://abm.example/accounts/acme"


def test_an_escalation_body_says_which_mqa_was_not_followed_up() -> None:
    escalation = Escalation(mqa_id="mqa_1", account_id="acme", account_name="Acme BV", tier=1,
                            rule="threshold", qualified_at_ms=T0, due_at_ms=at(hours=4),
                            sla_seconds=4 * 3600, owner=Owner("ae@vendor.example", None),
                            account_url="https://abm.example/accounts/acme")  # fmt: skip
    sent = payload(Outgoing("esc_mqa_1", escalation))
    assert sent["type"] == "mqa.sla_breached"
    assert sent["timestamp"] == sent["data"]["due_at"] == "2026-03-02T13:00:00.000Z"
    assert sent["data"]["alert_id"] == "esc_mqa_1" and sent["data"]["mqa_id"] == "mqa_1"
    assert sent["data"]["owner"] == {"email": "ae@vendor.example", "slack_id": None}
