"""Which plain HTTP answers are retried, after how long, and which are permanent; the backoff."""

from __future__ import annotations

import pytest

from alerting.retry import RETRY_AFTER_MAX_S, Backoff, backoff_s, classify_http, parse_retry_after


@pytest.mark.parametrize(
    ("status", "retry_after", "verdict", "reason", "wait"),
    [
        (200, None, "sent", "ok", None),
        (204, None, "sent", "ok", None),
        (429, "7", "retry", "rate_limited", 7.0),
        (408, None, "retry", "request_timeout", None),
        (500, None, "retry", "server_error", None),
        (503, "2", "retry", "server_error", 2.0),
        (400, None, "permanent", "client_error", None),
        (404, "5", "permanent", "client_error", None),
        (410, None, "permanent", "client_error", None),
        (301, None, "permanent", "unexpected_status", None),
    ],
)  # fmt: skip
def test_http_answers(
    status: int, retry_after: str | None, verdict: str, reason: str, wait: float | None
) -> None:
    attempt = classify_http(status, retry_after)
    assert (attempt.verdict, attempt.reason, attempt.retry_after_s) == (verdict, reason, wait)


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
