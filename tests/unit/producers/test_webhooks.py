"""Webhook signatures (accept and reject) and the payload mappings of each provider."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest

from abm.core.segment import SegmentMessage, parse_message
from producers import webhooks
from producers.webhooks import WebhookError
from tests.factories import T0, T0_ISO

NOW_S = T0 // 1000
EMAIL_SECRET = "whsec_" + base64.b64encode(b"email-platform-signing-key").decode()
ZOOM_SECRET = "zoom-secret-token"
LINKEDIN_SECRET = "linkedin-client-secret"


def as_segment(message: dict[str, Any]) -> SegmentMessage:
    parsed = parse_message(orjson.dumps(message), 32 * 1024)
    assert isinstance(parsed, SegmentMessage), parsed
    return parsed


# --- email: Standard Webhooks --------------------------------------------------------------

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
        "Webhook-Signature": webhooks.sign_standard(EMAIL_SECRET, wid, ts, body),
    }


def test_standard_signature_matches_the_spec_computation() -> None:
    key = b"email-platform-signing-key"
    expected = base64.b64encode(
        hmac.new(key, b"msg_1." + str(NOW_S).encode() + b"." + EMAIL_BODY, hashlib.sha256).digest()
    ).decode()
    assert email_headers()["Webhook-Signature"] == f"v1,{expected}"


def test_standard_signature_accepted_with_either_header_family_and_rotated_keys() -> None:
    assert webhooks.verify_standard(email_headers(), EMAIL_BODY, EMAIL_SECRET, NOW_S) == "msg_1"
    svix = {k.replace("Webhook", "svix"): v for k, v in email_headers().items()}
    assert webhooks.verify_standard(svix, EMAIL_BODY, EMAIL_SECRET, NOW_S + 299) == "msg_1"
    rotated = email_headers()
    rotated["Webhook-Signature"] = "v1,b2xkLWtleQ== " + rotated["Webhook-Signature"]
    assert webhooks.verify_standard(rotated, EMAIL_BODY, EMAIL_SECRET, NOW_S) == "msg_1"


@pytest.mark.parametrize(
    ("headers", "body", "now", "outcome"),
    [
        (email_headers(), EMAIL_BODY + b" ", NOW_S, webhooks.BAD_SIGNATURE),
        (email_headers(wid="msg_2") | {"Webhook-Id": "msg_1"}, EMAIL_BODY, NOW_S,
         webhooks.BAD_SIGNATURE),
        (email_headers(), EMAIL_BODY, NOW_S + 301, webhooks.STALE),
        (email_headers(ts=NOW_S + 400), EMAIL_BODY, NOW_S, webhooks.STALE),
        ({"Webhook-Id": "msg_1", "Webhook-Timestamp": str(NOW_S)}, EMAIL_BODY, NOW_S,
         webhooks.BAD_SIGNATURE),
        (email_headers() | {"Webhook-Timestamp": "soon"}, EMAIL_BODY, NOW_S,
         webhooks.BAD_SIGNATURE),
        (email_headers() | {"Webhook-Signature": "v1,AAAA"}, EMAIL_BODY, NOW_S,
         webhooks.BAD_SIGNATURE),
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
        webhooks.verify_standard(headers, body, EMAIL_SECRET, now)
    assert (caught.value.status, caught.value.outcome) == (401, outcome)


def test_email_click_maps_to_an_email_link_clicked_touchpoint() -> None:
    result = webhooks.map_email(orjson.loads(EMAIL_BODY), "msg_1")
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
    (message,) = webhooks.map_email(payload, "m").messages
    assert (message["event"], message["context"]["traits"]["email"]) == (event, email)


def test_email_events_that_are_no_engagement_are_ignored() -> None:
    result = webhooks.map_email({"type": "email.delivered", "data": {}}, "m")
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
        webhooks.map_email(payload, "m")
    assert caught.value.status == 400


# --- Zoom ----------------------------------------------------------------------------------


def zoom_headers(body: bytes, ts: int = NOW_S) -> dict[str, str]:
    return {
        "x-zm-request-timestamp": str(ts),
        "x-zm-signature": webhooks.sign_zoom(ZOOM_SECRET, ts, body),
    }


JOINED = {
    "event": "webinar.participant_joined",
    "event_ts": T0 + 5000,
    "payload": {
        "account_id": "zoom-acct",
        "object": {
            "uuid": "wb-uuid==",
            "id": "81234567890",
            "topic": "Routing at scale",
            "participant": {
                "user_id": "16778240",
                "user_name": "Dana",
                "email": "dana@acme.com",
                "join_time": "2026-03-02T09:00:00Z",
                "participant_uuid": "p-uuid",
            },
        },
    },
}


def test_zoom_signature_matches_zooms_computation() -> None:
    body = orjson.dumps(JOINED)
    expected = hmac.new(
        ZOOM_SECRET.encode(), f"v0:{NOW_S}:".encode() + body, hashlib.sha256
    ).hexdigest()
    assert zoom_headers(body)["x-zm-signature"] == f"v0={expected}"
    webhooks.verify_zoom(zoom_headers(body), body, ZOOM_SECRET, NOW_S)


@pytest.mark.parametrize(
    ("mutate", "now", "outcome"),
    [
        (lambda h, b: (h, b + b"x"), NOW_S, webhooks.BAD_SIGNATURE),
        (lambda h, b: ({**h, "x-zm-signature": "v0=00"}, b), NOW_S, webhooks.BAD_SIGNATURE),
        (lambda h, b: ({"x-zm-request-timestamp": str(NOW_S)}, b), NOW_S, webhooks.BAD_SIGNATURE),
        (lambda h, b: (h, b), NOW_S + 301, webhooks.STALE),
    ],
    ids=["changed body", "wrong signature", "no signature", "replayed after the window"],
)
def test_zoom_signature_rejected(mutate: Any, now: int, outcome: str) -> None:
    body = orjson.dumps(JOINED)
    headers, body = mutate(zoom_headers(body), body)
    with pytest.raises(WebhookError) as caught:
        webhooks.verify_zoom(headers, body, ZOOM_SECRET, now)
    assert caught.value.outcome == outcome


def test_zoom_url_validation_handshake() -> None:
    payload = {
        "event": "endpoint.url_validation",
        "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
    }
    result = webhooks.map_zoom(payload, ZOOM_SECRET, T0)
    expected = hmac.new(ZOOM_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert result.reply == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert result.messages == []


def test_zoom_participant_joined_maps_to_webinar_attended_once_per_webinar() -> None:
    (message,) = webhooks.map_zoom(JOINED, ZOOM_SECRET, T0 + 9000).messages
    parsed = as_segment(message)
    assert (parsed.event, parsed.email, parsed.timestamp_ms) == (
        "Webinar Attended",
        "dana@acme.com",
        T0,
    )
    assert parsed.message_id == "zoom:webinar.participant_joined:wb-uuid==:dana@acme.com"
    assert message["properties"]["webinar_topic"] == "Routing at scale"
    rejoined = orjson.loads(orjson.dumps(JOINED))
    rejoined["payload"]["object"]["participant"]["join_time"] = "2026-03-02T09:30:00Z"
    (again,) = webhooks.map_zoom(rejoined, ZOOM_SECRET, T0).messages
    assert again["messageId"] == message["messageId"]


def test_zoom_registration_maps_to_webinar_registered_with_the_job_title() -> None:
    payload = {
        "event": "webinar.registration_created",
        "event_ts": T0,
        "payload": {
            "object": {
                "uuid": "wb-uuid==",
                "id": 81234567890,
                "registrant": {"id": "r-1", "email": "sam@acme.com", "job_title": "CISO"},
            }
        },
    }
    (message,) = webhooks.map_zoom(payload, ZOOM_SECRET, T0 + 1).messages
    parsed = as_segment(message)
    assert (parsed.event, parsed.email, parsed.title, parsed.timestamp_ms) == (
        "Webinar Registered",
        "sam@acme.com",
        "CISO",
        T0,
    )


def test_zoom_participant_without_email_is_anonymous() -> None:
    payload = orjson.loads(orjson.dumps(JOINED))
    del payload["payload"]["object"]["participant"]["email"]
    (message,) = webhooks.map_zoom(payload, ZOOM_SECRET, T0).messages
    assert message["anonymousId"] == "zoom:p-uuid" and "userId" not in message


def test_zoom_other_events_are_ignored_and_broken_ones_refused() -> None:
    assert webhooks.map_zoom({"event": "meeting.started", "payload": {}}, ZOOM_SECRET, T0).ignored
    with pytest.raises(WebhookError):
        webhooks.map_zoom({"event": "webinar.participant_joined"}, ZOOM_SECRET, T0)
    broken = {"event": "webinar.participant_joined", "payload": {"object": {"uuid": "w"}}}
    with pytest.raises(WebhookError):
        webhooks.map_zoom(broken, ZOOM_SECRET, T0)


# --- LinkedIn ------------------------------------------------------------------------------

LEAD = {
    "type": "LEAD_ACTION",
    "leadGenFormResponse": "urn:li:leadGenFormResponse:(urn:li:sponsoredCreative:1,abc)",
    "leadGenForm": "urn:li:leadGenForm:42",
    "leadType": "SPONSORED",
    "leadAction": "CREATED",
    "occuredAt": T0,
    "formResponse": {
        "answers": [
            {"predefinedField": "FIRST_NAME", "answer": "Dana"},
            {"predefinedField": "EMAIL", "answer": "Dana@Acme.com"},
            {"predefinedField": "JOB_TITLE", "answer": "VP Operations"},
        ]
    },
}


def test_linkedin_signature_accepted_and_rejected() -> None:
    body = orjson.dumps(LEAD)
    signature = hmac.new(LINKEDIN_SECRET.encode(), body, hashlib.sha256).hexdigest()
    webhooks.verify_linkedin({"X-LI-Signature": f"hmacsha256={signature}"}, body, LINKEDIN_SECRET)
    webhooks.verify_linkedin({"x-li-signature": signature}, body, LINKEDIN_SECRET)
    for headers, sent in (
        ({"X-LI-Signature": f"hmacsha256={signature}"}, body + b" "),
        ({"X-LI-Signature": "hmacsha256=" + "0" * 64}, body),
        ({}, body),
    ):
        with pytest.raises(WebhookError) as caught:
            webhooks.verify_linkedin(headers, sent, LINKEDIN_SECRET)
        assert caught.value.outcome == webhooks.BAD_SIGNATURE


CHALLENGE = "890e4665-4dfe-4ab1-b689-ed553bceeed1"


def test_linkedin_challenge() -> None:
    expected = hmac.new(LINKEDIN_SECRET.encode(), CHALLENGE.encode(), hashlib.sha256).hexdigest()
    assert webhooks.linkedin_challenge(CHALLENGE, LINKEDIN_SECRET) == {
        "challengeCode": CHALLENGE,
        "challengeResponse": expected,
    }
    upper = CHALLENGE.upper()
    assert webhooks.linkedin_challenge(upper, LINKEDIN_SECRET)["challengeCode"] == upper


@pytest.mark.parametrize(
    "code",
    [orjson.dumps(LEAD).decode(), "c-123", "", CHALLENGE + "\n", CHALLENGE + "0", "{}",
     CHALLENGE.replace("-", "")],
    ids=["a lead notification", "short", "empty", "trailing newline", "too long", "json",
         "no dashes"],
)  # fmt: skip
def test_linkedin_challenge_is_no_signing_oracle(code: str) -> None:
    """The challenge answer is the HMAC that signs a body equal to the code: only codes of
    LinkedIn's form (a UUID) are answered, so no notification can be signed by asking."""
    with pytest.raises(WebhookError) as caught:
        webhooks.linkedin_challenge(code, LINKEDIN_SECRET)
    assert (caught.value.status, caught.value.outcome) == (400, webhooks.INVALID)


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda: webhooks.load_json(b"null"), "body"),
        (lambda: webhooks.map_email({"type": "email.opened", "data": None}, "m"), "field `data`"),
        (lambda: webhooks.map_zoom({"event": "x"}, ZOOM_SECRET, T0), "field `payload`"),
        (lambda: webhooks.map_zoom({"event": webhooks.ZOOM_URL_VALIDATION, "payload": {}},
                                   ZOOM_SECRET, T0), "field `payload.plainToken`"),
        (lambda: webhooks.map_linkedin({"type": "LEAD_ACTION"}, T0), "field `occuredAt`"),
    ],
    ids=["body null", "email data null", "zoom payload missing", "zoom token missing",
         "linkedin time missing"],
)  # fmt: skip
def test_webhook_refusals_use_the_collector_wording(call: Any, where: str) -> None:
    with pytest.raises(WebhookError) as caught:
        call()
    message = caught.value.message
    assert message.startswith(f"{where}: expected "), message
    assert message.endswith((", got nothing", ", got a JSON null")), message


def test_linkedin_lead_maps_to_a_lead_gen_form_submission() -> None:
    (message,) = webhooks.map_linkedin(LEAD, T0 + 60_000).messages
    parsed = as_segment(message)
    assert (parsed.event, parsed.email, parsed.title, parsed.timestamp_ms) == (
        "LinkedIn Lead Gen Form Submitted",
        "dana@acme.com",
        "VP Operations",
        T0,
    )
    assert parsed.message_id == f"linkedin:{LEAD['leadGenFormResponse']}"


def test_linkedin_lead_without_answers_is_anonymous_and_a_stale_one_is_refused() -> None:
    bare = {k: v for k, v in LEAD.items() if k != "formResponse"}
    (message,) = webhooks.map_linkedin(bare, T0).messages
    assert message["anonymousId"] == f"linkedin:{LEAD['leadGenFormResponse']}"
    with pytest.raises(WebhookError) as caught:
        webhooks.map_linkedin(LEAD, T0 + 301_000)
    assert caught.value.outcome == webhooks.STALE
    assert webhooks.map_linkedin({**LEAD, "leadAction": "DELETED"}, T0).ignored
    assert webhooks.map_linkedin({"type": "OTHER"}, T0).ignored
