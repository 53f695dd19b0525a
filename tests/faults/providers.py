"""Stand-ins for the providers the alert service talks to, with the provider faults of the fault
harness: a local HTTP server for Slack's Web API (and incoming webhooks), and a local SMTP server
(aiosmtpd) that keeps what it receives.

Faults, set and cleared while they run: answers scripted for the next requests (`script`), every
request answered with an error until `heal()` (`fail_with`: a 429 with Retry-After, a 5xx, an
SMTP 4xx), a provider that hangs (`hang`: no answer within the client's timeout, and the
message is not taken; the late answer is an error), and a slow Slack (`slow`: the message is
taken, the answer comes after the client's timeout). `delay_s` spreads a normal answer around the
moment the message is taken (half before, half after), so a process killed while it waits for an
answer may leave a message the provider has, or one it has not."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from abm.infra.process import free_port

Answer = tuple[int, Any, dict[str, str]]
"""An HTTP answer: status, a JSON body (dict) or text, headers."""

# --- Slack stand-in ---------------------------------------------------------------------------


@dataclass
class SlackPost:
    path: str
    body: dict[str, Any]
    authorization: str | None
    received_ms: int

    @property
    def alert_id(self) -> str | None:
        metadata = self.body.get("metadata") or {}
        value = (metadata.get("event_payload") or {}).get("alert_id")
        return str(value) if value is not None else None


@dataclass
class SlackStandIn:
    """chat.postMessage and a webhook path on 127.0.0.1, and what reconciliation reads back:
    conversations.open (a user id's direct-message conversation: `D` + the id without its `U`)
    and conversations.history (newest first, `oldest` exclusive, `limit` and `cursor` pages,
    message metadata only with `include_all_metadata`). `script` holds the answers to give
    chat.postMessage / the webhook before the normal `ok` ones: (status, json body or text,
    headers); `history_script` the same for conversations.history. `fail_with` and `hang` are
    faults that last until `heal()`: they answer every request, history included (Slack is
    down), and the message is not taken."""

    posts: list[SlackPost] = field(default_factory=list)
    """Accepted messages only (what a person would see)."""
    received: list[SlackPost] = field(default_factory=list)
    """Every chat.postMessage and webhook request, answered ok or not."""
    requests: int = 0
    script: deque[Answer] = field(default_factory=deque)
    history_script: deque[Answer] = field(default_factory=deque)
    history_calls: list[dict[str, str]] = field(default_factory=list)
    conversations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Accepted bot-token messages by conversation id, oldest first (`ts`, `text`,
    `metadata`)."""
    port: int = 0
    delay_s: float = 0.0
    """Seconds a normal chat.postMessage answer takes (the message is taken half-way)."""
    failing: Answer | None = None
    hang_s: float = 0.0
    slow_s: float = 0.0
    _runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T000/B000/XXXX"

    def fail_with(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Answer every request so until `heal()` (e.g. 429 with Retry-After, or 503)."""
        self.failing = (status, body, headers or {})

    def hang(self, seconds: float) -> None:
        """Answer nothing for `seconds` (longer than the client's timeout), then an error,
        until `heal()`."""
        self.hang_s = seconds

    def slow(self, seconds: float) -> None:
        """Take each message, then answer `ok` only after `seconds` (longer than the client's
        timeout: the client cannot tell whether Slack has it), until `heal()`."""
        self.slow_s = seconds

    def heal(self) -> None:
        self.failing = None
        self.hang_s = 0.0
        self.slow_s = 0.0

    async def _fault(self) -> web.Response | None:
        """The answer of a running fault, None when there is none."""
        if self.hang_s > 0:
            await asyncio.sleep(self.hang_s)
            return web.Response(text="upstream timed out", status=504)
        if self.failing is not None:
            return self._answer(self.failing)
        return None

    @staticmethod
    def _answer(answer: Answer) -> web.Response:
        status, body, headers = answer
        if isinstance(body, dict):
            return web.json_response(body, status=status, headers=headers)
        return web.Response(text=str(body), status=status, headers=headers)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = orjson.loads(await request.read())
        webhook = request.path.startswith("/hooks/")
        post = SlackPost(request.path, body, request.headers.get("Authorization"),
                         int(time.time() * 1000))  # fmt: skip
        self.received.append(post)
        faulty = await self._fault()
        if faulty is not None:
            return faulty
        if self.script:
            return self._answer(self.script.popleft())
        if self.delay_s:
            await asyncio.sleep(self.delay_s / 2)
        self.posts.append(post)
        if webhook:
            answer = web.Response(text="ok")
        else:
            conversation = self.conversation_of(str(body.get("channel")))
            ts = f"{time.time():.6f}"
            self.conversations.setdefault(conversation, []).append(
                {"type": "message", "ts": ts, "text": body.get("text"),
                 "metadata": body.get("metadata")}
            )  # fmt: skip
            answer = web.json_response({"ok": True, "channel": conversation, "ts": ts})
        if self.delay_s or self.slow_s:
            await asyncio.sleep(self.delay_s / 2 + self.slow_s)
        return answer

    @staticmethod
    def conversation_of(channel: str) -> str:
        """Where a message to `channel` lands: a user id's direct messages, else itself."""
        return "D" + channel[1:] if channel[:1] in ("U", "W") else channel

    async def _open(self, request: web.Request) -> web.Response:
        form = await request.post()
        faulty = await self._fault()
        if faulty is not None:
            return faulty
        users = str(form.get("users") or "")
        if not users:
            return web.json_response({"ok": False, "error": "users_not_found"})
        return web.json_response({"ok": True, "channel": {"id": self.conversation_of(users)}})

    async def _history(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.history_calls.append(form)
        faulty = await self._fault()
        if faulty is not None:
            return faulty
        if self.history_script:
            return self._answer(self.history_script.popleft())
        oldest = float(form.get("oldest") or 0)
        limit = int(form.get("limit") or 100)
        start = int(form.get("cursor") or 0)
        metadata = form.get("include_all_metadata") == "true"
        newest_first = [m for m in reversed(self.conversations.get(form.get("channel", ""), []))
                        if float(m["ts"]) > oldest]  # fmt: skip
        page = newest_first[start : start + limit]
        more = start + limit < len(newest_first)
        messages = [{k: v for k, v in m.items() if k != "metadata" or metadata} for m in page]
        return web.json_response({"ok": True, "messages": messages, "has_more": more,
                                  "response_metadata": {"next_cursor": str(start + limit)
                                                        if more else ""}})  # fmt: skip

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/chat.postMessage", self._handle)
        app.router.add_post("/api/conversations.open", self._open)
        app.router.add_post("/api/conversations.history", self._history)
        app.router.add_post("/hooks/{rest:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def by_alert(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for post in self.posts:
            key = post.alert_id or "?"
            counts[key] = counts.get(key, 0) + 1
        return counts


# --- SMTP server ------------------------------------------------------------------------------


class _Keep:
    """aiosmtpd handler: keeps every message, unless a fault answers it (see `SmtpServer`)."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        own = self.server
        if own.hang_s > 0:
            await asyncio.sleep(own.hang_s)
            return "451 4.4.2 Timeout, try again later"
        if own.failing is not None:
            return own.failing
        if own.script:
            return own.script.popleft()
        if own.delay_s:
            await asyncio.sleep(own.delay_s / 2)
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        own.inbox.append(parsed)
        if own.delay_s:
            await asyncio.sleep(own.delay_s / 2)
        return "250 Message accepted for delivery"


TEST_CERT = Path(__file__).resolve().parents[1] / "data" / "smtp-test.crt"
TEST_KEY = Path(__file__).resolve().parents[1] / "data" / "smtp-test.key"
"""A self-signed certificate for 127.0.0.1, made for these tests only (valid until 2126)."""


def _login(user: str, password: str) -> Any:
    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:  # fmt: skip
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()) == (user, password)  # fmt: skip
        return AuthResult(success=ok, handled=False)

    return authenticate


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1:`port` (in a thread of its own); `inbox` keeps every message,
    parsed. With `login`, it requires STARTTLS (the test certificate) and that user and
    password. `script`: replies to give the next messages instead of taking them (e.g. "451 4.3.0
    Busy"); `fail_with` and `hang` answer every message until `heal()`; `delay_s` as in
    `SlackStandIn`."""

    port: int
    login: tuple[str, str] | None = None
    inbox: list[EmailMessage] = field(default_factory=list)
    script: deque[str] = field(default_factory=deque)
    delay_s: float = 0.0
    """Seconds a normal answer takes (the message is taken half-way)."""
    failing: str | None = None
    hang_s: float = 0.0
    _controller: Controller | None = None

    def fail_with(self, reply: str) -> None:
        self.failing = reply

    def hang(self, seconds: float) -> None:
        self.hang_s = seconds

    def heal(self) -> None:
        self.failing = None
        self.hang_s = 0.0

    def start(self) -> None:
        extra: dict[str, Any] = {}
        if self.login is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(TEST_CERT, TEST_KEY)
            extra = {"tls_context": context, "require_starttls": True,
                     "authenticator": _login(*self.login), "auth_require_tls": True,
                     "auth_required": True}  # fmt: skip
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port,
                                      **extra)  # fmt: skip
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def by_alert(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.inbox:
            key = str(message.get("X-ABM-Alert-Id", "?")).removesuffix(":email")
            counts[key] = counts.get(key, 0) + 1
        return counts
