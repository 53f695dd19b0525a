"""The LinkedIn source: signatures (accepted and rejected), the challenge handshake and the
mapping of Lead Sync notifications."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from producers.sources.linkedin import linkedin_challenge, map_linkedin, verify_linkedin
from producers.webhooks import BAD_SIGNATURE, INVALID, STALE, WebhookError
from tests.support.factories import T0
from tests.unit.producers.sources.messages import as_segment

LINKEDIN_SECRET = "linkedin-client-secret"

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
    verify_linkedin({"X-LI-Signature": f"hmacsha256={signature}"}, body, LINKEDIN_SECRET)
    verify_linkedin({"x-li-signature": signature}, body, LINKEDIN_SECRET)
    for headers, sent in (
        ({"X-LI-Signature": f"hmacsha256={signature}"}, body + b" "),
        ({"X-LI-Signature": "hmacsha256=" + "0" * 64}, body),
        ({}, body),
    ):
        with pytest.raises(WebhookError) as caught:
            verify_linkedin(headers, sent, LINKEDIN_SECRET)
        assert caught.value.outcome == BAD_SIGNATURE


CHALLENGE = "890e4665-4dfe-4ab1-b689-ed553bceeed1"


def test_linkedin_challenge() -> None:
    expected = hmac.new(LINKEDIN_SECRET.encode(), CHALLENGE.encode(), hashlib.sha256).hexdigest()
    assert linkedin_challenge(CHALLENGE, LINKEDIN_SECRET) == {
        "challengeCode": CHALLENGE,
        "challengeResponse": expected,
    }
    upper = CHALLENGE.upper()
    assert linkedin_challenge(upper, LINKEDIN_SECRET)["challengeCode"] == upper


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
        linkedin_challenge(code, LINKEDIN_SECRET)
    assert (caught.value.status, caught.value.outcome) == (400, INVALID)


def test_linkedin_lead_maps_to_a_lead_gen_form_submission() -> None:
    (message,) = map_linkedin(LEAD, T0 + 60_000).messages
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
    (message,) = map_linkedin(bare, T0).messages
    assert message["anonymousId"] == f"linkedin:{LEAD['leadGenFormResponse']}"
    with pytest.raises(WebhookError) as caught:
        map_linkedin(LEAD, T0 + 301_000)
    assert caught.value.outcome == STALE
    assert map_linkedin({**LEAD, "leadAction": "DELETED"}, T0).ignored
    assert map_linkedin({"type": "OTHER"}, T0).ignored
