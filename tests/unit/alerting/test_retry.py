"""Which provider answers are retried, after how long, and which are permanent."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.retry import (
    RETRY_AFTER_MAX_S,
    Backoff,
    backoff_s,
    classify_slack,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "webhook", "verdict", "reason", "wait"),
    [
        (200, {"ok": True, "ts": "1.2"}, None, False, "sent", "ok", None),
        (429, {"ok": False, "error": "ratelimited"}, "7", False, "retry", "rate_limited", 7.0),
        (500, "oops", None, False, "retry", "server_error", None),
        (503, {"ok": False}, "2", False, "retry", "server_error", 2.0),
        (200, {"ok": False, "error": "ratelimited"}, None, False, "retry", "rate_limited", None),
        (200, {"ok": False, "error": "internal_error"}, None, False, "retry", "server_error", None),
        (200, {"ok": False, "error": "channel_not_found"}, None, False, "permanent",
         "channel_not_found", None),
        (200, {"ok": False, "error": "is_archived"}, None, False, "permanent", "is_archived", None),
        (200, {"ok": False, "error": "invalid_auth"}, None, False, "permanent", "invalid_auth",
         None),
        (200, {"ok": False, "error": "brand_new_error"}, None, False, "permanent", "slack_error",
         None),
        (400, "not json", None, False, "permanent", "client_error", None),
        (200, "ok", None, True, "sent", "ok", None),
        (404, "channel_not_found", None, True, "permanent", "channel_not_found", None),
        (410, "channel_is_archived", None, True, "permanent", "channel_is_archived", None),
        (403, "invalid_token", None, True, "permanent", "invalid_token", None),
        (429, "rate limited", "1", True, "retry", "rate_limited", 1.0),
        (502, "bad gateway", None, True, "retry", "server_error", None),
    ],
    ids=["ok", "429 with Retry-After", "500", "503 with Retry-After", "ratelimited in body",
         "internal_error", "channel not found", "archived", "invalid auth", "unknown error code",
         "4xx without JSON", "webhook ok", "webhook channel not found", "webhook archived",
         "webhook bad token", "webhook 429", "webhook 502"],
)  # fmt: skip
def test_slack_answers(
    status: int, body: Any, retry_after: str | None, webhook: bool, verdict: str, reason: str,
    wait: float | None,
) -> None:  # fmt: skip
    attempt = classify_slack(status, body, retry_after, webhook=webhook)
    assert (attempt.verdict, attempt.reason, attempt.retry_after_s) == (verdict, reason, wait)


def test_the_slack_ts_is_kept_as_the_reference() -> None:
    assert classify_slack(200, {"ok": True, "ts": "171.5"}, None).ref == "171.5"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("3", 3.0), (" 1.5 ", 1.5), ("-4", 0.0), ("later", None),
     ("99999", RETRY_AFTER_MAX_S)],
    ids=["absent", "seconds", "fraction with spaces", "negative", "an HTTP date is ignored",
         "capped"],
)  # fmt: skip
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_backoff_doubles_up_to_the_cap_and_retry_after_wins() -> None:
    assert [backoff_s(n, 1.0, 10.0, None) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert backoff_s(1, 1.0, 10.0, 30.0) == 30.0


def test_a_backoff_starts_again_after_a_success() -> None:
    backoff = Backoff(0.5, 4.0)
    assert [backoff.failed() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    backoff.succeeded()
    assert backoff.failed() == 0.5
