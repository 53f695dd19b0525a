"""The HTTP collector's rules, as pure functions: auth, body decoding, limits, batch expansion,
clock-skew correction. The aiohttp handlers (`producers.collector`) only move bytes in and out.

The collector speaks Segment's HTTP Tracking API, so Segment and RudderStack SDKs work by
changing their host. Like Segment, it refuses a request only for what makes the request itself
unusable (a wrong write key, a body that is not JSON, a payload over the size limits): those get
a 4xx and nothing of the request is produced. A well-formed request whose messages break the
touchpoint contract (no userId, a bad timestamp, ...) is accepted, and the stream worker
dead-letters those messages with the reason, as it does for every other producer.

Times are epoch milliseconds (UTC) throughout.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from abm.core.segment import MAX_EVENT_MS, MIN_EVENT_MS
from abm.core.timefmt import iso_ms, parse_iso_ms
from producers.jsontext import describe, dumps_exact, loads_exact
from producers.sources import SOURCES

SINGLE_ENDPOINTS: Final = ("track", "page", "identify", "group", "screen", "alias")
"""`POST /v1/<type>`: the body is one message of that type."""
BATCH_ENDPOINT: Final = "batch"
BROWSER_PATHS: Final = {
    "t": "track",
    "p": "page",
    "i": "identify",
    "g": "group",
    "s": "screen",
    "a": "alias",
    "b": BATCH_ENDPOINT,
}
"""Segment's browser library (analytics-next) posts one message to `/v1/<first letter of its
type>`, and a batch to `/v1/b` (batching delivery); the bodies are those of the long paths."""
BEACON_PATH: Final = "/beacon/v1/batch"
"""RudderStack's JS SDK with `useBeacon` hands its batches (the body of `/v1/batch`, as
`text/plain`) to `navigator.sendBeacon`, which cannot set headers: the write key comes as the
`writeKey` query parameter, which only this path reads."""
BEACON_ENDPOINT: Final = "beacon"
"""The `endpoint` of `BEACON_PATH` (metric label); its body is read as a batch."""

SDK_ID_PREFIX: Final = "sdk:"
"""The messageIds of webhook events start with their source's name (`linkedin:...`;
`producers.sources.SOURCES.message_id_prefixes`). That namespace is the webhooks' own: an SDK
message whose id starts so is produced as `sdk:<id>`, so no write-key holder can take (and so
pre-empt as a duplicate) the id of a signed event."""

DEFAULT_MAX_EVENT_BYTES: Final = 32 * 1024
DEFAULT_MAX_BATCH_BYTES: Final = 500 * 1024

# Error codes of a refused request (the `code` of the JSON error body, Segment's shape).
UNAUTHORIZED: Final = "unauthorized"
INVALID_JSON: Final = "invalid_json"
INVALID_REQUEST: Final = "invalid_request"
TOO_LARGE: Final = "payload_too_large"
UNSUPPORTED_ENCODING: Final = "unsupported_encoding"
REQUEST_TIMEOUT: Final = "request_timeout"

# Why a time was replaced by the receive time (metric label values).
CLAMP_FUTURE: Final = "future"
CLAMP_ANCIENT: Final = "before_2000"


class RequestError(Exception):
    """A request refused as a whole: `status` 400/401/413/415, `code` machine-readable,
    `message` says what is wrong and where (which batch item, which field)."""

    def __init__(self, status: int, code: str, message: str, events: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.events = events
        """How many events the refused request carried, when that could be told."""

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Limits:
    """Segment's limits: 32 KB per event and 500 KB per batch request (after decompression)."""

    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES


# --- auth -------------------------------------------------------------------------------------


def basic_auth_user(authorization: str | None) -> str | None:
    """The user of an HTTP Basic `Authorization` header (Segment: the write key, empty
    password); None when the header is absent or is not Basic."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, _password = decoded.partition(":")
    return user or None


def body_write_key(doc: Mapping[str, Any]) -> str | None:
    value = doc.get("writeKey")
    return value if isinstance(value, str) and value else None


def query_write_key(query: Mapping[str, str]) -> str | None:
    """The `writeKey` query parameter of a beacon (`BEACON_PATH`)."""
    value = query.get("writeKey")
    return value or None


def key_allowed(key: str | None, allowed: Iterable[str]) -> bool:
    """Constant-time check of a write key against every configured key."""
    if not key:
        return False
    given = key.encode()
    found = False
    for candidate in allowed:
        # compare against every key, so the time does not tell which prefix matched
        found |= hmac.compare_digest(given, candidate.encode())
    return found


# --- body -------------------------------------------------------------------------------------


def decode_body(raw: bytes, content_encoding: str | None, limits: Limits, *, batch: bool) -> bytes:
    """The request body, decompressed, within the size limit of its endpoint.

    `gzip` (and `deflate`) are inflated with a cap, so a small compressed bomb cannot blow up
    to more than the limit in memory.
    """
    limit = limits.max_batch_bytes if batch else limits.max_event_bytes
    what = "a batch request" if batch else "a single-event request"
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        data = raw
    elif encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
        inflater = zlib.decompressobj(wbits)
        try:
            data = inflater.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise RequestError(
                400, INVALID_REQUEST, f"body is not valid {encoding}: {exc}"
            ) from None
        if not inflater.eof and len(data) <= limit:
            raise RequestError(400, INVALID_REQUEST, f"{encoding} body is truncated")
    else:
        raise RequestError(
            415,
            UNSUPPORTED_ENCODING,
            f"Content-Encoding {content_encoding!r} is not supported (use gzip or none)",
        )
    if len(data) > limit:
        raise RequestError(
            413,
            TOO_LARGE,
            f"{what} may carry at most {limit} bytes (after decompression); this one is larger",
        )
    return data


def parse_json_object(data: bytes) -> dict[str, Any]:
    try:
        doc = loads_exact(data)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, INVALID_JSON, f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RequestError(
            400, INVALID_REQUEST, f"body: expected a JSON object, got {describe(doc)}"
        )
    return doc


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """One message as the collector will produce it."""

    value: bytes
    """The message as JSON: context merged, times corrected, receivedAt stamped."""
    message_id: str
    """The message's id, or the one the collector derived for a message without one."""
    doc: dict[str, Any]
    clamped: str | None = None
    """CLAMP_FUTURE or CLAMP_ANCIENT when the event time was replaced by the receive time."""


@dataclass(frozen=True)
class PreparedRequest:
    messages: list[Prepared] = field(default_factory=list)
    duplicates_in_request: int = 0
    """Messages dropped because an earlier one in the same request had the same id."""


def prepare(
    endpoint: str,
    doc: dict[str, Any],
    received_ms: int,
    limits: Limits,
    *,
    webhook: bool = False,
) -> PreparedRequest:
    """Every message of a request, ready to produce, or `RequestError` for the whole request
    (nothing of a refused request is produced). Only `webhook` messages (built by the collector
    from signed provider events) may keep an id of the webhooks' namespace."""
    items = expand(endpoint, doc)
    batch_sent_at = doc.get("sentAt") if endpoint == BATCH_ENDPOINT else None
    prepared: list[Prepared] = []
    seen: set[str] = set()
    duplicates = 0
    for index, item in enumerate(items):
        message, clamped = normalize(item, received_ms, batch_sent_at)
        given = message.get("messageId")
        if isinstance(given, str) and given.strip():
            message_id = given
            if not webhook and given.startswith(SOURCES.message_id_prefixes):
                message_id = message["messageId"] = SDK_ID_PREFIX + given
        else:
            message_id = derived_message_id(item, received_ms)
            if given is None or isinstance(given, str):
                message["messageId"] = message_id
            # any other type is left as sent: the worker dead-letters it (wrong_type)
        value = dumps_exact(message)
        if len(value) > limits.max_event_bytes:
            where = f"batch item {index}" if endpoint == BATCH_ENDPOINT else "the event"
            raise RequestError(
                413,
                TOO_LARGE,
                f"{where} is {len(value)} bytes; an event may carry at most "
                f"{limits.max_event_bytes} bytes. Nothing of this request was accepted.",
                events=len(items),
            )
        if message_id in seen:
            duplicates += 1
            continue
        seen.add(message_id)
        prepared.append(Prepared(value, message_id, message, clamped))
    return PreparedRequest(prepared, duplicates)


def expand(endpoint: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of a request. A batch's top-level `context` is merged into each item's
    (the item's own values win); single-event endpoints set the type from the path."""
    if endpoint in SINGLE_ENDPOINTS:
        message = {k: v for k, v in doc.items() if k != "writeKey"}
        message["type"] = endpoint
        return [message]
    if endpoint != BATCH_ENDPOINT:
        raise RequestError(404, INVALID_REQUEST, f"no endpoint /v1/{endpoint}")
    batch = doc.get("batch")
    if not isinstance(batch, list):
        got = "nothing" if batch is None else describe(batch)
        raise RequestError(400, INVALID_REQUEST, f"field `batch`: expected a JSON array, got {got}")
    shared = doc.get("context")
    if shared is not None and not isinstance(shared, dict):
        raise RequestError(
            400,
            INVALID_REQUEST,
            f"field `context`: expected a JSON object, got {describe(shared)}",
            events=len(batch),
        )
    messages = []
    for index, item in enumerate(batch):
        if not isinstance(item, dict):
            raise RequestError(
                400,
                INVALID_REQUEST,
                f"field `batch[{index}]`: expected a JSON object, got {describe(item)}. "
                "Nothing of this request was accepted.",
                events=len(batch),
            )
        message = {k: v for k, v in item.items() if k != "writeKey"}
        if shared:
            own = message.get("context")
            # a malformed own context is left as it is: the worker dead-letters it with the field
            if own is None or isinstance(own, dict):
                message["context"] = merge(shared, own or {})
        messages.append(message)
    return messages


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of two JSON objects; `override` wins, nested objects are merged."""
    out = dict(base)
    for key, value in override.items():
        current = out.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            out[key] = merge(current, value)
        else:
            out[key] = value
    return out


def normalize(
    message: dict[str, Any], received_ms: int, batch_sent_at: Any = None
) -> tuple[dict[str, Any], str | None]:
    """Stamp `receivedAt` and set `timestamp` the way Segment does.

    `originalTimestamp` is the client's clock reading of the event (`originalTimestamp`, else the
    `timestamp` the client sent). With a `sentAt` (the client's clock at sending, per message or
    per batch) the client's clock skew cancels out:
    `timestamp = receivedAt - (sentAt - originalTimestamp)`. Without one the client's time is
    kept (a historical import). An event time in the future of `receivedAt`, or before 2000, is
    a clock gone wrong: it becomes `receivedAt`. No time at all: `receivedAt`. A time that is
    not a readable ISO-8601 string is left as it is; the worker dead-letters it (bad_timestamp).
    Returns the new message and the clamp reason, if any.
    """
    out = dict(message)
    out["receivedAt"] = iso_ms(received_ms)
    raw_original = message.get("originalTimestamp")
    if raw_original is None:
        raw_original = message.get("timestamp")
    if raw_original is None:
        out["timestamp"] = iso_ms(received_ms)
        return out, None
    original = _ms(raw_original)
    if original is None:
        return out, None  # unreadable: left for the worker to dead-letter with the field
    out["originalTimestamp"] = raw_original
    sent_raw = message.get("sentAt")
    if sent_raw is None:
        sent_raw = batch_sent_at
    sent = _ms(sent_raw)
    event_ms = original if sent is None else received_ms - (sent - original)
    clamped = None
    if event_ms > received_ms:
        event_ms, clamped = received_ms, CLAMP_FUTURE
    elif event_ms < MIN_EVENT_MS:
        event_ms, clamped = received_ms, CLAMP_ANCIENT
    if sent is not None and "sentAt" not in out:
        out["sentAt"] = sent_raw
    out["timestamp"] = iso_ms(min(event_ms, MAX_EVENT_MS - 1))
    return out, clamped


def _ms(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso_ms(value)
    except (ValueError, OverflowError):
        return None


def derived_message_id(item: Mapping[str, Any], received_ms: int) -> str:
    """An id for a message sent without one: a digest of the message as sent (without sentAt),
    so a client's retry of the same message gets the same id and is deduplicated. A message
    without any time also digests the receive second, so that two identical id-less, time-less
    messages a while apart stay two."""
    content = {k: v for k, v in item.items() if k not in ("sentAt", "writeKey", "messageId")}
    if content.get("timestamp") is None and content.get("originalTimestamp") is None:
        content["~received_s"] = received_ms // 1000
    digest = hashlib.blake2b(dumps_exact(content, sort_keys=True), digest_size=16).hexdigest()
    return f"abm-{digest}"


def event_type(doc: Mapping[str, Any]) -> str:
    """The message type as a metric label: one of a fixed set."""
    kind = doc.get("type")
    if kind in ("track", "page", "identify", "group", "screen", "alias"):
        return str(kind)
    return "other"
