"""The collector against the real broker and Redis: auth, limits, gzip, clock skew, dedupe,
webhook signatures, and no 5xx for bad input (a hypothesis fuzz)."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abm.core.privacy import Identity
from abm.core.timefmt import iso_ms, parse_iso_ms
from abm.privacy.suppression import SuppressionList
from producers import metrics
from producers.sources import email, linkedin, zoom
from tests.support.collector import (
    EMAIL_SECRET,
    LINKEDIN_SECRET,
    WRITE_KEY,
    ZOOM_SECRET,
    Running,
    auth,
    collector_settings,
    post,
    prepare_services,
    read_all,
    running_collector,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def running(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    settings = collector_settings(kafka_bootstrap, redis_url, tmp_path_factory.mktemp("collector"))
    await prepare_services(settings)
    async with running_collector(settings) as collector:
        yield collector


def track(**fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "track",
        "event": "Demo Requested",
        "userId": "u-1",
        "messageId": f"m-{uuid.uuid4().hex}",
        "timestamp": iso_ms(int(time.time() * 1000) - 60_000),
        "context": {"traits": {"email": "dana@acme.com"}},
    }
    message.update(fields)
    return message


async def produced(running: Running, message_ids: set[str]) -> list[dict[str, Any]]:
    """The raw records (acknowledged so far) carrying one of the ids. Other tests of the module
    send contract violations the collector accepts for the engine to dead-letter, a messageId
    that is an object among them (the fuzz test), so an id is compared only when it is text."""
    docs = [r.json() for r in await read_all(running.settings) if r.value.startswith(b"{")]
    return [
        d
        for d in docs
        if isinstance(d, dict)
        and isinstance(d.get("messageId"), str)
        and d["messageId"] in message_ids
    ]


# --- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body_key", "status"),
    [
        (None, None, 200),
        ({"Authorization": "Basic " + base64.b64encode(b"other-key:").decode()}, None, 200),
        ({}, WRITE_KEY, 200),
        ({}, None, 401),
        ({"Authorization": "Basic " + base64.b64encode(b"wrong:").decode()}, None, 401),
        ({"Authorization": "Basic " + base64.b64encode(b"wrong:").decode()}, WRITE_KEY, 401),
        ({}, "wrong", 401),
        ({"Authorization": "Bearer " + WRITE_KEY}, None, 401),
    ],
    ids=[
        "basic auth with the key",
        "a second configured key",
        "writeKey in the body",
        "no key at all",
        "a wrong key",
        "a wrong basic key is not rescued by the body",
        "a wrong key in the body",
        "bearer is not how write keys travel",
    ],
)
async def test_write_keys(
    running: Running, headers: dict[str, str] | None, body_key: str | None, status: int
) -> None:
    message = track()
    body: dict[str, Any] = {"batch": [message]}
    if body_key is not None:
        body["writeKey"] = body_key
    code, doc, sent_headers = await post(f"{running.url}/v1/batch", body, headers=headers)
    assert code == status, doc
    found = await produced(running, {message["messageId"]})
    assert len(found) == (1 if status == 200 else 0)
    if status == 401:
        assert doc["code"] == "unauthorized"
        assert "WWW-Authenticate" in sent_headers
    else:
        assert doc == {"success": True}
        assert "writeKey" not in found[0]


async def test_an_unauthenticated_request_learns_nothing_about_its_body(running: Running) -> None:
    code, doc, _ = await post(f"{running.url}/v1/batch", b"not json", headers={})
    assert (code, doc["code"]) == (401, "unauthorized")


# --- single endpoints, batch, gzip ---------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["track", "page", "identify", "group"])
async def test_single_event_endpoints(running: Running, endpoint: str) -> None:
    message = track(type="ignored", groupId="acme", properties={"path": "/pricing"})
    code, doc, _ = await post(f"{running.url}/v1/{endpoint}", message)
    assert (code, doc) == (200, {"success": True})
    (found,) = await produced(running, {message["messageId"]})
    assert found["type"] == endpoint


async def test_gzip_batch_with_a_shared_context(running: Running) -> None:
    a, b = track(), track(context={"traits": {"email": "sam@acme.com"}})
    body = {"batch": [a, b], "context": {"library": {"name": "shared", "version": "9"}}}
    code, doc, _ = await post(f"{running.url}/v1/batch", body, gzipped=True)
    assert code == 200, doc
    found = {d["messageId"]: d for d in await produced(running, {a["messageId"], b["messageId"]})}
    assert found[a["messageId"]]["context"] == {
        "library": {"name": "shared", "version": "9"},
        "traits": {"email": "dana@acme.com"},
    }
    assert found[b["messageId"]]["context"]["traits"] == {"email": "sam@acme.com"}


# --- limits ----------------------------------------------------------------------------------


async def test_an_event_over_32_kb_refuses_the_whole_batch(running: Running) -> None:
    small, large = track(), track(properties={"blob": "x" * 33_000})
    code, doc, _ = await post(f"{running.url}/v1/batch", {"batch": [small, large]})
    assert code == 413
    assert "batch item 1" in doc["message"] and "32768" in doc["message"]
    assert await produced(running, {small["messageId"], large["messageId"]}) == []


async def test_a_batch_over_500_kb_is_refused_even_when_gzipped(running: Running) -> None:
    messages = [track(properties={"blob": "y" * 20_000}) for _ in range(30)]  # ~600 KB
    code, doc, _ = await post(f"{running.url}/v1/batch", {"batch": messages}, gzipped=True)
    assert code == 413, doc
    assert "512000" in doc["message"]
    assert await produced(running, {m["messageId"] for m in messages}) == []


async def test_a_single_event_request_over_32_kb_is_refused(running: Running) -> None:
    message = track(properties={"blob": "z" * 40_000})
    code, doc, _ = await post(f"{running.url}/v1/track", message)
    assert (code, doc["code"]) == (413, "payload_too_large")


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 400, "body: expected a JSON object, got a JSON array"),
        (b'{"batch": {}}', 400, "field `batch`"),
        (b'{"batch": [{"type": "track"}, 5]}', 400, "batch[1]"),
    ],
)
async def test_unusable_bodies_get_400_with_the_reason(
    running: Running, body: bytes, status: int, words: str
) -> None:
    code, doc, _ = await post(f"{running.url}/v1/batch", body)
    assert code == status
    assert words in doc["message"]


async def test_unsupported_content_encoding(running: Running) -> None:
    headers = {**auth(), "Content-Encoding": "br"}
    code, doc, _ = await post(f"{running.url}/v1/batch", {"batch": []}, headers=headers)
    assert (code, doc["code"]) == (415, "unsupported_encoding")


async def test_contract_violations_are_accepted_for_the_engine_to_dead_letter(
    running: Running,
) -> None:
    bad = track(userId=42, timestamp="yesterday")
    code, _, _ = await post(f"{running.url}/v1/batch", {"batch": [bad]})
    assert code == 200
    (found,) = await produced(running, {bad["messageId"]})
    assert (found["userId"], found["timestamp"]) == (42, "yesterday")


# --- time --------------------------------------------------------------------------------------


async def test_client_clock_skew_is_corrected(running: Running) -> None:
    skewed_ms = int(time.time() * 1000) + 3 * 3_600_000  # a client clock three hours fast
    message = track(timestamp=iso_ms(skewed_ms - 10_000))
    before = int(time.time() * 1000)
    code, _, _ = await post(
        f"{running.url}/v1/batch", {"batch": [message], "sentAt": iso_ms(skewed_ms)}
    )
    after = int(time.time() * 1000)
    assert code == 200
    (found,) = await produced(running, {message["messageId"]})
    received = parse_iso_ms(found["receivedAt"])
    assert before <= received <= after
    assert parse_iso_ms(found["timestamp"]) == received - 10_000
    assert found["originalTimestamp"] == message["timestamp"]


async def test_future_and_ancient_times_are_clamped_to_the_receive_time(running: Running) -> None:
    future = track(timestamp="2099-01-01T00:00:00Z")
    ancient = track(timestamp="1970-01-01T00:00:05Z")
    code, _, _ = await post(f"{running.url}/v1/batch", {"batch": [future, ancient]})
    assert code == 200
    for found in await produced(running, {future["messageId"], ancient["messageId"]}):
        assert found["timestamp"] == found["receivedAt"]


# --- dedupe ------------------------------------------------------------------------------------


async def test_a_retried_batch_is_not_produced_twice(running: Running) -> None:
    first, second = track(), track()
    body = {"batch": [first, second, first]}
    for _ in range(3):  # the SDK retries after a lost answer
        code, _, _ = await post(f"{running.url}/v1/batch", body, gzipped=True)
        assert code == 200
    # a later batch with one old and one new message produces only the new one
    third = track()
    code, _, _ = await post(f"{running.url}/v1/batch", {"batch": [second, third]})
    assert code == 200
    found = await produced(running, {first["messageId"], second["messageId"], third["messageId"]})
    assert sorted(d["messageId"] for d in found) == sorted(
        [first["messageId"], second["messageId"], third["messageId"]]
    )


async def test_a_message_without_id_is_deduplicated_by_its_content(running: Running) -> None:
    message = track()
    del message["messageId"]
    for sent_at in ("2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z"):
        code, _, _ = await post(f"{running.url}/v1/batch", {"batch": [message], "sentAt": sent_at})
        assert code == 200
    docs = [r.json() for r in await read_all(running.settings) if r.value.startswith(b"{")]
    derived = [d for d in docs if d.get("messageId", "").startswith("abm-")
               and d.get("originalTimestamp") == message["timestamp"]]  # fmt: skip
    assert len(derived) == 1


# --- webhooks ----------------------------------------------------------------------------------


def email_event(kind: str = "email.clicked") -> bytes:
    return orjson.dumps(
        {
            "type": kind,
            "created_at": iso_ms(int(time.time() * 1000) - 5_000),
            "data": {"email_id": "e-1", "to": ["dana@acme.com"], "click": {"link": "https://x"}},
        }
    )


async def post_raw(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={"Content-Type": "application/json", **headers}) as r,
    ):
        return r.status, orjson.loads(await r.read())


async def test_email_webhook_signature_accept_reject_and_dedupe(running: Running) -> None:
    body = email_event()
    wid = f"msg_{uuid.uuid4().hex}"
    now = int(time.time())
    good = {
        "webhook-id": wid,
        "webhook-timestamp": str(now),
        "webhook-signature": email.sign_standard(EMAIL_SECRET, wid, now, body),
    }
    url = f"{running.url}/webhooks/email"
    assert await post_raw(url, body + b" ", good) == (
        401,
        {"code": "bad_signature", "message": "no webhook-signature matches the body"},
    )
    stale = {**good, "webhook-timestamp": str(now - 3600)}
    stale["webhook-signature"] = email.sign_standard(EMAIL_SECRET, wid, now - 3600, body)
    assert (await post_raw(url, body, stale))[0] == 401
    assert await post_raw(url, body, good) == (200, {"success": True})
    assert await post_raw(url, body, good) == (200, {"success": True})  # redelivery
    found = await produced(running, {f"email:{wid}"})
    assert len(found) == 1
    assert (found[0]["event"], found[0]["context"]["traits"]["email"]) == (
        "Email Link Clicked",
        "dana@acme.com",
    )
    delivered = email_event("email.delivered")
    headers = {**good, "webhook-id": "msg_d"}
    headers["webhook-signature"] = email.sign_standard(EMAIL_SECRET, "msg_d", now, delivered)
    status, doc = await post_raw(url, delivered, headers)
    assert status == 200 and "ignored" in doc


async def test_zoom_webhook_validation_and_attendance(running: Running) -> None:
    url = f"{running.url}/webhooks/zoom"
    now = int(time.time())

    def signed(body: bytes) -> dict[str, str]:
        return {
            "x-zm-request-timestamp": str(now),
            "x-zm-signature": zoom.sign_zoom(ZOOM_SECRET, now, body),
        }

    challenge = orjson.dumps(
        {"event": "endpoint.url_validation", "payload": {"plainToken": "tok-1"}}
    )
    status, doc = await post_raw(url, challenge, signed(challenge))
    assert status == 200 and doc["plainToken"] == "tok-1" and len(doc["encryptedToken"]) == 64
    webinar = uuid.uuid4().hex
    joined = orjson.dumps(
        {
            "event": "webinar.participant_joined",
            "event_ts": now * 1000,
            "payload": {
                "object": {
                    "uuid": webinar,
                    "id": 1,
                    "participant": {"email": "dana@acme.com", "join_time": iso_ms(now * 1000)},
                }
            },
        }
    )
    assert (await post_raw(url, joined, {**signed(joined), "x-zm-signature": "v0=00"}))[0] == 401
    assert await post_raw(url, joined, signed(joined)) == (200, {"success": True})
    found = await produced(running, {f"zoom:webinar.participant_joined:{webinar}:dana@acme.com"})
    assert [d["event"] for d in found] == ["Webinar Attended"]


async def test_linkedin_webhook_challenge_and_lead(running: Running) -> None:
    url = f"{running.url}/webhooks/linkedin"
    code = str(uuid.uuid4())
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params={"challengeCode": code}) as r,
    ):
        assert r.status == 200
        assert (await r.json())["challengeResponse"] == linkedin.linkedin_challenge(
            code, LINKEDIN_SECRET
        )["challengeResponse"]
    urn = f"urn:li:leadGenFormResponse:{uuid.uuid4().hex}"
    lead = orjson.dumps(
        {
            "type": "LEAD_ACTION",
            "leadGenFormResponse": urn,
            "leadAction": "CREATED",
            "occuredAt": int(time.time() * 1000),
            "formResponse": {"answers": [{"predefinedField": "EMAIL", "answer": "dana@acme.com"}]},
        }
    )
    wrong = {"X-LI-Signature": linkedin.sign_linkedin("not-the-secret", lead)}
    assert (await post_raw(url, lead, wrong))[0] == 401
    good = {"X-LI-Signature": linkedin.sign_linkedin(LINKEDIN_SECRET, lead)}
    assert await post_raw(url, lead, good) == (200, {"success": True})
    (found,) = await produced(running, {f"linkedin:{urn}"})
    assert found["event"] == "LinkedIn Lead Gen Form Submitted"


# --- operations --------------------------------------------------------------------------------


async def test_healthz_metrics_and_openapi(running: Running) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{running.url}/healthz") as r:
            assert (r.status, await r.json()) == (200, {"status": "ok"})
        async with session.get(f"{running.url}/metrics") as r:
            text = await r.text()
            assert 'abm_collector_requests_total{code="200",endpoint="batch"}' in text
            assert "abm_collector_events_total" in text
            assert "abm_webhook_requests_total" in text
            assert WRITE_KEY not in text and "dana@acme.com" not in text
        async with session.get(f"{running.url}/openapi.json") as r:
            spec = await r.json()
            assert spec["openapi"].startswith("3.")
            assert {"/v1/batch", "/v1/track", "/webhooks/zoom"} <= set(spec["paths"])


# --- fuzz --------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "page", "identify", "group", "x"]) | json_values,
        "messageId": st.text(max_size=40) | json_values,
        "userId": st.text(max_size=10) | json_values,
        "anonymousId": st.text(max_size=10),
        "event": st.text(max_size=20) | json_values,
        "timestamp": st.sampled_from(["2026-03-02T09:00:00Z", "yesterday", "", "9999-99-99"])
        | json_values,
        "originalTimestamp": json_values,
        "sentAt": st.sampled_from(["2026-03-02T09:00:00Z", "x"]) | json_values,
        "context": json_values,
        "properties": json_values,
        "traits": json_values,
        "groupId": json_values,
        "writeKey": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(orjson.dumps),
    message_like.map(orjson.dumps),
    st.fixed_dictionaries(
        {"batch": st.lists(message_like | json_values, max_size=5)},
        optional={"context": json_values, "sentAt": json_values, "writeKey": json_values},
    ).map(orjson.dumps),
)
endpoints = st.sampled_from(
    ["batch", "track", "page", "identify", "group", "../webhooks/email", "../webhooks/zoom",
     "../webhooks/linkedin"]
)  # fmt: skip
header_sets = st.sampled_from(
    [
        auth(),
        {**auth(), "Content-Encoding": "gzip"},
        {**auth(), "Content-Encoding": "zstd"},
        {},
        {"Authorization": "Basic ???"},
        {"Authorization": "Basic " + base64.b64encode(b"\xff:").decode()},
        {"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
        {"x-zm-request-timestamp": "abc", "x-zm-signature": "v0=00"},
        {"X-LI-Signature": "hmacsha256=zz"},
    ]
)


async def test_fuzz_no_5xx_for_bad_input(running: Running) -> None:
    """Whatever the body, headers and endpoint: a 2xx or a 4xx with a JSON reason, never 5xx.
    (Hypothesis drives a synchronous client in a thread; the collector serves in this loop.)"""
    import requests

    failures: list[str] = []

    @settings(
        max_examples=250,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(endpoint=endpoints, body=bodies, headers=header_sets)
    def probe(endpoint: str, body: bytes, headers: dict[str, str]) -> None:
        url = f"{running.url}/v1/{endpoint}".replace("/v1/../", "/")
        r = session.post(url, data=body, headers=headers, timeout=30)
        if r.status_code >= 500 or not r.content.startswith(b"{"):
            failures.append(f"{r.status_code} for {endpoint} {headers} {body[:200]!r}: "
                            f"{r.content[:200]!r}")  # fmt: skip

    with requests.Session() as session:
        await asyncio.to_thread(probe)
    assert failures == []


# --- browser trackers: analytics-next's paths, text/plain, CORS --------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [("t", "track"), ("p", "page"), ("i", "identify"), ("g", "group"), ("s", "screen"),
     ("a", "alias")],
)  # fmt: skip
async def test_analytics_next_paths_take_text_plain_json(
    running: Running, path: str, kind: str
) -> None:
    message = track(type=kind, writeKey=WRITE_KEY)
    headers = {**auth(), "Content-Type": "text/plain", "Origin": "http://localhost:3000"}
    code, doc, answer = await post(f"{running.url}/v1/{path}", message, headers=headers)
    assert (code, doc) == (200, {"success": True})
    assert answer["Access-Control-Allow-Origin"] == "http://localhost:3000"
    (found,) = await produced(running, {message["messageId"]})
    assert found["type"] == kind and "writeKey" not in found


async def test_analytics_next_batches_go_to_v1_b(running: Running) -> None:
    a, b = track(), track(type="page")
    body = {"batch": [a, b], "writeKey": WRITE_KEY, "sentAt": iso_ms(int(time.time() * 1000))}
    code, _, _ = await post(f"{running.url}/v1/b", body, headers={"Content-Type": "text/plain"})
    assert code == 200
    assert len(await produced(running, {a["messageId"], b["messageId"]})) == 2


async def test_preflight_of_allowed_and_other_origins(running: Running) -> None:
    asked = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    async with aiohttp.ClientSession() as session:
        for path in ("/v1/t", "/v1/b", "/v1/batch", "/v1/m"):
            headers = {**asked, "Origin": "http://127.0.0.1:5173"}
            async with session.options(f"{running.url}{path}", headers=headers) as r:
                assert r.status == 204, path
                assert r.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"
                assert "POST" in r.headers["Access-Control-Allow-Methods"]
                assert r.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
        headers = {**asked, "Origin": "https://www.stranger.example"}
        async with session.options(f"{running.url}/v1/t", headers=headers) as r:
            assert r.status == 403
            assert "Access-Control-Allow-Origin" not in r.headers


async def test_a_page_of_another_origin_cannot_send(running: Running) -> None:
    message = track()
    headers = {**auth(), "Content-Type": "text/plain", "Origin": "https://www.stranger.example"}
    code, doc, answer = await post(f"{running.url}/v1/t", message, headers=headers)
    assert (code, doc["code"]) == (403, "forbidden_origin")
    assert "Access-Control-Allow-Origin" not in answer
    assert await produced(running, {message["messageId"]}) == []


async def test_the_librarys_own_metrics_are_dropped(running: Running) -> None:
    series = {"series": [{"type": "Counter", "metric": "analytics_js.invoke", "value": 1,
                          "tags": {"messageId": "m-lib"}}]}  # fmt: skip
    headers = {"Content-Type": "text/plain", "Origin": "http://localhost:3000"}
    code, doc, answer = await post(f"{running.url}/v1/m", series, headers=headers)
    assert (code, doc) == (200, {"success": True})
    assert answer["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert await produced(running, {"m-lib"}) == []


# --- suppression -------------------------------------------------------------------------------


async def test_a_suppressed_persons_events_are_acknowledged_counted_and_never_produced(
    running: Running, redis_url: str
) -> None:
    objector = Identity("email", "objector@acme.com")
    writer = SuppressionList(
        aioredis.Redis.from_url(redis_url),
        running.settings.redis_prefix,
        running.settings.pseudonym_secret(),
    )
    try:
        await writer.add(objector)
    finally:
        await writer.close()
    await running.collector.suppression.refresh(force=True)  # instead of waiting up to 1 s
    before = metrics.SUPPRESSED.labels(stage="collector")._value.get()
    theirs = track(userId="u-objector", context={"traits": {"email": "Objector@acme.com"}})
    others = track()
    code, doc, _ = await post(
        f"{running.url}/v1/batch", {"batch": [theirs, others]}, headers=auth()
    )
    assert (code, doc) == (200, {"success": True})
    found = await produced(running, {theirs["messageId"], others["messageId"]})
    assert [d["messageId"] for d in found] == [others["messageId"]]
    assert metrics.SUPPRESSED.labels(stage="collector")._value.get() == before + 1
