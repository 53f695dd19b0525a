"""What to do with a provider's answer: done, retry (after how long) or give up. Pure.

Shared by the channels: the `Attempt` they answer with, `Retry-After`, the backoff, and
`classify_http` for a plain HTTP endpoint. Transient: HTTP 408, 429 (honouring `Retry-After`),
5xx, timeouts, refused connections. Permanent: any other 4xx, and an answer that is no answer
(a redirect). A provider with its own error vocabulary classifies it in its channel module
(Slack: `alerting.channels.slack.classify_slack`). Backoff doubles from `base_s` up to `max_s`;
a `Retry-After` is waited out in full (up to `RETRY_AFTER_MAX_S`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

Verdict = Literal["sent", "retry", "permanent"]

RETRY_AFTER_MAX_S: Final = 900.0
"""Longest `Retry-After` honoured (seconds); a longer one is cut to this."""


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt. `reason` is a small fixed vocabulary (a metric
    label); `detail` is for people (the dead-letter record and the log)."""

    verdict: Verdict
    reason: str
    detail: str = ""
    retry_after_s: float | None = None
    ref: str | None = None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds of a `Retry-After` header (delta-seconds form), or None."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, min(seconds, RETRY_AFTER_MAX_S))


def classify_http(status: int, retry_after: str | None) -> Attempt:
    """A plain HTTP endpoint's answer to a POST, by its status alone. Reasons: `ok`,
    `rate_limited` (429), `request_timeout` (408), `server_error` (5xx), `client_error` (any
    other 4xx), `unexpected_status` (1xx, 3xx: redirects are not followed, a moved endpoint is
    a configuration to fix)."""
    wait = parse_retry_after(retry_after)
    if 200 <= status < 300:
        return Attempt("sent", "ok")
    if status == 429:
        return Attempt("retry", "rate_limited", f"HTTP 429, Retry-After {retry_after}", wait)
    if status == 408:
        return Attempt("retry", "request_timeout", "HTTP 408", wait)
    if status >= 500:
        return Attempt("retry", "server_error", f"HTTP {status}", wait)
    if 400 <= status < 500:
        return Attempt("permanent", "client_error", f"HTTP {status}")
    return Attempt("permanent", "unexpected_status", f"HTTP {status}")


def backoff_s(attempt: int, base_s: float, max_s: float, retry_after_s: float | None) -> float:
    """Delay before attempt `attempt + 1` (attempt counts from 1): `Retry-After` when given,
    else `base_s * 2^(attempt-1)` capped at `max_s`."""
    if retry_after_s is not None:
        return retry_after_s
    return float(min(max_s, base_s * 2 ** max(0, attempt - 1)))


@dataclass
class Backoff:
    """The delays of one retry loop, in seconds: `base_s` doubling per failure in a row up to
    `max_s`; a success starts them again at `base_s`, so a loop that got through an outage does
    not wait out a long delay at its next failure."""

    base_s: float
    max_s: float
    failures: int = field(default=0)

    def failed(self) -> float:
        """Count a failure; the delay before the next try."""
        self.failures += 1
        return backoff_s(self.failures, self.base_s, self.max_s, None)

    def succeeded(self) -> None:
        self.failures = 0
