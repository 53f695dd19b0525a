"""The upstream contract: Segment-spec messages (track, page, identify, group).

`parse_message` turns raw bytes into a `SegmentMessage` or an `Invalid` naming the reason (a
small fixed set, used as a metric label) and the field. Nothing here raises for bad input: bad
input is data, and it goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import orjson

from abm.core.timefmt import parse_iso_ms

MessageType = Literal["track", "page", "identify", "group"]
TOUCHPOINT_TYPES: Final = frozenset({"track", "page"})
KNOWN_TYPES: Final = frozenset({"track", "page", "identify", "group"})
# Types a Segment source may send that carry no account signal for us: accepted and counted.
IGNORED_TYPES: Final = frozenset({"screen", "alias"})

# Dead-letter reasons: the complete set, each a metric label value.
INVALID_JSON: Final = "invalid_json"
INVALID_ENCODING: Final = "invalid_encoding"
NOT_AN_OBJECT: Final = "not_an_object"
OVERSIZED: Final = "oversized"
MISSING_FIELD: Final = "missing_field"
WRONG_TYPE: Final = "wrong_type"
BAD_TIMESTAMP: Final = "bad_timestamp"
UNKNOWN_TYPE: Final = "unknown_type"
DEAD_LETTER_REASONS: Final = (
    INVALID_JSON,
    INVALID_ENCODING,
    NOT_AN_OBJECT,
    OVERSIZED,
    MISSING_FIELD,
    WRONG_TYPE,
    BAD_TIMESTAMP,
    UNKNOWN_TYPE,
)

MAX_ID_LENGTH: Final = 256
# Event times outside this range are client clocks gone wrong, not touchpoints (2000..2100).
MIN_EVENT_MS: Final = 946_684_800_000
MAX_EVENT_MS: Final = 4_102_444_800_000


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a message cannot be used: `reason` is one of DEAD_LETTER_REASONS."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed message of a type that carries no account signal (screen, alias)."""

    message_type: str


@dataclass(frozen=True, slots=True)
class SegmentMessage:
    type: MessageType
    message_id: str
    timestamp_ms: int
    user_id: str | None
    anonymous_id: str | None
    group_id: str | None
    """context.groupId on track/page, the top-level groupId on a group call."""
    email: str | None
    """Lower-cased; from context.traits, traits (identify) or properties."""
    event: str | None
    """The track event name; "Page Viewed" for pages."""
    url: str | None
    path: str | None
    title: str | None
    """The person's job title, when a trait carries it."""
    premium: bool = False
    traits: dict[str, Any] = field(default_factory=dict)


PAGE_EVENT: Final = "Page Viewed"


def parse_message(raw: bytes, max_bytes: int) -> SegmentMessage | Invalid | Ignored:
    if len(raw) > max_bytes:
        return Invalid(OVERSIZED, f"message is {len(raw)} bytes, the limit is {max_bytes}")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if isinstance(exc.__cause__, UnicodeDecodeError) or "utf-8" in str(exc).lower():
            return Invalid(INVALID_ENCODING, "message is not valid UTF-8")
        return Invalid(INVALID_JSON, f"not valid JSON: {exc}")
    if not isinstance(doc, dict):
        return Invalid(NOT_AN_OBJECT, f"message is a JSON {type(doc).__name__}, not an object")
    try:
        return _parse_document(doc)
    except _FieldError as err:
        return Invalid(err.reason, err.detail)


class _FieldError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _parse_document(doc: dict[str, Any]) -> SegmentMessage | Ignored:
    kind = _string(doc, "type", required=True)
    assert kind is not None
    if kind in IGNORED_TYPES:
        return Ignored(kind)
    if kind not in KNOWN_TYPES:
        raise _FieldError(
            UNKNOWN_TYPE, f"field `type`: {kind!r} is not one of {', '.join(sorted(KNOWN_TYPES))}"
        )
    message_id = _string(doc, "messageId", required=True)
    assert message_id is not None
    if len(message_id) > MAX_ID_LENGTH:
        raise _FieldError(WRONG_TYPE, f"field `messageId`: longer than {MAX_ID_LENGTH} characters")
    timestamp_ms = _timestamp(doc)
    user_id = _string(doc, "userId")
    anonymous_id = _string(doc, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise _FieldError(MISSING_FIELD, "field `userId` or `anonymousId`: one is required")

    context = _object(doc, "context")
    properties = _object(doc, "properties")
    traits = _object(doc, "traits")
    context_traits = _object(context, "traits", "context.traits")
    page = _object(context, "page", "context.page")

    group_id = _string(context, "groupId", field_name="context.groupId")
    event: str | None = None
    if kind == "group":
        group_id = _string(doc, "groupId", required=True)
    elif kind == "track":
        event = _string(doc, "event", required=True)
    elif kind == "page":
        event = PAGE_EVENT

    email = (
        _email(context_traits, "context.traits.email")
        or _email(traits, "traits.email")
        or _email(properties, "properties.email")
    )
    title = _string(context_traits, "title", field_name="context.traits.title") or _string(
        traits, "title", field_name="traits.title"
    )
    url = _string(properties, "url", field_name="properties.url") or _string(
        page, "url", field_name="context.page.url"
    )
    path = _string(properties, "path", field_name="properties.path") or _string(
        page, "path", field_name="context.page.path"
    )
    if path is None and url is not None:
        path = _path_of(url)
    premium = properties.get("premium") is True or properties.get("content_tier") == "premium"
    return SegmentMessage(
        type=kind,  # type: ignore[arg-type]  # checked against KNOWN_TYPES above
        message_id=message_id,
        timestamp_ms=timestamp_ms,
        user_id=user_id,
        anonymous_id=anonymous_id,
        group_id=group_id,
        email=email,
        event=event,
        url=url,
        path=path,
        title=title,
        premium=premium,
        traits=traits if kind in ("identify", "group") else {},
    )


def _string(
    obj: dict[str, Any], key: str, *, required: bool = False, field_name: str | None = None
) -> str | None:
    name = field_name or key
    value = obj.get(key)
    if value is None:
        if required:
            raise _FieldError(MISSING_FIELD, f"field `{name}`: required")
        return None
    if not isinstance(value, str):
        raise _FieldError(
            WRONG_TYPE, f"field `{name}`: expected a string, got {type(value).__name__}"
        )
    value = value.strip()
    if not value:
        if required:
            raise _FieldError(MISSING_FIELD, f"field `{name}`: required, got an empty string")
        return None
    return value


def _object(obj: dict[str, Any], key: str, field_name: str | None = None) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _FieldError(
            WRONG_TYPE,
            f"field `{field_name or key}`: expected an object, got {type(value).__name__}",
        )
    return value


def _email(obj: dict[str, Any], field_name: str) -> str | None:
    value = _string(obj, "email", field_name=field_name)
    if value is None:
        return None
    value = value.lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain:
        return None  # not an address: the touchpoint may still resolve another way
    return value


def _timestamp(doc: dict[str, Any]) -> int:
    key = "timestamp" if doc.get("timestamp") is not None else "originalTimestamp"
    text = _string(doc, key)
    if text is None:
        raise _FieldError(MISSING_FIELD, "field `timestamp`: required")
    try:
        value = parse_iso_ms(text)
    except ValueError as exc:
        raise _FieldError(BAD_TIMESTAMP, f"field `{key}`: {exc}") from None
    if not MIN_EVENT_MS <= value < MAX_EVENT_MS:
        raise _FieldError(BAD_TIMESTAMP, f"field `{key}`: {text!r} is outside 2000..2100")
    return value


def _path_of(url: str) -> str | None:
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    return path or "/"


def email_domain(email: str) -> str:
    return email.rpartition("@")[2]


FREE_MAIL_DOMAINS: Final = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "live.com",
        "live.nl",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "yandex.com",
        "yandex.ru",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
        "qq.com",
        "163.com",
        "126.com",
        "naver.com",
        "kpnmail.nl",
        "ziggo.nl",
        "planet.nl",
        "home.nl",
        "hetnet.nl",
        "xs4all.nl",
        "telenet.be",
        "skynet.be",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "t-online.de",
        "libero.it",
    }
)
"""E-mail domains that name no company: an address there never resolves an account by its
domain (`abm.core.resolution`) and is no account's domain in a directory file."""
