"""Request signatures: Slack interactivity requests, and the e-mail acknowledge links. Pure.

Slack signs every interactivity request: `X-Slack-Signature` is `v0=` + hex HMAC-SHA256 of
`v0:{X-Slack-Request-Timestamp}:{raw body}` under the app's signing secret; a request older
than five minutes is refused so a captured one cannot be replayed.

An acknowledge link carries `t` = HMAC-SHA256 of `ack:{mqa_id}:{account_id}` under
`ABM_ALERT_ACK_SECRET`, so only the holder of the alert can acknowledge it. A verdict link
("Good lead", "Not a fit") carries `t` = HMAC-SHA256 of `verdict:{verdict}:{mqa_id}:{account_id}`
under the same secret: a link gives only its own verdict, on its own MQA.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final
from urllib.parse import urlencode

SLACK_REPLAY_WINDOW_S: Final = 300


class SignatureError(ValueError):
    """A request whose signature does not verify; the message says why (never the secret)."""


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify_slack(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now_s: float,
    window_s: int = SLACK_REPLAY_WINDOW_S,
) -> None:
    """Raise `SignatureError` unless the request is Slack's, signed within `window_s`."""
    if not timestamp or not signature:
        raise SignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError("X-Slack-Request-Timestamp is not a number") from None
    if abs(now_s - sent) > window_s:
        raise SignatureError(f"request timestamp is more than {window_s} s away from now")
    if not hmac.compare_digest(slack_signature(secret, timestamp, body), signature):
        raise SignatureError("signature does not match")


def _link_token(secret: str, purpose: str, mqa_id: str, account_id: str) -> str:
    message = f"{purpose}:{mqa_id}:{account_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def ack_token(secret: str, mqa_id: str, account_id: str) -> str:
    return _link_token(secret, "ack", mqa_id, account_id)


def verify_ack(secret: str, mqa_id: str, account_id: str, token: str) -> bool:
    return hmac.compare_digest(ack_token(secret, mqa_id, account_id), token)


def verdict_token(secret: str, mqa_id: str, account_id: str, verdict: str) -> str:
    return _link_token(secret, f"verdict:{verdict}", mqa_id, account_id)


def verify_verdict(secret: str, mqa_id: str, account_id: str, verdict: str, token: str) -> bool:
    return hmac.compare_digest(verdict_token(secret, mqa_id, account_id, verdict), token)


def verdict_url(base_url: str, secret: str, mqa_id: str, account_id: str, verdict: str) -> str:
    token = verdict_token(secret, mqa_id, account_id, verdict)
    query = urlencode({"m": mqa_id, "a": account_id, "v": verdict, "t": token})
    return f"{base_url.rstrip('/')}/verdict?{query}"


def ack_url(base_url: str, secret: str, mqa_id: str, account_id: str) -> str:
    query = urlencode({"m": mqa_id, "a": account_id, "t": ack_token(secret, mqa_id, account_id)})
    return f"{base_url.rstrip('/')}/ack?{query}"
