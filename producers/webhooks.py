"""Webhooks of sources that push, as pure functions: verify the provider's signature on the raw
body, then map its payload to Segment track messages (the touchpoint contract).

Every verifier compares in constant time (`hmac.compare_digest`) and refuses requests outside a
replay window (`tolerance_s`, default 5 minutes) around the receive time. Every mapped message
carries a `messageId` derived from the provider's event id (or, where the provider sends none,
from what identifies the event), so a provider's redelivery is deduplicated like an SDK retry.
Times are epoch seconds where the providers use seconds, epoch ms inside messages.

Providers (docs/producers.md has each mapping in full):
- `email`: Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
  `webhook-signature: v1,<base64 HMAC-SHA256>`; the `svix-*` header names too), the scheme of
  Resend and other Svix-based e-mail platforms; events `email.opened`, `email.clicked`,
  `email.replied`.
- `zoom`: Zoom's `x-zm-signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">` with
  `x-zm-request-timestamp`, the `endpoint.url_validation` handshake, events
  `webinar.participant_joined` and `webinar.registration_created`.
- `linkedin`: LinkedIn's `X-LI-Signature: hmacsha256=<hex HMAC-SHA256 of the body>` with the
  app's client secret, the GET `challengeCode` handshake, Lead Sync `LEAD_ACTION` notifications.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from abm.core.timefmt import iso_ms, parse_iso_ms
from producers.jsontext import expected, loads_exact

PROVIDERS: Final = ("email", "zoom", "linkedin")
DEFAULT_TOLERANCE_S: Final = 300

# Outcomes of a webhook request (metric label values).
ACCEPTED: Final = "accepted"
DUPLICATE: Final = "duplicate"
IGNORED: Final = "ignored"
SUPPRESSED: Final = "suppressed"
"""Every event of the delivery belongs to a person on the suppression list: acknowledged, not
produced."""
HANDSHAKE: Final = "handshake"
BAD_SIGNATURE: Final = "bad_signature"
STALE: Final = "stale"
INVALID: Final = "invalid"
UNAVAILABLE: Final = "unavailable"
NOT_CONFIGURED: Final = "not_configured"
DROPPED: Final = "dropped"
"""The sender closed the connection before its body was read."""
OUTCOMES: Final = (
    ACCEPTED,
    DUPLICATE,
    IGNORED,
    HANDSHAKE,
    BAD_SIGNATURE,
    STALE,
    INVALID,
    UNAVAILABLE,
    NOT_CONFIGURED,
    DROPPED,
)


class WebhookError(Exception):
    """A refused webhook request: HTTP `status`, `outcome` (metric label), `message`."""

    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


@dataclass(frozen=True)
class WebhookResult:
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Segment track messages to produce."""
    reply: dict[str, Any] | None = None
    """A handshake answer to send back instead of `{"success": true}`."""
    ignored: str | None = None
    """Why nothing was produced for an event type we do not map (answered 200)."""


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _within(timestamp_s: int, now_s: int, tolerance_s: int) -> bool:
    return abs(now_s - timestamp_s) <= tolerance_s


def _int_header(headers: Mapping[str, str], name: str) -> int:
    value = headers.get(name)
    if value is None:
        raise WebhookError(401, BAD_SIGNATURE, f"header {name} is missing")
    try:
        return int(value.strip())
    except ValueError:
        raise WebhookError(401, BAD_SIGNATURE, f"header {name} is not a whole number") from None


def load_json(body: bytes) -> dict[str, Any]:
    try:
        doc = loads_exact(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookError(400, INVALID, f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise WebhookError(400, INVALID, expected("body", "a JSON object", doc))
    return doc


def _invalid(where: str, what: str, payload: Mapping[str, Any], key: str) -> WebhookError:
    """A 400 for field `where` (`payload[key]`), in the one wording of refused requests."""
    return WebhookError(
        400, INVALID, expected(f"field `{where}`", what, payload.get(key), key in payload)
    )


def _track(
    *,
    source: str,
    message_id: str,
    event: str,
    at_ms: int,
    email: str | None,
    anonymous_id: str | None = None,
    title: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Segment track message of a webhook event: the person is the e-mail (userId and
    context.traits.email), or an anonymous id when the provider sent no e-mail."""
    message: dict[str, Any] = {
        "type": "track",
        "event": event,
        "messageId": message_id,
        "timestamp": iso_ms(at_ms),
        "context": {"library": {"name": f"abm-webhook-{source}", "version": "1"}},
        "properties": {"source": source, **(properties or {})},
    }
    traits: dict[str, str] = {}
    if email:
        message["userId"] = email
        traits["email"] = email
    else:
        message["anonymousId"] = anonymous_id or message_id
    if title:
        traits["title"] = title
    if traits:
        message["context"]["traits"] = traits
    return message


def _email_of(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    # "Dana <dana@acme.com>" -> dana@acme.com
    if "<" in value and value.endswith(">"):
        value = value[value.rindex("<") + 1 : -1].strip()
    local, at, domain = value.rpartition("@")
    return value if at and local and "." in domain else None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _time_ms(value: Any) -> int | None:
    """An ISO-8601 string, or epoch seconds / ms as a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value * 1000) if value < 100_000_000_000 else int(value)
    if isinstance(value, str):
        try:
            return parse_iso_ms(value)
        except (ValueError, OverflowError):
            return None
    return None


# --- email: Standard Webhooks ----------------------------------------------------------------

EMAIL_EVENTS: Final = {
    "email.opened": "Email Opened",
    "email.clicked": "Email Link Clicked",
    "email.replied": "Email Replied",
}


def standard_secret_key(secret: str) -> bytes:
    """A Standard Webhooks secret (`whsec_` + base64) as HMAC key bytes; a secret without the
    prefix is used as it is (UTF-8)."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except binascii.Error:
            raise ValueError("the whsec_ secret is not valid base64") from None
    return secret.encode()


def sign_standard(secret: str, webhook_id: str, timestamp_s: int, body: bytes) -> str:
    """The `webhook-signature` header value for a body (for tests and for checking a setup)."""
    signed = f"{webhook_id}.{timestamp_s}.".encode() + body
    return "v1," + base64.b64encode(_hmac_sha256(standard_secret_key(secret), signed)).decode()


def verify_standard(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now_s: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> str:
    """Check a Standard Webhooks signature; returns the webhook id (the event id)."""
    h = _lower(headers)
    webhook_id = h.get("webhook-id") or h.get("svix-id")
    ts_name = "webhook-timestamp" if "webhook-timestamp" in h else "svix-timestamp"
    signatures = h.get("webhook-signature") or h.get("svix-signature")
    if not webhook_id or not signatures:
        raise WebhookError(401, BAD_SIGNATURE, "headers webhook-id and webhook-signature needed")
    timestamp_s = _int_header(h, ts_name)
    if not _within(timestamp_s, now_s, tolerance_s):
        raise WebhookError(401, STALE, f"webhook-timestamp is more than {tolerance_s} s off")
    expected = sign_standard(secret, webhook_id, timestamp_s, body).encode()
    found = False
    for candidate in signatures.split():
        found |= hmac.compare_digest(candidate.encode(), expected)
    if not found:
        raise WebhookError(401, BAD_SIGNATURE, "no webhook-signature matches the body")
    return webhook_id


def map_email(payload: Mapping[str, Any], event_id: str) -> WebhookResult:
    """`email.opened` / `email.clicked` / `email.replied` -> Email Opened / Email Link Clicked /
    Email Replied of the recipient; other types (sent, delivered, bounced, ...) are ignored."""
    kind = payload.get("type")
    if not isinstance(kind, str) or kind not in EMAIL_EVENTS:
        return WebhookResult(ignored=f"event type {kind!r} is not an engagement")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise _invalid("data", "a JSON object", payload, "data")
    recipients = data.get("to")
    first = recipients[0] if isinstance(recipients, list) and recipients else recipients
    if kind == "email.replied":
        first = data.get("from") or first  # a reply comes from the contact
    email = _email_of(first)
    if email is None:
        raise _invalid("data.to", "an e-mail address", data, "to")
    raw_click = data.get("click")
    click: dict[str, Any] = raw_click if isinstance(raw_click, dict) else {}
    at_ms = (
        _time_ms(click.get("timestamp"))
        or _time_ms(payload.get("created_at"))
        or _time_ms(data.get("created_at"))
    )
    if at_ms is None:
        raise _invalid("created_at", "an ISO-8601 time or epoch seconds", payload, "created_at")
    properties: dict[str, Any] = {}
    if (email_id := _text(data.get("email_id"))) is not None:
        properties["email_id"] = email_id
    if (subject := _text(data.get("subject"))) is not None:
        properties["subject"] = subject
    if (link := _text(click.get("link"))) is not None:
        properties["link_url"] = link
    message = _track(
        source="email",
        message_id=f"email:{event_id}",
        event=EMAIL_EVENTS[kind],
        at_ms=at_ms,
        email=email,
        properties=properties,
    )
    return WebhookResult(messages=[message])


# --- Zoom --------------------------------------------------------------------------------------

ZOOM_URL_VALIDATION: Final = "endpoint.url_validation"
ZOOM_EVENTS: Final = {
    "webinar.participant_joined": "Webinar Attended",
    "webinar.registration_created": "Webinar Registered",
}


def sign_zoom(secret: str, timestamp_s: int, body: bytes) -> str:
    signed = f"v0:{timestamp_s}:".encode() + body
    return "v0=" + _hmac_sha256(secret.encode(), signed).hex()


def verify_zoom(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now_s: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> None:
    h = _lower(headers)
    signature = h.get("x-zm-signature")
    if not signature:
        raise WebhookError(401, BAD_SIGNATURE, "header x-zm-signature is missing")
    timestamp_s = _int_header(h, "x-zm-request-timestamp")
    if not _within(timestamp_s, now_s, tolerance_s):
        raise WebhookError(401, STALE, f"x-zm-request-timestamp is more than {tolerance_s} s off")
    expected = sign_zoom(secret, timestamp_s, body)
    if not hmac.compare_digest(signature.strip().encode(), expected.encode()):
        raise WebhookError(401, BAD_SIGNATURE, "x-zm-signature does not match the body")


def map_zoom(payload: Mapping[str, Any], secret: str, received_ms: int) -> WebhookResult:
    """The URL validation handshake, or a participant joined / registration created event."""
    event = payload.get("event")
    body = payload.get("payload")
    if not isinstance(body, dict):
        raise _invalid("payload", "a JSON object", payload, "payload")
    if event == ZOOM_URL_VALIDATION:
        token = _text(body.get("plainToken"))
        if token is None:
            raise _invalid("payload.plainToken", "a JSON string", body, "plainToken")
        encrypted = _hmac_sha256(secret.encode(), token.encode()).hex()
        return WebhookResult(reply={"plainToken": token, "encryptedToken": encrypted})
    if not isinstance(event, str) or event not in ZOOM_EVENTS:
        return WebhookResult(ignored=f"event {event!r} is not mapped")
    obj = body.get("object")
    if not isinstance(obj, dict):
        raise _invalid("payload.object", "a JSON object", body, "object")
    webinar = _text(obj.get("uuid")) or str(obj.get("id") or "")
    if not webinar:
        raise _invalid("payload.object.uuid", "a JSON string", obj, "uuid")
    event_ms = _time_ms(payload.get("event_ts")) or received_ms
    properties = {"webinar_id": str(obj.get("id") or webinar)}
    if (topic := _text(obj.get("topic"))) is not None:
        properties["webinar_topic"] = topic
    if event == "webinar.participant_joined":
        person = obj.get("participant")
        field_name = "payload.object.participant"
        at_ms = _time_ms((person or {}).get("join_time")) if isinstance(person, dict) else None
    else:
        person = obj.get("registrant")
        field_name = "payload.object.registrant"
        at_ms = event_ms
    if not isinstance(person, dict):
        raise _invalid(field_name, "a JSON object", obj, field_name.rpartition(".")[2])
    email = _email_of(person.get("email"))
    person_id = (
        _text(person.get("participant_uuid"))
        or _text(person.get("registrant_id"))
        or _text(person.get("id"))
        or _text(person.get("user_id"))
    )
    if email is None and person_id is None:
        raise WebhookError(
            400, INVALID, f"field `{field_name}`: expected an e-mail or an id, got neither"
        )
    who = email or person_id
    # one attendance (registration) per person and webinar: a redelivery, or leaving and
    # joining again, is the same touchpoint
    message_id = f"zoom:{event}:{webinar}:{who}"
    message = _track(
        source="zoom",
        message_id=message_id,
        event=ZOOM_EVENTS[str(event)],
        at_ms=at_ms or event_ms,
        email=email,
        anonymous_id=f"zoom:{person_id}" if person_id else None,
        title=_text(person.get("job_title")),
        properties=properties,
    )
    return WebhookResult(messages=[message])


# --- LinkedIn Lead Sync ------------------------------------------------------------------------

LINKEDIN_EVENT: Final = "LinkedIn Lead Gen Form Submitted"


def sign_linkedin(secret: str, body: bytes) -> str:
    return "hmacsha256=" + _hmac_sha256(secret.encode(), body).hex()


def verify_linkedin(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    h = _lower(headers)
    signature = h.get("x-li-signature")
    if not signature:
        raise WebhookError(401, BAD_SIGNATURE, "header X-LI-Signature is missing")
    given = signature.strip()
    if not given.lower().startswith("hmacsha256="):
        given = "hmacsha256=" + given
    if not hmac.compare_digest(given.lower().encode(), sign_linkedin(secret, body).encode()):
        raise WebhookError(401, BAD_SIGNATURE, "X-LI-Signature does not match the body")


LINKEDIN_CHALLENGE: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
"""LinkedIn's challenge codes are UUIDs (36 characters). The answer to a challenge is the same
HMAC as the `X-LI-Signature` of a body equal to the code, so answering any code would sign any
body for whoever asks: answering UUIDs only signs nothing that parses as a notification."""


def linkedin_challenge(challenge_code: str, secret: str) -> dict[str, str]:
    """Answer to LinkedIn's endpoint validation (GET ?challengeCode=<a UUID>); `WebhookError`
    (400) for a code of any other form."""
    if LINKEDIN_CHALLENGE.fullmatch(challenge_code) is None:
        raise WebhookError(
            400, INVALID, "query `challengeCode`: expected a UUID (LinkedIn's challenge form)"
        )
    response = _hmac_sha256(secret.encode(), challenge_code.encode()).hex()
    return {"challengeCode": challenge_code, "challengeResponse": response}


_LINKEDIN_EMAIL_FIELDS: Final = ("EMAIL", "WORK_EMAIL", "EMAIL_ADDRESS")
_LINKEDIN_TITLE_FIELDS: Final = ("JOB_TITLE", "TITLE")


def map_linkedin(
    payload: Mapping[str, Any], received_ms: int, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> WebhookResult:
    """A `LEAD_ACTION` notification with `leadAction: CREATED` -> LinkedIn Lead Gen Form
    Submitted. LinkedIn's notification names the form response by URN only; when the sender
    includes the answers (`formResponse.answers`: `predefinedField` + `answer`, as fetched from
    the Lead Sync API), the e-mail and job title are used, otherwise the touchpoint has only an
    anonymous id and is parked as unresolved by the engine (counted, not lost). The signed
    `occuredAt` (LinkedIn's spelling; `occurredAt` too) must lie within the replay window."""
    if payload.get("type") != "LEAD_ACTION":
        return WebhookResult(ignored=f"notification type {payload.get('type')!r} is not mapped")
    occurred = payload.get("occuredAt", payload.get("occurredAt"))
    at_ms = _time_ms(occurred)
    if at_ms is None:
        raise WebhookError(
            400,
            INVALID,
            expected("field `occuredAt`", "epoch milliseconds", occurred, occurred is not None),
        )
    if abs(received_ms - at_ms) > tolerance_s * 1000:
        raise WebhookError(401, STALE, f"occuredAt is more than {tolerance_s} s off")
    if payload.get("leadAction", "CREATED") != "CREATED":
        return WebhookResult(ignored=f"lead action {payload.get('leadAction')!r} is not mapped")
    response = _text(payload.get("leadGenFormResponse"))
    if response is None:
        raise _invalid("leadGenFormResponse", "a URN", payload, "leadGenFormResponse")
    answers = _linkedin_answers(payload.get("formResponse"))
    email = next((_email_of(answers[f]) for f in _LINKEDIN_EMAIL_FIELDS if f in answers), None)
    title = next((answers[f] for f in _LINKEDIN_TITLE_FIELDS if f in answers), None)
    properties: dict[str, Any] = {"lead_response": response}
    if (form := _text(payload.get("leadGenForm"))) is not None:
        properties["lead_form"] = form
    message = _track(
        source="linkedin",
        message_id=f"linkedin:{response}",
        event=LINKEDIN_EVENT,
        at_ms=at_ms,
        email=email,
        anonymous_id=f"linkedin:{response}",
        title=title,
        properties=properties,
    )
    return WebhookResult(messages=[message])


def _linkedin_answers(form_response: Any) -> dict[str, str]:
    if not isinstance(form_response, dict):
        return {}
    answers = form_response.get("answers")
    out: dict[str, str] = {}
    if not isinstance(answers, list):
        return out
    for answer in answers:
        if not isinstance(answer, dict):
            continue
        name, value = answer.get("predefinedField"), _text(answer.get("answer"))
        if isinstance(name, str) and value is not None:
            out.setdefault(name.upper(), value)
    return out
