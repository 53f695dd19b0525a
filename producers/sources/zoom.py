"""Zoom webinars: `x-zm-signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">` with
`x-zm-request-timestamp`, the `endpoint.url_validation` handshake, events
`webinar.participant_joined` and `webinar.registration_created` (docs/producers.md has the
mapping in full). Secret: `ABM_WEBHOOK_ZOOM_SECRET`."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from producers.sources.base import Delivery, Source
from producers.webhooks import (
    BAD_SIGNATURE,
    DEFAULT_TOLERANCE_S,
    INVALID,
    STALE,
    WebhookError,
    WebhookResult,
    email_of,
    hmac_sha256,
    int_header,
    invalid,
    lower_keys,
    text,
    time_ms,
    track_message,
    within,
)

ZOOM_URL_VALIDATION: Final = "endpoint.url_validation"
ZOOM_EVENTS: Final = {
    "webinar.participant_joined": "Webinar Attended",
    "webinar.registration_created": "Webinar Registered",
}


def sign_zoom(secret: str, timestamp_s: int, body: bytes) -> str:
    signed = f"v0:{timestamp_s}:".encode() + body
    return "v0=" + hmac_sha256(secret.encode(), signed).hex()


def verify_zoom(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now_s: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> None:
    h = lower_keys(headers)
    signature = h.get("x-zm-signature")
    if not signature:
        raise WebhookError(401, BAD_SIGNATURE, "header x-zm-signature is missing")
    timestamp_s = int_header(h, "x-zm-request-timestamp")
    if not within(timestamp_s, now_s, tolerance_s):
        raise WebhookError(401, STALE, f"x-zm-request-timestamp is more than {tolerance_s} s off")
    expected = sign_zoom(secret, timestamp_s, body)
    if not hmac.compare_digest(signature.strip().encode(), expected.encode()):
        raise WebhookError(401, BAD_SIGNATURE, "x-zm-signature does not match the body")


def map_zoom(payload: Mapping[str, Any], secret: str, received_ms: int) -> WebhookResult:
    """The URL validation handshake, or a participant joined / registration created event."""
    event = payload.get("event")
    body = payload.get("payload")
    if not isinstance(body, dict):
        raise invalid("payload", "a JSON object", payload, "payload")
    if event == ZOOM_URL_VALIDATION:
        token = text(body.get("plainToken"))
        if token is None:
            raise invalid("payload.plainToken", "a JSON string", body, "plainToken")
        encrypted = hmac_sha256(secret.encode(), token.encode()).hex()
        return WebhookResult(reply={"plainToken": token, "encryptedToken": encrypted})
    if not isinstance(event, str) or event not in ZOOM_EVENTS:
        return WebhookResult(ignored=f"event {event!r} is not mapped")
    obj = body.get("object")
    if not isinstance(obj, dict):
        raise invalid("payload.object", "a JSON object", body, "object")
    webinar = text(obj.get("uuid")) or str(obj.get("id") or "")
    if not webinar:
        raise invalid("payload.object.uuid", "a JSON string", obj, "uuid")
    event_ms = time_ms(payload.get("event_ts")) or received_ms
    properties = {"webinar_id": str(obj.get("id") or webinar)}
    if (topic := text(obj.get("topic"))) is not None:
        properties["webinar_topic"] = topic
    if event == "webinar.participant_joined":
        person = obj.get("participant")
        field_name = "payload.object.participant"
        at_ms = time_ms((person or {}).get("join_time")) if isinstance(person, dict) else None
    else:
        person = obj.get("registrant")
        field_name = "payload.object.registrant"
        at_ms = event_ms
    if not isinstance(person, dict):
        raise invalid(field_name, "a JSON object", obj, field_name.rpartition(".")[2])
    email = email_of(person.get("email"))
    person_id = (
        text(person.get("participant_uuid"))
        or text(person.get("registrant_id"))
        or text(person.get("id"))
        or text(person.get("user_id"))
    )
    if email is None and person_id is None:
        raise WebhookError(
            400, INVALID, f"field `{field_name}`: expected an e-mail or an id, got neither"
        )
    who = email or person_id
    # one attendance (registration) per person and webinar: a redelivery, or leaving and
    # joining again, is the same touchpoint
    message_id = f"zoom:{event}:{webinar}:{who}"
    message = track_message(
        source="zoom",
        message_id=message_id,
        event=ZOOM_EVENTS[str(event)],
        at_ms=at_ms or event_ms,
        email=email,
        anonymous_id=f"zoom:{person_id}" if person_id else None,
        title=text(person.get("job_title")),
        properties=properties,
    )
    return WebhookResult(messages=[message])


class ZoomSource(Source):
    """Zoom sends no event id: `map_zoom` builds one from the webinar and the person."""

    name = "zoom"
    summary = "Zoom webinar events"
    signature_headers = ("x-zm-signature", "x-zm-request-timestamp")
    secret_description: ClassVar[str] = "Secret token of the Zoom webhook app."

    def verify(self, delivery: Delivery) -> None:
        verify_zoom(
            delivery.headers, delivery.body, delivery.secret, delivery.now_s, delivery.tolerance_s
        )

    def map(
        self, payload: Mapping[str, Any], delivery: Delivery, event_id: str | None
    ) -> WebhookResult:
        return map_zoom(payload, delivery.secret, delivery.received_ms)
