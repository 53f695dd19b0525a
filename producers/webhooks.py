"""What every webhook source shares (the sources themselves are `producers.sources`): the
outcomes of a request (metric labels), the refusal, the result of a mapping, and the pieces the
providers' schemes are built of: HMAC-SHA256, header and time parsing, the Segment track message.

Every verifier compares in constant time (`hmac.compare_digest`) and refuses requests outside a
replay window (`tolerance_s`, default 5 minutes) around the receive time. Every mapped message
carries a `messageId` derived from the provider's event id (or, where the provider sends none,
from what identifies the event), so a provider's redelivery is deduplicated like an SDK retry.
Times are epoch seconds where the providers use seconds, epoch ms inside messages.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from abm.core.timefmt import iso_ms, parse_iso_ms
from producers.jsontext import expected, loads_exact

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


def lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers by lower-case name: HTTP header names are case-insensitive."""
    return {k.lower(): v for k, v in headers.items()}


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """The raw digest (32 bytes); each provider encodes it its own way (hex, base64)."""
    return hmac.new(key, message, hashlib.sha256).digest()


def within(timestamp_s: int, now_s: int, tolerance_s: int) -> bool:
    """Whether a signed timestamp lies in the replay window around now (all in seconds)."""
    return abs(now_s - timestamp_s) <= tolerance_s


def int_header(headers: Mapping[str, str], name: str) -> int:
    """A whole-number header (a timestamp in epoch seconds); a 401 when missing or unreadable,
    as a signature that cannot be checked."""
    value = headers.get(name)
    if value is None:
        raise WebhookError(401, BAD_SIGNATURE, f"header {name} is missing")
    try:
        return int(value.strip())
    except ValueError:
        raise WebhookError(401, BAD_SIGNATURE, f"header {name} is not a whole number") from None


def load_json(body: bytes) -> dict[str, Any]:
    """The verified body as a JSON object; a 400 for anything else."""
    try:
        doc = loads_exact(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookError(400, INVALID, f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise WebhookError(400, INVALID, expected("body", "a JSON object", doc))
    return doc


def invalid(where: str, what: str, payload: Mapping[str, Any], key: str) -> WebhookError:
    """A 400 for field `where` (`payload[key]`), in the one wording of refused requests."""
    return WebhookError(
        400, INVALID, expected(f"field `{where}`", what, payload.get(key), key in payload)
    )


def track_message(
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


def email_of(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    # "Dana <dana@acme.com>" -> dana@acme.com
    if "<" in value and value.endswith(">"):
        value = value[value.rindex("<") + 1 : -1].strip()
    local, at, domain = value.rpartition("@")
    return value if at and local and "." in domain else None


def text(value: Any) -> str | None:
    """A string without surrounding white space; None for an empty string or another type."""
    return value.strip() or None if isinstance(value, str) else None


def time_ms(value: Any) -> int | None:
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
