"""The outgoing webhook channel: every MQA alert (and escalation) as a signed JSON POST to one
URL (`ABM_ALERT_WEBHOOK_URL`), for Zapier, n8n, a CRM, a Teams workflow or a service of one's
own.

Signed with the Standard Webhooks scheme: headers `webhook-id` (the alert's deterministic id:
the MQA id, `esc_{mqa_id}` for an escalation, the same on every retry and redelivery, so a
receiver dedupes on it), `webhook-timestamp` (the attempt's time, integer epoch seconds) and
`webhook-signature: v1,{base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"}`, keyed with the
secret `ABM_ALERT_WEBHOOK_SECRET` (`whsec_` + base64 of the key bytes). The body of an alert
is the same bytes on every attempt.

Answers (`alerting.retry.classify_http`): 2xx sent; 408, 429 (its `Retry-After` honoured), 5xx,
timeouts and refused connections retried with the deliverer's backoff; any other 4xx, or a
redirect (not followed), dead-lettered. An endpoint cannot be asked what it received, so a
request that got no answer is sent again (at-least-once: dedupe by `webhook-id`), and a
delivery interrupted mid-request by a crash is `unconfirmed` (as for Slack's incoming webhook).

The URL may carry a token (Zapier's and Teams' do), so it is a secret like the signing key:
never a delivery target, never logged, and cut out of any error text before that is logged or
dead-lettered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import orjson

from abm.core.timefmt import iso_ms
from abm.settings import AlertSettings
from alerting.channels.base import Channel, Needs, Outgoing
from alerting.content import Escalation, MqaAlert, Owner
from alerting.recipients import WEBHOOK, WEBHOOK_TARGET, Route, RoutingError
from alerting.retry import Attempt, classify_http

SECRET_PREFIX: Final = "whsec_"
MQA_TYPE: Final = "mqa.qualified"
ESCALATION_TYPE: Final = "mqa.sla_breached"
URL_SHOWN: Final = "<ABM_ALERT_WEBHOOK_URL>"
"""What an error text shows in place of the URL (or its path)."""


def signing_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (`whsec_` + base64). `ValueError` says what
    is wrong without showing the secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be {SECRET_PREFIX} followed by base64") from None
    if not key:
        raise ValueError(f"{SECRET_PREFIX} is followed by no key")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 of HMAC-SHA256 over
    `{message_id}.{timestamp}.{body}` (timestamp in epoch seconds)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _owner(owner: Owner) -> dict[str, str | None]:
    return {"email": owner.email, "slack_id": owner.slack_id}


def payload(item: Outgoing) -> dict[str, Any]:
    """The body's JSON: `{type, timestamp, data}` (the Standard Webhooks envelope), where
    `timestamp` is when the event happened (the qualification, the SLA breach), not the send.
    An MQA's `data` is the MQA event as the alert shows it (owner and follow-up due time as
    routed) with its links; an escalation's names the MQA, the account, the owner and when the
    follow-up was due."""
    content = item.content
    if isinstance(content, MqaAlert):
        links: dict[str, Any] = {"account": content.account_url, "acknowledge": content.ack_url}
        return {
            "type": MQA_TYPE,
            "timestamp": content.qualified_at,
            "data": {"alert_id": item.alert_id, "mqa": content.event.to_dict(), "links": links},
        }
    assert isinstance(content, Escalation)
    return {
        "type": ESCALATION_TYPE,
        "timestamp": iso_ms(content.due_at_ms),
        "data": {
            "alert_id": item.alert_id,
            "mqa_id": content.mqa_id,
            "account": {
                "id": content.account_id,
                "name": content.account_name,
                "tier": content.tier,
            },
            "rule": content.rule,
            "qualified_at": iso_ms(content.qualified_at_ms),
            "due_at": iso_ms(content.due_at_ms),
            "sla_seconds": content.sla_seconds,
            "owner": _owner(content.owner),
            "links": {"account": content.account_url},
        },
    }


class WebhookChannel(Channel):
    """A signed POST per alert to `url`; see the module docstring."""

    name = WEBHOOK

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        timeout_s: float,
        wall_s: Callable[[], float] = time.time,
    ) -> None:
        """`secret`: `whsec_...`; `timeout_s`: one request, connection included (seconds);
        `wall_s`: the clock of `webhook-timestamp` (epoch seconds)."""
        self._url = url
        self._key = signing_key(secret)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._wall_s = wall_s
        self._session: aiohttp.ClientSession | None = None
        path = urlsplit(url).path
        self._hidden = [url] + ([path] if len(path) > 1 else [])

    @classmethod
    def configured(cls, settings: AlertSettings) -> bool:
        return settings.alert_webhook_url is not None

    @classmethod
    def check(cls, settings: AlertSettings) -> None:
        url, secret = settings.alert_webhook_url, settings.alert_webhook_secret
        if url is None:
            raise RoutingError("webhook needs ABM_ALERT_WEBHOOK_URL")
        if urlsplit(url.get_secret_value()).scheme not in ("http", "https"):
            raise RoutingError("ABM_ALERT_WEBHOOK_URL: not an http:// or https:// URL")
        if secret is None:
            raise RoutingError("webhook needs ABM_ALERT_WEBHOOK_SECRET (whsec_ + base64)")
        try:
            signing_key(secret.get_secret_value())
        except ValueError as exc:
            raise RoutingError(f"ABM_ALERT_WEBHOOK_SECRET: {exc}") from None

    @classmethod
    def mqa_route(cls, settings: AlertSettings, owner: Owner) -> Route:
        """Every MQA, whoever owns the account (the receiver routes it further)."""
        return Route(WEBHOOK, WEBHOOK_TARGET)

    @classmethod
    def escalation_route(cls, settings: AlertSettings) -> Route | None:
        return Route(WEBHOOK, WEBHOOK_TARGET)

    @classmethod
    def from_settings(cls, settings: AlertSettings, needs: Needs) -> WebhookChannel:
        cls.check(settings)
        assert settings.alert_webhook_url is not None and settings.alert_webhook_secret is not None
        return cls(
            url=settings.alert_webhook_url.get_secret_value(),
            secret=settings.alert_webhook_secret.get_secret_value(),
            timeout_s=settings.alert_webhook_timeout_s or settings.alert_timeout_s,
        )

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def _hide(self, text: str) -> str:
        """`text` without the URL or its path (an error may quote them)."""
        for secret in self._hidden:
            text = text.replace(secret, URL_SHOWN)
        return text

    def render(self, item: Outgoing, target: str, mention: bool) -> bytes:
        """The body: the same bytes for the same alert on every attempt."""
        return orjson.dumps(payload(item))

    def headers(self, message_id: str, body: bytes) -> dict[str, str]:
        """The request's headers, signed now."""
        timestamp = int(self._wall_s())
        return {
            "content-type": "application/json",
            "user-agent": "abm-alerts",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self._key, message_id, timestamp, body),
        }

    async def send(self, item: Outgoing, target: str, mention: bool) -> Attempt:
        body = self.render(item, target, mention)
        headers = self.headers(item.alert_id, body)
        try:
            async with self._client().post(
                self._url, data=body, headers=headers, allow_redirects=False
            ) as response:
                attempt = classify_http(response.status, response.headers.get("Retry-After"))
        except TimeoutError:
            return Attempt("retry", "timeout", f"no answer within {self._timeout.total} s")
        except aiohttp.ClientError as exc:
            return Attempt("retry", "connection", self._hide(f"{type(exc).__name__}: {exc}"))
        if attempt.verdict == "sent":
            return Attempt("sent", "ok", ref=f"HTTP {response.status}")
        return attempt

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
