"""What to do with a provider's answer: done, retry (after how long) or give up. Pure.

Transient: HTTP 429 (honouring `Retry-After`), 5xx, timeouts, refused connections, Slack's
`ratelimited` / `internal_error` / `service_unavailable` / `request_timeout` / `fatal_error`.
Permanent: everything Slack says about the request itself (channel not found, archived, invalid
auth, ...), and any 4xx. Backoff doubles from `base_s` up to `max_s`; a `Retry-After` is waited
out in full (up to `RETRY_AFTER_MAX_S`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

Verdict = Literal["sent", "retry", "permanent"]

RETRY_AFTER_MAX_S: Final = 900.0

SLACK_TRANSIENT: Final = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "service_unavailable", "request_timeout",
     "fatal_error", "team_added_to_org"}
)  # fmt: skip
SLACK_PERMANENT: Final = frozenset(
    {
        "channel_not_found", "is_archived", "channel_is_archived", "invalid_auth", "not_authed",
        "account_inactive", "token_revoked", "token_expired", "not_in_channel", "missing_scope",
        "no_permission", "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text",
        "too_many_attachments", "restricted_action", "user_not_found", "invalid_token",
        "action_prohibited", "no_service", "no_service_id", "invalid_payload", "cannot_dm_bot",
        "posting_to_general_channel_denied", "user_disabled", "ekm_access_denied",
        "team_access_not_granted",
    }
)  # fmt: skip
"""Slack error codes we name in metrics; other permanent codes count as `slack_error`."""


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


def reason_label(code: str) -> str:
    return code if code in SLACK_PERMANENT or code in SLACK_TRANSIENT else "slack_error"


def classify_slack(
    status: int, body: Any, retry_after: str | None, *, webhook: bool = False
) -> Attempt:
    """Slack's answer to chat.postMessage (a JSON object) or to a webhook (text)."""
    wait = parse_retry_after(retry_after)
    if status == 429:
        return Attempt("retry", "rate_limited", f"HTTP 429, Retry-After {retry_after}", wait)
    if status >= 500:
        return Attempt("retry", "server_error", f"HTTP {status}", wait)
    if webhook:
        text = str(body).strip()
        if status == 200:
            return Attempt("sent", "ok", ref=None)
        code = text if text and " " not in text and len(text) < 60 else "slack_error"
        return Attempt("permanent", reason_label(code), f"HTTP {status}: {text[:200]}")
    if not isinstance(body, dict):
        if 400 <= status < 500:
            return Attempt("permanent", "client_error", f"HTTP {status}")
        return Attempt("retry", "bad_response", f"HTTP {status}: not a JSON object")
    if body.get("ok") is True:
        ts = body.get("ts")
        return Attempt("sent", "ok", ref=str(ts) if ts is not None else None)
    code = str(body.get("error") or "unknown_error")
    if code in SLACK_TRANSIENT:
        reason = "rate_limited" if code in {"ratelimited", "rate_limited"} else "server_error"
        return Attempt("retry", reason, f"Slack error {code}", wait)
    return Attempt("permanent", reason_label(code), f"Slack error {code} (HTTP {status})")


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
