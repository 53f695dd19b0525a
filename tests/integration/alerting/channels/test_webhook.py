"""The outgoing webhook through the running alert service, on the real broker and Redis, to a
local HTTP receiver in this process: signed requests that verify, one POST per MQA however
often its record arrives, a 503 retried with the same webhook-id, a 400 dead-lettered, and the
URL and secret kept out of the logs and the dead letters."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from abm.infra.process import free_port
from abm_cli.settings import Settings
from stream.topics import ALERTS_DEAD_LETTER
from tests.support.alert_service import (
    alert_test_settings,
    alerts_caught_up,
    metric,
    produce_mqas,
    running,
)
from tests.support.alerting import mqa_event
from tests.support.harness import read_topic

pytestmark = pytest.mark.integration

KEY = b"abm-webhook-integration-key"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
PATH = "/catch/12345/t0k3n-in-the-path"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def verifies(self, key: bytes = KEY, tolerance_s: int = 300) -> bool:
        """A receiver's check, written from the Standard Webhooks spec: the HMAC-SHA256 of
        `{id}.{timestamp}.{body}` under the key, among the `v1,` signatures, and a timestamp
        within `tolerance_s` of now."""
        msg_id = self.headers["webhook-id"]
        timestamp = self.headers["webhook-timestamp"]
        signed = f"{msg_id}.{timestamp}.".encode() + self.body
        mac = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        given = [s.split(",", 1)[1] for s in self.headers["webhook-signature"].split()]
        fresh = abs(time.time() - int(timestamp)) <= tolerance_s
        return fresh and any(hmac.compare_digest(mac, s) for s in given)

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """An HTTP endpoint answering from `script` (status codes), then 200."""

    port: int = field(default_factory=free_port)
    script: deque[int] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    async def _hook(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read()))
        return web.Response(status=self.script.popleft() if self.script else 200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(PATH, self._hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    try:
        yield hook
    finally:
        await hook.stop()


def settings_for(kafka: str, redis: str, tmp: Path, url: str, **overrides: Any) -> Settings:
    return alert_test_settings(
        kafka, redis, tmp, alert_channels="webhook", alert_webhook_url=url,
        alert_webhook_secret=SECRET, **overrides,
    )  # fmt: skip


async def test_an_mqa_is_posted_signed_and_once_however_often_it_arrives(
    receiver: Receiver, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(kafka_bootstrap, redis_url, tmp_path, receiver.url)
    event = mqa_event("acme")
    sent = metric("abm_alert_deliveries_total", channel="webhook", kind="mqa", outcome="sent")
    async with running(settings):
        await produce_mqas(settings, [event, event])  # the engine may send a record twice
        await alerts_caught_up(settings)
    async with running(settings):  # and again to a restarted service
        await produce_mqas(settings, [event])
        await alerts_caught_up(settings)
    [post] = receiver.received
    assert post.verifies()
    assert not post.verifies(key=b"another key")
    assert post.headers["webhook-id"] == event["mqa_id"]
    assert post.headers["Content-Type"] == "application/json"
    body = post.json()
    assert body["type"] == "mqa.qualified" and body["data"]["alert_id"] == event["mqa_id"]
    assert body["data"]["mqa"]["account"] == event["account"]
    assert body["data"]["links"]["account"] == "https://abm.vendor.example/accounts/acme"
    assert (
        metric("abm_alert_deliveries_total", channel="webhook", kind="mqa", outcome="sent")
        == sent + 1
    )


async def test_a_503_is_retried_then_sent_once_under_the_same_webhook_id(
    receiver: Receiver, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(kafka_bootstrap, redis_url, tmp_path, receiver.url)
    receiver.script.extend([503, 503])
    retries = metric("abm_alert_retries_total", channel="webhook", reason="server_error")
    async with running(settings):
        await produce_mqas(settings, [mqa_event("flaky")])
        await alerts_caught_up(settings)
    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1  # the same bytes, signed anew
    assert all(r.verifies() for r in receiver.received)
    assert metric("abm_alert_retries_total", channel="webhook", reason="server_error") == (
        retries + 2
    )


async def test_a_400_is_dead_lettered_at_once(
    receiver: Receiver, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(kafka_bootstrap, redis_url, tmp_path, receiver.url)
    receiver.script.append(400)
    event = mqa_event("refused")
    dead_before = metric("abm_alert_dead_letters_total", channel="webhook", reason="client_error")
    async with running(settings):
        await produce_mqas(settings, [event])
        await alerts_caught_up(settings)
        await produce_mqas(settings, [event])  # a repeat is neither sent nor dead-lettered again
        await alerts_caught_up(settings)
    assert len(receiver.received) == 1
    [dead] = await read_topic(settings, ALERTS_DEAD_LETTER, until=1, timeout_s=30, settle_s=1)
    assert dead.headers["abm-channel"] == "webhook"
    assert dead.headers["abm-reason"] == "client_error"
    body = dead.json()
    assert body["mqa_id"] == event["mqa_id"] and body["target"] == "webhook"
    assert body["attempts"] == 1 and body["detail"] == "HTTP 400"
    assert metric("abm_alert_dead_letters_total", channel="webhook", reason="client_error") == (
        dead_before + 1
    )


async def test_the_url_and_the_secret_stay_out_of_logs_and_dead_letters(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The URL's server does not speak HTTP: aiohttp's error quotes the URL, path and all. The
    error texts are logged and the last one is dead-lettered, without the path or the secret."""

    async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"NOT HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(not_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}{PATH}"
    settings = settings_for(kafka_bootstrap, redis_url, tmp_path, url, alert_max_attempts=2)
    caplog.set_level(logging.DEBUG)
    try:
        async with running(settings):
            await produce_mqas(settings, [mqa_event("unreachable")])
            await alerts_caught_up(settings)
    finally:
        server.close()
        await server.wait_closed()
    [dead] = await read_topic(settings, ALERTS_DEAD_LETTER, until=1, timeout_s=30, settle_s=1)
    detail = dead.json()["detail"]
    assert "last: connection (ClientResponseError" in detail
    assert "url='<ABM_ALERT_WEBHOOK_URL>'" in detail  # aiohttp quoted it: cut out
    shown = caplog.text + dead.value.decode() + str(dead.headers)
    assert "dead letter" in caplog.text and "ClientResponseError" in caplog.text
    for secret in ("t0k3n", SECRET.removeprefix("whsec_"), KEY.decode()):
        assert secret not in shown
