"""The Slack channel: chat.postMessage with a bot token (`ABM_SLACK_BOT_TOKEN`), or an incoming
webhook (`ABM_SLACK_WEBHOOK_URL`); Block Kit messages (`alerting.slack_blocks`), paced per Slack
channel, held while a Retry-After runs, and, after a request that got no answer, looked for in
the conversation's history before it is posted again (`find_sent`), so a slow Slack does not
get it twice.

What Slack's answers mean (`classify_slack`): transient are HTTP 429 (honouring `Retry-After`),
5xx, timeouts, refused connections, Slack's `ratelimited` / `internal_error` /
`service_unavailable` / `request_timeout` / `fatal_error`; permanent is everything Slack says
about the request itself (channel not found, archived, invalid auth, ...), and any other 4xx.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

import aiohttp

from abm.settings import AlertSettings
from alerting import slack_blocks
from alerting.channels.base import Channel, Found, Needs, Outgoing
from alerting.content import MqaAlert, Owner
from alerting.holds import RedisHolds, workspace_id
from alerting.recipients import SLACK, WEBHOOK_TARGET, Route, RoutingError
from alerting.retry import Attempt, parse_retry_after

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


RECONCILE_MAX_MESSAGES: Final = 1_000
"""Messages of a conversation read at most to find one alert (5 pages of 200): past it, the
answer is `unknown`."""
RECONCILE_MARGIN_S: Final = 60.0
"""The history is read from this long before the claim, for clocks that disagree."""
RECONCILE_TRIES: Final = 3
"""Tries of one Web API call while Slack answers 429 / 5xx / not at all."""
RECONCILE_WAIT_MAX_S: Final = 30.0
"""Longest Retry-After waited out between those tries."""
ALERT_EVENT_TYPE: Final = "abm_alert"
"""The message metadata's event type; its payload is `{"alert_id": ...}`."""
_SLACK_ID = re.compile(r"^[CGDUW][A-Z0-9]{2,}$")

PACING_TARGETS_MAX: Final = 10_000
"""Slack channels whose pacing times are kept; past it, the ones whose time has passed are
dropped (they could post at once anyway)."""


class SharedHolds(Protocol):
    """Retry-After holds shared by the instances of the service (`alerting.holds`)."""

    async def hold(self, seconds: float) -> None: ...

    async def remaining_s(self) -> float: ...


class SlackChannel(Channel):
    """chat.postMessage with a bot token, or an incoming webhook; paced per Slack channel, and
    held entirely while a Retry-After Slack gave runs (in this instance, and through `holds`
    in every instance and after a restart)."""

    name = SLACK

    def __init__(
        self,
        *,
        api_url: str,
        bot_token: str | None,
        webhook_url: str | None,
        timeout_s: float,
        min_interval_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        holds: SharedHolds | None = None,
    ) -> None:
        if not bot_token and not webhook_url:
            raise ValueError("Slack needs a bot token or a webhook URL")
        self._api_url = api_url.rstrip("/") + "/"
        self._token = bot_token
        self._webhook = webhook_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._interval = min_interval_s
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._blocked_until = 0.0
        self._holds = holds
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def configured(cls, settings: AlertSettings) -> bool:
        return settings.slack_bot_token is not None or settings.slack_webhook_url is not None

    @classmethod
    def check(cls, settings: AlertSettings) -> None:
        if not cls.configured(settings):
            raise RoutingError("slack needs ABM_SLACK_BOT_TOKEN or ABM_SLACK_WEBHOOK_URL")

    @staticmethod
    def _webhook_only(settings: AlertSettings) -> bool:
        """An incoming webhook and no bot token: every message goes to the webhook's channel."""
        return settings.slack_bot_token is None and settings.slack_webhook_url is not None

    @classmethod
    def mqa_route(cls, settings: AlertSettings, owner: Owner) -> Route:
        """A direct message to the owner; with `ABM_SLACK_CHANNEL` or an incoming webhook, a
        post there mentioning the owner; unowned: `ABM_SLACK_FALLBACK_CHANNEL`."""
        has_owner = bool(owner.slack_id)
        if cls._webhook_only(settings):
            return Route(SLACK, WEBHOOK_TARGET, mention=has_owner)
        if settings.slack_channel:
            return Route(SLACK, settings.slack_channel, mention=has_owner)
        if has_owner:
            return Route(SLACK, owner.slack_id, mention=True)
        return Route(SLACK, settings.slack_fallback_channel, mention=False)

    @classmethod
    def escalation_route(cls, settings: AlertSettings) -> Route | None:
        if not settings.escalation_slack_channel:
            return None
        if cls._webhook_only(settings):
            return Route(SLACK, WEBHOOK_TARGET, mention=True)
        return Route(SLACK, settings.escalation_slack_channel, mention=True)

    @classmethod
    def from_settings(cls, settings: AlertSettings, needs: Needs) -> SlackChannel:
        """With the service's Redis, Retry-After holds are shared by every instance."""
        token, hook = settings.slack_bot_token, settings.slack_webhook_url
        bot_token = token.get_secret_value() if token else None
        webhook_url = hook.get_secret_value() if hook else None
        workspace = workspace_id(bot_token or webhook_url or "")
        redis = needs.redis
        return cls(
            api_url=settings.slack_api_url,
            bot_token=bot_token,
            webhook_url=webhook_url,
            timeout_s=settings.alert_timeout_s,
            min_interval_s=settings.slack_min_interval_s,
            holds=RedisHolds(redis, settings.redis_prefix, workspace) if redis else None,
        )

    @property
    def webhook_mode(self) -> bool:
        return self._token is None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def hold(self, seconds: float) -> None:
        """No Slack post at all from this instance for `seconds` (a Retry-After)."""
        self._blocked_until = max(self._blocked_until, self._monotonic() + seconds)

    async def held_s(self) -> float:
        """Seconds left of the longest hold: this instance's, or the shared one."""
        mine = self._blocked_until - self._monotonic()
        shared = await self._holds.remaining_s() if self._holds is not None else 0.0
        return max(0.0, mine, shared)

    async def wait_turn(self, target: str) -> None:
        """At most one message per Slack channel per `min_interval_s`, and nothing while a
        Retry-After is running. The turn is taken when this returns: call it right before
        `send`."""
        lock = self._locks.setdefault(target, asyncio.Lock())
        async with lock:
            # looked at again after every wait: a hold that began while we waited (another
            # delivery's 429) holds this post too
            while True:
                paced = self._next.get(target, 0.0) - self._monotonic()
                wait = max(paced, await self.held_s())
                if wait <= 0:
                    break
                await self._sleep(wait)
            self._next[target] = self._monotonic() + self._interval
        if len(self._next) > PACING_TARGETS_MAX:
            now = self._monotonic()
            for old in [t for t, at in self._next.items() if at <= now]:
                del self._next[old]
                idle = self._locks.get(old)
                if idle is not None and not idle.locked():
                    del self._locks[old]

    def render(self, item: Outgoing, target: str, mention: bool) -> dict[str, Any]:
        """The chat.postMessage body (the webhook's: the message alone)."""
        content = item.content
        if isinstance(content, MqaAlert):
            message = slack_blocks.mqa_message(content, mention_owner=mention)
        else:
            message = slack_blocks.escalation_message(content)
        if self.webhook_mode:
            return message
        return {
            "channel": target,
            **message,
            "unfurl_links": False,
            "unfurl_media": False,
            "metadata": {
                "event_type": ALERT_EVENT_TYPE,
                "event_payload": {"alert_id": item.alert_id},
            },
        }

    async def send(self, item: Outgoing, target: str, mention: bool) -> Attempt:
        """One request; the caller waited its turn first (`wait_turn`)."""
        body = self.render(item, target, mention)
        if self.webhook_mode:
            url = self._webhook or ""
            headers: dict[str, str] = {}
        else:
            url = self._api_url + "chat.postMessage"
            headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with self._client().post(url, json=body, headers=headers) as response:
                retry_after = response.headers.get("Retry-After")
                if self.webhook_mode or response.content_type != "application/json":
                    answer: Any = await response.text()
                else:
                    answer = await response.json()
                attempt = classify_slack(
                    response.status, answer, retry_after, webhook=self.webhook_mode
                )
        except TimeoutError:
            return Attempt("retry", "timeout", f"no answer within {self._timeout.total} s")
        except aiohttp.ClientError as exc:
            return Attempt("retry", "connection", f"{type(exc).__name__}: {exc}")
        if attempt.retry_after_s is not None:
            self.hold(attempt.retry_after_s)
            if self._holds is not None:
                await self._holds.hold(attempt.retry_after_s)
        if target == WEBHOOK_TARGET and attempt.verdict == "sent":
            return Attempt("sent", "ok", ref="webhook")
        return attempt

    async def _web_api(self, method: str, params: dict[str, str]) -> dict[str, Any] | str:
        """A Web API call (form-encoded POST); its JSON answer, or why there is none."""
        last = ""
        for attempt in range(1, RECONCILE_TRIES + 1):
            try:
                async with self._client().post(
                    self._api_url + method, data=params,
                    headers={"Authorization": f"Bearer {self._token}"},
                ) as response:  # fmt: skip
                    if response.status == 429 or response.status >= 500:
                        last = f"{method}: HTTP {response.status}"
                        wait = parse_retry_after(response.headers.get("Retry-After")) or 1.0
                        if attempt < RECONCILE_TRIES:
                            await self._sleep(min(wait, RECONCILE_WAIT_MAX_S))
                        continue
                    answer = await response.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                last = f"{method}: {type(exc).__name__}"
                continue
            if not isinstance(answer, dict):
                return f"{method}: not a JSON object"
            if answer.get("ok") is not True:
                return f"{method}: Slack error {answer.get('error') or 'unknown_error'}"
            return answer
        return last

    async def find_sent(self, alert_id: str, target: str, since_ms: int) -> Found:
        """Look for the alert in the target conversation's history since `since_ms` (less
        `RECONCILE_MARGIN_S`), by the alert id in the message metadata, reading at most
        `RECONCILE_MAX_MESSAGES`. Bot token only; the target must be an id (a user id is
        opened as its direct-message conversation). Scopes: `channels:history`,
        `groups:history`, `im:history`, `mpim:history`, and `im:write` for direct messages."""
        if self.webhook_mode:
            return Found("unknown", "an incoming webhook cannot be asked what it received")
        if not _SLACK_ID.match(target):
            return Found("unknown", f"{target!r} is a channel name, not an id: no history")
        conversation = target
        if target[0] in "UW":
            opened = await self._web_api("conversations.open", {"users": target})
            if isinstance(opened, str):
                return Found("unknown", opened)
            conversation = str((opened.get("channel") or {}).get("id") or "")
            if not conversation:
                return Found("unknown", "conversations.open: no channel id")
        params = {
            "channel": conversation,
            "oldest": f"{max(0.0, since_ms / 1000 - RECONCILE_MARGIN_S):.6f}",
            "limit": "200",
            "include_all_metadata": "true",
        }
        read = 0
        while read < RECONCILE_MAX_MESSAGES:
            page = await self._web_api("conversations.history", params)
            if isinstance(page, str):
                return Found("unknown", page)
            messages = page.get("messages") or []
            for message in messages:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == ALERT_EVENT_TYPE and (
                    payload.get("alert_id") == alert_id
                ):
                    return Found("found", ref=str(message.get("ts") or "") or None)
            read += len(messages)
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor or not messages:
                return Found("absent", f"not among {read} messages since the claim")
            params = {**params, "cursor": str(cursor)}
        return Found("unknown", f"more than {RECONCILE_MAX_MESSAGES} messages since the claim")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
