"""Slack request signatures (with the replay window) and acknowledge-link tokens."""

from __future__ import annotations

import pytest

from alerting.signing import (
    SignatureError,
    ack_token,
    ack_url,
    slack_signature,
    verdict_token,
    verdict_url,
    verify_ack,
    verify_slack,
    verify_verdict,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
NOW = 1_772_442_000


def test_slacks_documented_example_signature() -> None:
    # the worked example of Slack's "Verifying requests from Slack" page
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert slack_signature(SECRET, "1531420618", body) == expected


def test_a_fresh_correctly_signed_request_verifies() -> None:
    verify_slack(SECRET, str(NOW), slack_signature(SECRET, str(NOW), BODY), BODY, NOW + 10)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "why"),
    [
        (None, "v0=x", BODY, "missing"),
        (str(NOW), None, BODY, "missing"),
        ("soon", "v0=x", BODY, "not a number"),
        (str(NOW - 301), slack_signature(SECRET, str(NOW - 301), BODY), BODY, "300 s"),
        (str(NOW + 301), slack_signature(SECRET, str(NOW + 301), BODY), BODY, "300 s"),
        (str(NOW), slack_signature(SECRET, str(NOW), BODY), BODY + b"x", "does not match"),
        (str(NOW), slack_signature("other", str(NOW), BODY), BODY, "does not match"),
    ],
    ids=["no timestamp", "no signature", "timestamp not a number", "replayed (old)",
         "from the future", "body changed", "another secret"],
)  # fmt: skip
def test_bad_requests_are_refused_with_the_reason(
    timestamp: str | None, signature: str | None, body: bytes, why: str
) -> None:
    with pytest.raises(SignatureError, match=why):
        verify_slack(SECRET, timestamp, signature, body, NOW)


def test_ack_tokens_bind_the_mqa_and_the_account() -> None:
    token = ack_token("k", "mqa_1", "acme")
    assert verify_ack("k", "mqa_1", "acme", token)
    assert not verify_ack("k", "mqa_2", "acme", token)
    assert not verify_ack("k", "mqa_1", "other", token)
    assert not verify_ack("k2", "mqa_1", "acme", token)
    assert ack_url("https://a.example/", "k", "mqa_1", "acme") == (
        f"https://a.example/ack?m=mqa_1&a=acme&t={token}"
    )


def test_verdict_tokens_bind_the_verdict_the_mqa_and_the_account() -> None:
    token = verdict_token("k", "mqa_1", "acme", "good")
    assert verify_verdict("k", "mqa_1", "acme", "good", token)
    assert not verify_verdict("k", "mqa_1", "acme", "not_a_fit", token)
    assert not verify_verdict("k", "mqa_2", "acme", "good", token)
    assert not verify_verdict("k", "mqa_1", "other", "good", token)
    assert not verify_ack("k", "mqa_1", "acme", token)  # a verdict link cannot acknowledge
    assert verdict_url("https://a.example/", "k", "mqa_1", "acme", "good") == (
        f"https://a.example/verdict?m=mqa_1&a=acme&v=good&t={token}"
    )
