"""The e-mail source: Standard Webhooks signatures (accepted and rejected) and the mapping of
e-mail engagement events."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest

from producers.sources.email import (
    map_email,
    sign_standard,
    verify_standard,
)
from producers.webhooks import BAD_SIGNATURE, STALE, WebhookError
from tests.support.factories import T0, T0_ISO
from tests.unit.producers.sources.messages import as_segment

NOW_S = T0 // 1000
EMAIL_SECRET = "whsec_" + base64.b64encode(b"email-platform-signing-key").decode()

EMAIL_BODY = orjson.dumps(
    {
        "type": "email.clicked",
        "created_at": T0_ISO,
        "data": {
            "email_id": "e-1",
            "to": ["Dana <Dana@Acme.com>"],
            "subject": "Pricing",
            "click": {"link": "https://vendor.example/pricing", "timestamp": T0_ISO},
        },
    }
)


def email_headers(
    body: bytes = EMAIL_BODY, *, ts: int = NOW_S, wid: str = "msg_1"
) -> dict[str, str]:
    return {
        "Webhook-Id": wid,
        "Webhook-Timestamp": str(ts),
        "Webhook-Signature": sign_standard(EMAIL_SECRET, wid, ts, body),
    }


def test_standard_signature_matches_the_spec_computation() -> None:
    key = b"email-platform-signing-key"
    expected = base64.b64encode(
        hmac.new(key, b"msg_1." + str(NOW_S).encode() + b"." + EMAIL_BODY, hashlib.sha256).digest()
    ).decode()
    assert email_headers()["Webhook-Signature"] == f"v1,{expected}"


def test_standard_signature_accepted_with_either_header_family_and_rotated_keys() -> None:
    assert verify_standard(email_headers(), EMAIL_BODY, EMAIL_SECRET, NOW_S) == "msg_1"
    svix = {k.replace("Webhook", "svix"): v for k, v in email_headers().items()}
    assert verify_standard(svix, EMAIL_BODY, EMAIL_SECRET, NOW_S + 299) == "msg_1"
    rotated = email_headers()
    rotated["Webhook-Signature"] = "v1,b2xkLWtleQ== " + rotated["Webhook-Signature"]
    assert verify_standard(rotated, EMAIL_BODY, EMAIL_SECRET, NOW_S) == "msg_1"


@pytest.mark.parametrize(
    ("headers", "body", "now", "outcome"),
    [
        (email_headers(), EMAIL_BODY + b" ", NOW_S, BAD_SIGNATURE),
        (email_headers(wid="msg_2") | {"Webhook-Id": "msg_1"}, EMAIL_BODY, NOW_S,
         BAD_SIGNATURE),
        (email_headers(), EMAIL_BODY, NOW_S + 301, STALE),
        (email_headers(ts=NOW_S + 400), EMAIL_BODY, NOW_S, STALE),
        ({"Webhook-Id": "msg_1", "Webhook-Timestamp": str(NOW_S)}, EMAIL_BODY, NOW_S,
         BAD_SIGNATURE),
        (email_headers() | {"Webhook-Timestamp": "soon"}, EMAIL_BODY, NOW_S,
         BAD_SIGNATURE),
        (email_headers() | {"Webhook-Signature": "v1,AAAA"}, EMAIL_BODY, NOW_S,
         BAD_SIGNATURE),
    ],
    ids=[
        "a changed body",
        "the signature of another event id",
        "a replay after the window",
        "a timestamp from the future",
        "no signature",
        "an unreadable timestamp",
        "a wrong signature",
    ],
)  # fmt: skip
def test_standard_signature_rejected(
    headers: dict[str, str], body: bytes, now: int, outcome: str
) -> None:
    with pytest.raises(WebhookError) as caught:
        verify_standard(headers, body, EMAIL_SECRET, now)
    assert (caught.value.status, caught.value.outcome) == (401, outcome)


def test_email_click_maps_to_an_email_link_clicked_touchpoint() -> None:
    result = map_email(orjson.loads(EMAIL_BODY), "msg_1")
    (message,) = result.messages
    parsed = as_segment(message)
    assert (parsed.type, parsed.event, parsed.email, parsed.message_id) == (
        "track",
        "Email Link Clicked",
        "dana@acme.com",
        "email:msg_1",
    )
    assert parsed.timestamp_ms == T0
    assert message["properties"] == {
        "source": "email",
        "email_id": "e-1",
        "subject": "Pricing",
        "link_url": "https://vendor.example/pricing",
    }


@pytest.mark.parametrize(
    ("kind", "data", "event", "email"),
    [
        ("email.opened", {"to": ["dana@acme.com"]}, "Email Opened", "dana@acme.com"),
        ("email.replied", {"to": ["ae@vendor.example"], "from": "Dana <dana@acme.com>"},
         "Email Replied", "dana@acme.com"),
        ("email.replied", {"to": "dana@acme.com"}, "Email Replied", "dana@acme.com"),
    ],
    ids=["open", "a reply comes from the contact", "a single recipient string"],
)  # fmt: skip
def test_email_open_and_reply(kind: str, data: dict[str, Any], event: str, email: str) -> None:
    payload = {"type": kind, "created_at": T0_ISO, "data": data}
    (message,) = map_email(payload, "m").messages
    assert (message["event"], message["context"]["traits"]["email"]) == (event, email)


def test_email_events_that_are_no_engagement_are_ignored() -> None:
    result = map_email({"type": "email.delivered", "data": {}}, "m")
    assert result.messages == [] and result.ignored


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "email.opened", "data": "x"},
        {"type": "email.opened", "created_at": T0_ISO, "data": {"to": ["not an address"]}},
        {"type": "email.opened", "created_at": "never", "data": {"to": ["d@acme.com"]}},
    ],
    ids=["data not an object", "no recipient address", "no event time"],
)
def test_email_payloads_that_cannot_be_mapped(payload: dict[str, Any]) -> None:
    with pytest.raises(WebhookError) as caught:
        map_email(payload, "m")
    assert caught.value.status == 400
