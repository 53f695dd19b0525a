"""Test support for alerting: MQA events made by the real engine, a local HTTP server standing
in for Slack's Web API (and webhooks), and a local SMTP server (aiosmtpd) that keeps what it
receives."""

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

from abm.core.records import AccountRecord
from abm.infra.process import free_port
from tests.factories import T0, account, mqas, qualifying_group, replay, touchpoint


def mqa_event(
    account_id: str = "acme",
    *,
    name: str | None = None,
    tier: int = 1,
    owner_email: str | None = "ae@vendor.example",
    owner_slack_id: str | None = "U0AE",
    at_ms: int = T0,
    act_now: bool = False,
) -> dict[str, Any]:
    """The MQA event the engine emits for a buying group qualifying at `at_ms` (or, with
    `act_now`, a demo request)."""
    record: AccountRecord = account(
        account_id,
        name=name or f"{account_id.title()} BV",
        domains=(f"{account_id}.example",),
        tier=tier,
        owner_email=owner_email,
        owner_slack_id=owner_slack_id,
    )
    if act_now:
        touches = [touchpoint("Demo Requested", at_ms=at_ms, account_record=record,
                              contact=f"dana@{account_id}.example")]  # fmt: skip
    else:
        touches = qualifying_group(at_ms, record)
    _, outcomes = replay(touches)
    [event] = mqas(outcomes)
    return event


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
    headers); `history_script` the same for conversations.history."""

    posts: list[SlackPost] = field(default_factory=list)
    """Accepted messages only (what a person would see)."""
    received: list[SlackPost] = field(default_factory=list)
    """Every chat.postMessage and webhook request, answered ok or not."""
    requests: int = 0
    script: deque[tuple[int, Any, dict[str, str]]] = field(default_factory=deque)
    history_script: deque[tuple[int, Any, dict[str, str]]] = field(default_factory=deque)
    history_calls: list[dict[str, str]] = field(default_factory=list)
    conversations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Accepted bot-token messages by conversation id, oldest first (`ts`, `text`,
    `metadata`)."""
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T000/B000/XXXX"

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = orjson.loads(await request.read())
        webhook = request.path.startswith("/hooks/")
        post = SlackPost(request.path, body, request.headers.get("Authorization"),
                         int(time.time() * 1000))  # fmt: skip
        self.received.append(post)
        if self.script:
            status, answer, headers = self.script.popleft()
            if isinstance(answer, dict):
                return web.json_response(answer, status=status, headers=headers)
            return web.Response(text=str(answer), status=status, headers=headers)
        self.posts.append(post)
        if webhook:
            return web.Response(text="ok")
        conversation = self.conversation_of(str(body.get("channel")))
        ts = f"{time.time():.6f}"
        self.conversations.setdefault(conversation, []).append(
            {"type": "message", "ts": ts, "text": body.get("text"),
             "metadata": body.get("metadata")}
        )  # fmt: skip
        return web.json_response({"ok": True, "channel": conversation, "ts": ts})

    @staticmethod
    def conversation_of(channel: str) -> str:
        """Where a message to `channel` lands: a user id's direct messages, else itself."""
        return "D" + channel[1:] if channel[:1] in ("U", "W") else channel

    async def _open(self, request: web.Request) -> web.Response:
        form = await request.post()
        users = str(form.get("users") or "")
        if not users:
            return web.json_response({"ok": False, "error": "users_not_found"})
        return web.json_response({"ok": True, "channel": {"id": self.conversation_of(users)}})

    async def _history(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.history_calls.append(form)
        if self.history_script:
            status, answer, headers = self.history_script.popleft()
            return web.json_response(answer, status=status, headers=headers)
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
    def __init__(self, inbox: list[EmailMessage]) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.inbox.append(parsed)
        return "250 Message accepted for delivery"


TEST_CERT = Path(__file__).resolve().parent / "data" / "smtp-test.crt"
TEST_KEY = Path(__file__).resolve().parent / "data" / "smtp-test.key"
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
    """aiosmtpd on 127.0.0.1:`port`; `inbox` keeps every message, parsed. With `login`, it
    requires STARTTLS (the test certificate) and that user and password."""

    port: int
    login: tuple[str, str] | None = None
    inbox: list[EmailMessage] = field(default_factory=list)
    _controller: Controller | None = None

    def start(self) -> None:
        extra: dict[str, Any] = {}
        if self.login is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(TEST_CERT, TEST_KEY)
            extra = {"tls_context": context, "require_starttls": True,
                     "authenticator": _login(*self.login), "auth_require_tls": True,
                     "auth_required": True}  # fmt: skip
        self._controller = Controller(_Keep(self.inbox), hostname="127.0.0.1", port=self.port,
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


async def wait_for(predicate: Any, timeout_s: float = 60.0, what: str = "condition") -> None:
    """Poll `predicate()` (sync) until true; fail naming `what` after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
