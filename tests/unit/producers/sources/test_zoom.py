"""The Zoom source: signatures (accepted and rejected), the URL validation handshake and the
mapping of webinar events."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest

from producers.sources.zoom import map_zoom, sign_zoom, verify_zoom
from producers.webhooks import BAD_SIGNATURE, STALE, WebhookError
from tests.support.factories import T0
from tests.unit.producers.sources.messages import as_segment

NOW_S = T0 // 1000
ZOOM_SECRET = "zoom-secret-token"


def zoom_headers(body: bytes, ts: int = NOW_S) -> dict[str, str]:
    return {
        "x-zm-request-timestamp": str(ts),
        "x-zm-signature": sign_zoom(ZOOM_SECRET, ts, body),
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
    verify_zoom(zoom_headers(body), body, ZOOM_SECRET, NOW_S)


@pytest.mark.parametrize(
    ("mutate", "now", "outcome"),
    [
        (lambda h, b: (h, b + b"x"), NOW_S, BAD_SIGNATURE),
        (lambda h, b: ({**h, "x-zm-signature": "v0=00"}, b), NOW_S, BAD_SIGNATURE),
        (lambda h, b: ({"x-zm-request-timestamp": str(NOW_S)}, b), NOW_S, BAD_SIGNATURE),
        (lambda h, b: (h, b), NOW_S + 301, STALE),
    ],
    ids=["changed body", "wrong signature", "no signature", "replayed after the window"],
)
def test_zoom_signature_rejected(mutate: Any, now: int, outcome: str) -> None:
    body = orjson.dumps(JOINED)
    headers, body = mutate(zoom_headers(body), body)
    with pytest.raises(WebhookError) as caught:
        verify_zoom(headers, body, ZOOM_SECRET, now)
    assert caught.value.outcome == outcome


def test_zoom_url_validation_handshake() -> None:
    payload = {
        "event": "endpoint.url_validation",
        "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
    }
    result = map_zoom(payload, ZOOM_SECRET, T0)
    expected = hmac.new(ZOOM_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert result.reply == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert result.messages == []


def test_zoom_participant_joined_maps_to_webinar_attended_once_per_webinar() -> None:
    (message,) = map_zoom(JOINED, ZOOM_SECRET, T0 + 9000).messages
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
    (again,) = map_zoom(rejoined, ZOOM_SECRET, T0).messages
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
    (message,) = map_zoom(payload, ZOOM_SECRET, T0 + 1).messages
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
    (message,) = map_zoom(payload, ZOOM_SECRET, T0).messages
    assert message["anonymousId"] == "zoom:p-uuid" and "userId" not in message


def test_zoom_other_events_are_ignored_and_broken_ones_refused() -> None:
    assert map_zoom({"event": "meeting.started", "payload": {}}, ZOOM_SECRET, T0).ignored
    with pytest.raises(WebhookError):
        map_zoom({"event": "webinar.participant_joined"}, ZOOM_SECRET, T0)
    broken = {"event": "webinar.participant_joined", "payload": {"object": {"uuid": "w"}}}
    with pytest.raises(WebhookError):
        map_zoom(broken, ZOOM_SECRET, T0)
