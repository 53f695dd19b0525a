"""LinkedIn lead-gen forms: `X-LI-Signature: hmacsha256=<hex HMAC-SHA256 of the body>` with
the app's client secret, the `GET ?challengeCode=` handshake, Lead Sync `LEAD_ACTION`
notifications (docs/producers.md has the mapping in full). Secret:
`ABM_WEBHOOK_LINKEDIN_SECRET`."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from producers.jsontext import expected
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
    invalid,
    lower_keys,
    text,
    time_ms,
    track_message,
)

LINKEDIN_EVENT: Final = "LinkedIn Lead Gen Form Submitted"


def sign_linkedin(secret: str, body: bytes) -> str:
    return "hmacsha256=" + hmac_sha256(secret.encode(), body).hex()


def verify_linkedin(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    h = lower_keys(headers)
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
    response = hmac_sha256(secret.encode(), challenge_code.encode()).hex()
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
    at_ms = time_ms(occurred)
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
    response = text(payload.get("leadGenFormResponse"))
    if response is None:
        raise invalid("leadGenFormResponse", "a URN", payload, "leadGenFormResponse")
    answers = _linkedin_answers(payload.get("formResponse"))
    email = next((email_of(answers[f]) for f in _LINKEDIN_EMAIL_FIELDS if f in answers), None)
    title = next((answers[f] for f in _LINKEDIN_TITLE_FIELDS if f in answers), None)
    properties: dict[str, Any] = {"lead_response": response}
    if (form := text(payload.get("leadGenForm"))) is not None:
        properties["lead_form"] = form
    message = track_message(
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
        name, value = answer.get("predefinedField"), text(answer.get("answer"))
        if isinstance(name, str) and value is not None:
            out.setdefault(name.upper(), value)
    return out


class LinkedInSource(Source):
    """The signature has no timestamp: `map_linkedin` applies the replay window to the signed
    `occuredAt`. LinkedIn validates the endpoint with a `GET ?challengeCode=`."""

    name = "linkedin"
    summary = "LinkedIn Lead Sync notifications"
    signature_headers = ("X-LI-Signature",)
    secret_description: ClassVar[str] = "Client secret of the LinkedIn app that receives Lead Sync."
    handshake_operation: ClassVar[dict[str, Any] | None] = {
        "summary": "LinkedIn endpoint validation",
        "parameters": [
            {
                "name": "challengeCode",
                "in": "query",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
        "responses": {
            "200": {"description": "challengeCode and challengeResponse"},
            "400": {"description": "challengeCode is not a UUID (LinkedIn's form)"},
            "404": {"description": "Webhook not configured (no secret)"},
        },
    }

    def verify(self, delivery: Delivery) -> None:
        verify_linkedin(delivery.headers, delivery.body, delivery.secret)

    def map(
        self, payload: Mapping[str, Any], delivery: Delivery, event_id: str | None
    ) -> WebhookResult:
        return map_linkedin(payload, delivery.received_ms, delivery.tolerance_s)

    def handshake(self, query: Mapping[str, str], secret: str) -> dict[str, Any]:
        return linkedin_challenge(query.get("challengeCode", ""), secret)
