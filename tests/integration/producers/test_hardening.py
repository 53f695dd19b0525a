"""The collector against hostile or broken clients, on the real broker and Redis: no signing
oracle, no write key in the log, slow and idle clients cut off, the webhooks' messageIds out of
the SDKs' reach, dropped uploads counted, big integers kept exact."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client import REGISTRY

from producers.sources import linkedin
from tests.support.collector import (
    LINKEDIN_SECRET,
    WRITE_KEY,
    Running,
    auth,
    collector_settings,
    post,
    prepare_services,
    read_all,
    running_collector,
)

pytestmark = pytest.mark.integration

GUARD_S = 60
"""How long a test waits for what must happen before it fails (never a measured time)."""


@pytest.fixture(scope="module")
async def running(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    settings = collector_settings(
        kafka_bootstrap,
        redis_url,
        tmp_path_factory.mktemp("hardening"),
        collector_header_timeout_s=2.0,
        collector_body_timeout_s=2.0,
    )
    await prepare_services(settings)
    async with running_collector(settings) as collector:
        yield collector


def requests_counted(endpoint: str, code: str) -> float:
    labels = {"endpoint": endpoint, "code": code}
    return REGISTRY.get_sample_value("abm_collector_requests_total", labels) or 0.0


async def produced(running: Running, message_ids: set[str]) -> list[dict[str, Any]]:
    docs = [r.json() for r in await read_all(running.settings) if r.value.startswith(b"{")]
    return [d for d in docs if d.get("messageId") in message_ids]


async def raw_exchange(running: Running, data: bytes) -> bytes:
    """Send raw bytes on a new connection; everything the collector answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", running.settings.collector_port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), GUARD_S)
    finally:
        writer.close()


def lead(urn: str, email: str = "ceo@acme.com", title: str = "CEO") -> bytes:
    return orjson.dumps(
        {
            "type": "LEAD_ACTION",
            "leadGenFormResponse": urn,
            "leadAction": "CREATED",
            "occuredAt": int(time.time() * 1000),
            "formResponse": {
                "answers": [
                    {"predefinedField": "EMAIL", "answer": email},
                    {"predefinedField": "JOB_TITLE", "answer": title},
                ]
            },
        }
    )


async def post_signed_lead(running: Running, body: bytes, signature: str) -> int:
    status, _, _ = await post(
        f"{running.url}/webhooks/linkedin", body, headers={"X-LI-Signature": signature}
    )
    return status


# --- 1. the LinkedIn challenge is no signing oracle ------------------------------------------


async def test_a_lead_signed_by_the_challenge_endpoint_is_refused(running: Running) -> None:
    """Asking the challenge endpoint to 'answer' a made-up notification must not yield its
    signature: the forged lead is refused and nothing is produced."""
    urn = f"urn:li:leadGenFormResponse:{uuid.uuid4().hex}"
    forged = lead(urn)
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{running.url}/webhooks/linkedin", params={"challengeCode": forged.decode()}
        ) as r,
    ):
        status, doc = r.status, orjson.loads(await r.read())
    assert (status, doc.get("code")) == (400, "invalid"), doc
    oracle = doc.get("challengeResponse", "0" * 64)
    assert await post_signed_lead(running, forged, f"hmacsha256={oracle}") == 401
    assert await produced(running, {f"linkedin:{urn}"}) == []


async def test_linkedin_challenges_of_linkedins_form_are_answered(running: Running) -> None:
    code = str(uuid.uuid4())
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{running.url}/webhooks/linkedin", params={"challengeCode": code}) as r,
    ):
        assert r.status == 200
        assert await r.json() == linkedin.linkedin_challenge(code, LINKEDIN_SECRET)


# --- 2. malformed requests: no write key in the log -----------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        b"POST /v1/batch HTTP/1.1\nHost: c\nAuthorization: %s\nContent-Length: 2\n\n{}",
        b"POST /v1/batch HTTP/1.1\r\nHost: c\r\nAuthorization: %s\r\nX-Folded: a\r\n b\r\n"
        b"Content-Length: 2\r\n\r\n{}",
    ],
    ids=["bare LF line endings", "a folded header"],
)
async def test_a_malformed_request_is_logged_without_its_bytes(
    running: Running, caplog: pytest.LogCaptureFixture, template: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    header = auth()["Authorization"].encode()
    before = requests_counted("malformed", "400")
    answer = await raw_exchange(running, template % header)
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
    encoded = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    assert WRITE_KEY not in caplog.text and encoded not in caplog.text
    assert "Authorization" not in caplog.text
    assert requests_counted("malformed", "400") == before + 1
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == []


# --- 3. slow and idle clients ------------------------------------------------------------------


async def test_half_sent_headers_are_cut_off(running: Running) -> None:
    """A client that never finishes its headers (slowloris) is disconnected, unanswered, after
    the header timeout."""
    answer = await raw_exchange(running, b"POST /v1/batch HTTP/1.1\r\nHost: c\r\nX-A: 1\r\n")
    assert answer == b""


async def test_a_body_that_does_not_arrive_gets_408_and_the_connection_closes(
    running: Running,
) -> None:
    head = (
        b"POST /v1/batch HTTP/1.1\r\nHost: c\r\nAuthorization: "
        + auth()["Authorization"].encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    answer = await raw_exchange(running, head + b'{"batch": [')
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"408", answer
    assert b"request_timeout" in rest and b"connection: close" in rest.lower()


async def test_connections_over_the_cap_are_answered_503_and_closed(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = collector_settings(
        kafka_bootstrap,
        redis_url,
        tmp_path_factory.mktemp("cap"),
        collector_max_connections=3,
        collector_header_timeout_s=600.0,
    )
    await prepare_services(settings)
    async with running_collector(settings) as running:
        held = []
        for _ in range(3):  # three clients, each with a keep-alive connection open
            reader, writer = await asyncio.open_connection("127.0.0.1", settings.collector_port)
            writer.write(b"GET /openapi.json HTTP/1.1\r\nHost: c\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GUARD_S)
            assert b" 200 " in head.split(b"\r\n")[0]
            held.append(writer)
        before = requests_counted("too_many_connections", "503")
        answer = await raw_exchange(running, b"GET /openapi.json HTTP/1.1\r\nHost: c\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:100]
        assert b"Retry-After: 1" in answer
        assert requests_counted("too_many_connections", "503") == before + 1
        for writer in held:
            writer.close()
        # once those are gone, new clients are served again
        deadline = time.monotonic() + GUARD_S
        while True:
            status, _, _ = await post(f"{running.url}/v1/batch", {"batch": []})
            if status == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert status == 200


# --- 4. the webhooks' messageIds are out of the SDKs' reach ---------------------------------


async def test_an_sdk_message_cannot_pre_empt_a_webhook_event(running: Running) -> None:
    urn = f"urn:li:leadGenFormResponse:{uuid.uuid4().hex}"
    taken = f"linkedin:{urn}"
    squatter = {
        "type": "track",
        "event": "Demo Requested",
        "userId": "dana@acme.com",
        "messageId": taken,
        "context": {"traits": {"email": "dana@acme.com"}},
    }
    code, doc, _ = await post(f"{running.url}/v1/track", squatter)
    assert code == 200, doc
    genuine = lead(urn, email="dana@acme.com", title="CTO")
    signature = linkedin.sign_linkedin(LINKEDIN_SECRET, genuine)
    assert await post_signed_lead(running, genuine, signature) == 200
    found = await produced(running, {taken, f"sdk:{taken}"})
    by_id = {d["messageId"]: d["event"] for d in found}
    assert by_id == {taken: "LinkedIn Lead Gen Form Submitted", f"sdk:{taken}": "Demo Requested"}
    assert len(found) == 2


# --- 7. a client that drops mid-upload ----------------------------------------------------------


async def test_a_dropped_upload_is_counted_not_logged_as_an_error(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = requests_counted("batch", "499")
    _, writer = await asyncio.open_connection("127.0.0.1", running.settings.collector_port)
    writer.write(
        b"POST /v1/batch HTTP/1.1\r\nHost: c\r\nAuthorization: "
        + auth()["Authorization"].encode()
        + b"\r\nContent-Length: 5000\r\n\r\n"
        + b'{"batch": [' * 10
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    deadline = time.monotonic() + GUARD_S
    while requests_counted("batch", "499") == before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert requests_counted("batch", "499") == before + 1
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert errors == []


# --- 8. big integers -----------------------------------------------------------------------------


async def test_a_28_digit_integer_reaches_kafka_exactly(running: Running) -> None:
    message_id = f"m-{uuid.uuid4().hex}"
    big = "1234567890123456789012345678"
    body = (
        b'{"batch": [{"type": "track", "event": "Demo Requested", "userId": "u-1", '
        b'"messageId": "' + message_id.encode() + b'", "properties": {"n": ' + big.encode()
        + b"}}]}"
    )  # fmt: skip
    code, doc, _ = await post(f"{running.url}/v1/batch", body)
    assert code == 200, doc
    (record,) = [r for r in await read_all(running.settings) if message_id.encode() in r.value]
    assert b'"n":' + big.encode() in record.value
    assert json.loads(record.value)["properties"]["n"] == int(big)
