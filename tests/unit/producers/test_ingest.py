"""The collector's request rules: auth, body decoding and limits, batch expansion, clock skew."""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from typing import Any

import orjson
import pytest

from producers import ingest
from producers.ingest import Limits, RequestError
from tests.support.factories import T0, T0_ISO, at

LIMITS = Limits(max_event_bytes=1024, max_batch_bytes=4096)


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "user"),
    [
        (basic("key-1"), "key-1"),
        (basic("key-1", "ignored"), "key-1"),
        ("basic " + base64.b64encode(b"key-1:").decode(), "key-1"),
        (basic(""), None),
        ("Bearer key-1", None),
        ("Basic !!!notbase64", None),
        ("Basic " + base64.b64encode(b"\xff\xfe:").decode(), None),
        ("", None),
        (None, None),
    ],
    ids=[
        "key as user, empty password",
        "a password is ignored",
        "the scheme is case-insensitive",
        "an empty user is no key",
        "another scheme is no key",
        "bad base64 is no key",
        "non UTF-8 is no key",
        "empty header",
        "no header",
    ],
)
def test_basic_auth_user(header: str | None, user: str | None) -> None:
    assert ingest.basic_auth_user(header) == user


@pytest.mark.parametrize(
    ("key", "allowed", "ok"),
    [
        ("k1", ("k1", "k2"), True),
        ("k2", ("k1", "k2"), True),
        ("k3", ("k1", "k2"), False),
        ("k", ("k1",), False),
        (None, ("k1",), False),
        ("", ("",), False),
    ],
    ids=["first key", "second key", "unknown key", "a prefix is not the key", "none", "empty"],
)
def test_key_allowed(key: str | None, allowed: tuple[str, ...], ok: bool) -> None:
    assert ingest.key_allowed(key, allowed) is ok


def test_write_key_in_the_body() -> None:
    assert ingest.body_write_key({"writeKey": "k1"}) == "k1"
    assert ingest.body_write_key({"writeKey": 42}) is None
    assert ingest.body_write_key({}) is None


# --- body ----------------------------------------------------------------------------------


def test_gzip_and_deflate_bodies_are_inflated() -> None:
    data = orjson.dumps({"batch": []})
    assert ingest.decode_body(gzip.compress(data), "gzip", LIMITS, batch=True) == data
    assert ingest.decode_body(zlib.compress(data), "deflate", LIMITS, batch=True) == data
    assert ingest.decode_body(data, None, LIMITS, batch=True) == data
    assert ingest.decode_body(data, "identity", LIMITS, batch=True) == data


@pytest.mark.parametrize(
    ("body", "encoding", "batch", "status", "code"),
    [
        (b"x" * 4097, None, True, 413, ingest.TOO_LARGE),
        (b"x" * 1025, None, False, 413, ingest.TOO_LARGE),
        (gzip.compress(b"x" * 100_000), "gzip", True, 413, ingest.TOO_LARGE),
        (b"not gzip", "gzip", True, 400, ingest.INVALID_REQUEST),
        (gzip.compress(b"{}")[:-12], "gzip", True, 400, ingest.INVALID_REQUEST),
        (b"{}", "br", True, 415, ingest.UNSUPPORTED_ENCODING),
    ],
    ids=[
        "a batch over 500 KB (here 4 KB)",
        "a single event over 32 KB (here 1 KB)",
        "a gzip bomb is refused once it inflates past the limit",
        "not gzip at all",
        "truncated gzip",
        "brotli is not supported",
    ],
)
def test_refused_bodies(
    body: bytes, encoding: str | None, batch: bool, status: int, code: str
) -> None:
    with pytest.raises(RequestError) as caught:
        ingest.decode_body(body, encoding, LIMITS, batch=batch)
    assert (caught.value.status, caught.value.code) == (status, code)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[1, 2]", "body: expected a JSON object, got a JSON array"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bodies_that_are_not_json_objects(data: bytes, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        ingest.parse_json_object(data)
    assert caught.value.status == 400
    assert message in caught.value.message


# --- batches -------------------------------------------------------------------------------


def track(**fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "track",
        "event": "Demo Requested",
        "userId": "u1",
        "messageId": "m1",
        "timestamp": T0_ISO,
    }
    message.update(fields)
    return message


def test_single_endpoints_take_the_type_from_the_path_and_drop_the_write_key() -> None:
    doc = {"event": "x", "userId": "u", "type": "page", "writeKey": "secret"}
    assert ingest.expand("track", doc) == [{"event": "x", "userId": "u", "type": "track"}]


def test_batch_context_is_merged_into_every_item_and_the_item_wins() -> None:
    doc = {
        "writeKey": "secret",
        "context": {"library": {"name": "lib", "version": "1"}, "ip": "10.0.0.1"},
        "batch": [
            track(messageId="a"),
            track(messageId="b", context={"library": {"version": "2"}, "groupId": "acme"}),
            track(messageId="c", writeKey="secret"),
        ],
    }
    items = ingest.expand("batch", doc)
    assert items[0]["context"] == {"library": {"name": "lib", "version": "1"}, "ip": "10.0.0.1"}
    assert items[1]["context"] == {
        "library": {"name": "lib", "version": "2"},
        "ip": "10.0.0.1",
        "groupId": "acme",
    }
    assert "writeKey" not in items[2]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "field `batch`: expected a JSON array, got nothing"),
        ({"batch": {"type": "track"}}, "field `batch`: expected a JSON array, got a JSON object"),
        ({"batch": [track(), 7]}, "field `batch[1]`: expected a JSON object, got a JSON number"),
        (
            {"batch": [], "context": "x"},
            "field `context`: expected a JSON object, got a JSON string",
        ),
    ],
)
def test_batches_that_cannot_be_used(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestError) as caught:
        ingest.expand("batch", doc)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_one_oversized_item_refuses_the_whole_batch_and_names_it() -> None:
    doc = {"batch": [track(messageId="a"), track(messageId="b", properties={"x": "y" * 2000})]}
    with pytest.raises(RequestError) as caught:
        ingest.prepare("batch", doc, T0, LIMITS)
    assert caught.value.status == 413
    assert "batch item 1" in caught.value.message
    assert caught.value.events == 2


def test_prepare_stamps_received_at_and_keeps_everything_else() -> None:
    received = at(minutes=5)
    request = ingest.prepare("batch", {"batch": [track(properties={"a": 1})]}, received, LIMITS)
    (prepared,) = request.messages
    doc = orjson.loads(prepared.value)
    assert doc["receivedAt"] == "2026-03-02T09:05:00.000Z"
    assert doc["timestamp"] == T0_ISO  # no sentAt: a historical time is kept
    assert doc["originalTimestamp"] == T0_ISO
    assert doc["properties"] == {"a": 1}
    assert prepared.message_id == "m1"


def test_repeated_message_ids_in_one_request_are_produced_once() -> None:
    doc = {"batch": [track(), track(), track(messageId="m2")]}
    request = ingest.prepare("batch", doc, T0, LIMITS)
    assert [p.message_id for p in request.messages] == ["m1", "m2"]
    assert request.duplicates_in_request == 1


def test_a_message_without_id_gets_a_stable_derived_one() -> None:
    message = track()
    del message["messageId"]
    first = ingest.prepare("track", dict(message), T0, LIMITS).messages[0]
    retry = ingest.prepare("track", {**message, "sentAt": T0_ISO}, at(minutes=1), LIMITS)
    assert first.message_id.startswith("abm-")
    assert retry.messages[0].message_id == first.message_id
    assert orjson.loads(first.value)["messageId"] == first.message_id
    other = ingest.prepare("track", {**message, "event": "Other"}, T0, LIMITS).messages[0]
    assert other.message_id != first.message_id


def test_a_message_id_of_the_wrong_type_is_forwarded_for_the_engine_to_dead_letter() -> None:
    (prepared,) = ingest.prepare("track", track(messageId=42), T0, LIMITS).messages
    assert orjson.loads(prepared.value)["messageId"] == 42
    assert prepared.message_id.startswith("abm-")


# --- time ----------------------------------------------------------------------------------

RECEIVED = at(hours=1)


@pytest.mark.parametrize(
    ("fields", "batch_sent_at", "timestamp", "clamped"),
    [
        ({"timestamp": "2026-03-02T10:00:00.000Z", "sentAt": "2026-03-02T10:00:05.000Z"}, None,
         "2026-03-02T09:59:55.000Z", None),
        ({"timestamp": "2026-03-02T12:00:00.000Z"}, "2026-03-02T12:00:30.000Z",
         "2026-03-02T09:59:30.000Z", None),
        ({"originalTimestamp": "1970-01-01T00:00:00.000Z", "timestamp": "2026-01-01T00:00:00Z",
          "sentAt": "1970-01-01T00:00:10.000Z"}, None, "2026-03-02T09:59:50.000Z", None),
        ({"timestamp": "2026-02-01T00:00:00.000Z"}, None, "2026-02-01T00:00:00.000Z", None),
        ({"timestamp": "2026-03-02T11:00:00.000Z"}, None, "2026-03-02T10:00:00.000Z", "future"),
        ({"timestamp": "2026-03-02T10:00:10.000Z", "sentAt": "2026-03-02T10:00:05.000Z"}, None,
         "2026-03-02T10:00:00.000Z", "future"),
        ({"timestamp": "1970-01-01T00:00:01.000Z"}, None, "2026-03-02T10:00:00.000Z",
         "before_2000"),
        ({}, None, "2026-03-02T10:00:00.000Z", None),
        ({"timestamp": "2026-03-02T09:00:00Z", "sentAt": "garbage"}, None,
         "2026-03-02T09:00:00.000Z", None),
        ({"timestamp": "yesterday"}, None, "yesterday", None),
        ({"timestamp": 1772442000}, None, 1772442000, None),
    ],
    ids=[
        "an event 5 s before its sending is 5 s before receivedAt",
        "the batch sentAt corrects a client clock two hours fast",
        "originalTimestamp wins over timestamp; a clock at 1970 is corrected by sentAt",
        "no sentAt: a historical import keeps its time",
        "a future time without sentAt is clamped to receivedAt",
        "an event after its own sending is clamped to receivedAt",
        "a time before 2000 without sentAt is clamped",
        "no time at all: receivedAt",
        "an unreadable sentAt is ignored",
        "an unreadable timestamp is left for the engine to dead-letter",
        "a number is left for the engine to dead-letter",
    ],
)  # fmt: skip
def test_clock_skew_correction(
    fields: dict[str, Any], batch_sent_at: str | None, timestamp: Any, clamped: str | None
) -> None:
    message, why = ingest.normalize({"type": "track", **fields}, RECEIVED, batch_sent_at)
    assert message["timestamp"] == timestamp
    assert message["receivedAt"] == "2026-03-02T10:00:00.000Z"
    assert why == clamped


def test_event_types_as_metric_labels() -> None:
    assert ingest.event_type({"type": "track"}) == "track"
    assert ingest.event_type({"type": "pageview"}) == "other"
    assert ingest.event_type({"type": ["x"]}) == "other"


# --- one vocabulary for what is wrong ------------------------------------------------------

WORDING = re.compile(r"^(body|field `[^`]+`): expected a JSON \w+, got (nothing|a JSON \w+)")


@pytest.mark.parametrize(
    "body",
    [b"null", b"[]", b"5", b'"x"', b"true", b'{"batch": null}', b'{"batch": 5}',
     b'{"batch": [null]}', b'{"batch": [], "context": []}'],
)  # fmt: skip
def test_refused_bodies_are_described_in_one_vocabulary(body: bytes) -> None:
    """Every refusal of a value's type reads `<where>: expected a JSON <type>, got a JSON
    <type>`, whatever the value (a JSON null is `a JSON null`, never a Python type name)."""
    with pytest.raises(RequestError) as caught:
        ingest.prepare("batch", ingest.parse_json_object(body), T0, LIMITS)
    assert WORDING.match(caught.value.message), caught.value.message
    assert "NoneType" not in caught.value.message and "dict" not in caught.value.message


# --- exact numbers -------------------------------------------------------------------------


def test_big_integers_stay_exact() -> None:
    big = 1234567890123456789012345678  # 28 digits: beyond 64 bits
    body = orjson.dumps({"batch": [track(messageId="a", properties={"n": 7})]}).replace(
        b"7", str(big).encode()
    )
    doc = ingest.parse_json_object(body)
    (prepared,) = ingest.prepare("batch", doc, T0, LIMITS).messages
    assert str(big).encode() in prepared.value
    assert json.loads(prepared.value)["properties"]["n"] == big
    # an id-less message with one gets a stable derived id too
    again = ingest.parse_json_object(body.replace(b'"messageId":"a",', b""))
    ids = {ingest.prepare("batch", again, T0, LIMITS).messages[0].message_id for _ in range(2)}
    assert len(ids) == 1


# --- the webhooks' messageId namespace -----------------------------------------------------


@pytest.mark.parametrize("provider", ["email", "zoom", "linkedin"])
def test_sdk_messages_cannot_take_a_webhook_message_id(provider: str) -> None:
    taken = f"{provider}:urn:li:leadGenFormResponse:1"
    for endpoint, doc in (("batch", {"batch": [track(messageId=taken)]}),
                          ("track", track(messageId=taken))):  # fmt: skip
        (prepared,) = ingest.prepare(endpoint, doc, T0, LIMITS).messages
        assert prepared.message_id == f"sdk:{taken}"
        assert orjson.loads(prepared.value)["messageId"] == f"sdk:{taken}"
    # the collector's own webhook messages keep theirs
    (own,) = ingest.prepare("track", track(messageId=taken), T0, LIMITS, webhook=True).messages
    assert own.message_id == taken


def test_ordinary_sdk_message_ids_are_kept() -> None:
    for given in ("m-1", "sdk:linkedin:x", "LinkedIn:x", "emails:1"):
        (prepared,) = ingest.prepare("track", track(messageId=given), T0, LIMITS).messages
        assert prepared.message_id == given
