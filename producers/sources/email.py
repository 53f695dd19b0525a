"""E-mail platforms: Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256>`; the `svix-*` header names too), the scheme of Resend
and other Svix-based e-mail platforms; events `email.opened`, `email.clicked`, `email.replied`
(docs/producers.md has the mapping in full). Secret: `ABM_WEBHOOK_EMAIL_SECRET`."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from producers.sources.base import Delivery, Source
from producers.webhooks import (
    BAD_SIGNATURE,
    DEFAULT_TOLERANCE_S,
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
    return "v1," + base64.b64encode(hmac_sha256(standard_secret_key(secret), signed)).decode()


def verify_standard(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    now_s: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> str:
    """Check a Standard Webhooks signature; returns the webhook id (the event id)."""
    h = lower_keys(headers)
    webhook_id = h.get("webhook-id") or h.get("svix-id")
    ts_name = "webhook-timestamp" if "webhook-timestamp" in h else "svix-timestamp"
    signatures = h.get("webhook-signature") or h.get("svix-signature")
    if not webhook_id or not signatures:
        raise WebhookError(401, BAD_SIGNATURE, "headers webhook-id and webhook-signature needed")
    timestamp_s = int_header(h, ts_name)
    if not within(timestamp_s, now_s, tolerance_s):
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
        raise invalid("data", "a JSON object", payload, "data")
    recipients = data.get("to")
    first = recipients[0] if isinstance(recipients, list) and recipients else recipients
    if kind == "email.replied":
        first = data.get("from") or first  # a reply comes from the contact
    email = email_of(first)
    if email is None:
        raise invalid("data.to", "an e-mail address", data, "to")
    raw_click = data.get("click")
    click: dict[str, Any] = raw_click if isinstance(raw_click, dict) else {}
    at_ms = (
        time_ms(click.get("timestamp"))
        or time_ms(payload.get("created_at"))
        or time_ms(data.get("created_at"))
    )
    if at_ms is None:
        raise invalid("created_at", "an ISO-8601 time or epoch seconds", payload, "created_at")
    properties: dict[str, Any] = {}
    if (email_id := text(data.get("email_id"))) is not None:
        properties["email_id"] = email_id
    if (subject := text(data.get("subject"))) is not None:
        properties["subject"] = subject
    if (link := text(click.get("link"))) is not None:
        properties["link_url"] = link
    message = track_message(
        source="email",
        message_id=f"email:{event_id}",
        event=EMAIL_EVENTS[kind],
        at_ms=at_ms,
        email=email,
        properties=properties,
    )
    return WebhookResult(messages=[message])


class EmailSource(Source):
    """The webhook id is the event id: a redelivery is the same touchpoint."""

    name = "email"
    summary = "E-mail platform events (Standard Webhooks signature)"
    signature_headers = ("webhook-id", "webhook-timestamp", "webhook-signature")
    secret_description: ClassVar[str] = (
        "Standard Webhooks secret (whsec_...) of the e-mail platform."
    )

    def verify(self, delivery: Delivery) -> str:
        return verify_standard(
            delivery.headers, delivery.body, delivery.secret, delivery.now_s, delivery.tolerance_s
        )

    def map(
        self, payload: Mapping[str, Any], delivery: Delivery, event_id: str | None
    ) -> WebhookResult:
        assert event_id is not None  # verify returns the webhook id
        return map_email(payload, event_id)
