"""Delivery channels: console, Slack (Web API or incoming webhook) and e-mail (SMTP).

A channel renders an alert from the shared content model and makes ONE attempt to deliver it,
answering with an `Attempt` (sent / retry / permanent, and why). Retries, claims and dead
letters are the deliverer's business (`alerting.delivery`), never a channel's.

Waiting for a turn (Slack's pacing and Retry-After holds) is a step of its own, `wait_turn`,
that the deliverer takes before it marks a delivery `sending`: a delivery is `sending` only
while its request is really on its way, so a crash during a wait leaves it `claimed` and the
next instance sends it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any, Final, Literal, Protocol

import aiohttp
import aiosmtplib

from alerting import email_render, slack_blocks
from alerting.content import Escalation, MqaAlert
from alerting.render import render_text
from alerting.retry import Attempt, classify_slack, parse_retry_after
from alerting.routing import WEBHOOK_TARGET


@dataclass(frozen=True)
class Found:
    """What a channel could find out about a message whose request may have left:
    `found` (the provider has it; `ref` its reference), `absent` (it does not: send it), or
    `unknown` (nothing can be read back, or the provider did not answer; `detail` says why)."""

    state: Literal["found", "absent", "unknown"]
    detail: str = ""
    ref: str | None = None


NOTHING_TO_READ = Found("unknown", "this channel cannot be asked what it received")


@dataclass(frozen=True)
class Outgoing:
    """What to deliver: an MQA alert or an escalation, under its delivery id."""

    alert_id: str
    content: MqaAlert | Escalation


class Channel(Protocol):
    name: str

    async def wait_turn(self, target: str) -> None:
        """Return when a message to `target` may leave (pacing, provider holds)."""
        ...

    async def send(self, item: Outgoing, target: str, mention: bool) -> Attempt: ...

    async def find_sent(self, alert_id: str, target: str, since_ms: int) -> Found:
        """Whether the provider has the alert's message to `target`, sent after `since_ms`
        (epoch ms)."""
        ...

    async def close(self) -> None: ...


class ConsoleChannel:
    """Writes the plain-text rendering to a stream (stdout): the demo's channel."""

    name = "console"

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    async def wait_turn(self, target: str) -> None:
        return None

    async def send(self, item: Outgoing, target: str, mention: bool) -> Attempt:
        content = item.content
        text = render_text(content.event) if isinstance(content, MqaAlert) else content.text()
        self._out.write("\n" + text + "\n")
        self._out.flush()
        return Attempt("sent", "ok")

    async def find_sent(self, alert_id: str, target: str, since_ms: int) -> Found:
        return NOTHING_TO_READ

    async def close(self) -> None:
        return None


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


class SlackChannel:
    """chat.postMessage with a bot token, or an incoming webhook; paced per Slack channel, and
    held entirely while a Retry-After Slack gave runs (in this instance, and through `holds`
    in every instance and after a restart)."""

    name = "slack"

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

    def payload(self, item: Outgoing, target: str, mention: bool) -> dict[str, Any]:
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
        body = self.payload(item, target, mention)
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


class EmailChannel:
    """SMTP (aiosmtplib): STARTTLS and login when configured; multipart text + HTML."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None,
        password: str | None,
        starttls: bool,
        timeout_s: float,
        clock_ms: Callable[[], int],
        ca_file: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout_s
        self._clock_ms = clock_ms
        self._ca_file = ca_file

    def message(self, item: Outgoing, target: str) -> Any:
        content = item.content
        delivery_id = f"{item.alert_id}:email"
        fields: dict[str, Any] = {
            "sender": self._sender,
            "recipient": target,
            "delivery_id": delivery_id,
            "now_ms": self._clock_ms(),
        }
        if isinstance(content, MqaAlert):
            return email_render.mqa_email(content, **fields)
        return email_render.escalation_email(content, **fields)

    async def send(self, item: Outgoing, target: str, mention: bool) -> Attempt:
        message = self.message(item, target)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._starttls,
                cert_bundle=self._ca_file,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            return Attempt("permanent", "auth_failed", f"SMTP {exc.code}: {exc.message}")
        except aiosmtplib.SMTPNotSupported as exc:
            return Attempt("permanent", "not_supported", str(exc))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(400 <= c < 500 for c in codes):
                return Attempt("retry", "server_busy", f"recipient deferred: {codes}")
            return Attempt("permanent", "recipient_refused", f"recipient refused: {codes}")
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                return Attempt("retry", "server_busy", f"SMTP {exc.code}: {exc.message}")
            return Attempt("permanent", "rejected", f"SMTP {exc.code}: {exc.message}")
        except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
            return Attempt("retry", "timeout", str(exc) or "timeout")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Attempt("retry", "connection", f"{type(exc).__name__}: {exc}")
        return Attempt("sent", "ok", ref=str(message["Message-ID"]))

    async def wait_turn(self, target: str) -> None:
        return None

    async def find_sent(self, alert_id: str, target: str, since_ms: int) -> Found:
        return Found("unknown", "SMTP cannot be asked what a server received")

    async def close(self) -> None:
        return None
