"""Parsing Segment-spec raw bytes: messages, dead letters with reason and field, ignored types."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from abm.core.segment import (
    BAD_TIMESTAMP,
    DEAD_LETTER_REASONS,
    INVALID_ENCODING,
    INVALID_JSON,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    OVERSIZED,
    PAGE_EVENT,
    UNKNOWN_TYPE,
    WRONG_TYPE,
    Ignored,
    Invalid,
    SegmentMessage,
    email_domain,
    parse_message,
)
from tests.support.factories import DELETE, T0, segment_bytes, segment_message, set_path

LIMIT = 32_768


def parse(document: Any) -> SegmentMessage | Invalid | Ignored:
    return parse_message(orjson.dumps(document), LIMIT)


def parsed(document: Any) -> SegmentMessage:
    result = parse(document)
    assert isinstance(result, SegmentMessage), result
    return result


# --- well-formed messages ---------------------------------------------------------------------


def test_a_track_message_is_parsed_field_by_field() -> None:
    message = parsed(segment_message("track"))
    assert message == SegmentMessage(
        type="track",
        message_id="msg-1",
        timestamp_ms=T0,
        user_id="u-42",
        anonymous_id="anon-42",
        group_id=None,
        email="dana@acme.com",
        event="Webinar Attended",
        url=None,
        path=None,
        title="CTO",
        premium=False,
        traits={},
    )


def test_a_page_message_is_a_page_viewed_event_with_the_url_path() -> None:
    message = parsed(segment_message("page"))
    assert (message.type, message.event) == ("page", PAGE_EVENT)
    assert message.url == "https://www.vendor.example/pricing?plan=pro"
    assert message.path == "/pricing"


def test_a_group_message_carries_its_group_id_and_traits() -> None:
    message = parsed(segment_message("group"))
    assert (message.type, message.group_id, message.event) == ("group", "acme", None)
    assert message.traits == {"name": "Acme BV"}


def test_an_identify_message_carries_email_title_and_traits() -> None:
    message = parsed(segment_message("identify"))
    assert (message.type, message.email, message.title) == ("identify", "dana@acme.com", "CTO")
    assert message.traits == {"email": "dana@acme.com", "title": "CTO"}


@pytest.mark.parametrize(
    ("dotted", "value", "attribute", "expected"),
    [
        ("context.groupId", "acme", "group_id", "acme"),
        ("context.groupId", "   ", "group_id", None),
        ("userId", "  u-7  ", "user_id", "u-7"),
        ("properties.path", "/security", "path", "/security"),
        ("context.page", {"path": "/docs/api"}, "path", "/docs/api"),
        ("context.page", {"url": "https://x.example/blog/a?b=c"}, "path", "/blog/a"),
        ("properties.url", "https://x.example", "path", "/"),
        ("properties.premium", True, "premium", True),
        ("properties.premium", "yes", "premium", False),
        ("properties.content_tier", "premium", "premium", True),
        ("context.traits", {"email": "not-an-address"}, "email", None),
        ("context.traits", {"email": "a@localhost"}, "email", None),
        ("context.traits", {"email": "@acme.com"}, "email", None),
        ("context.traits", {}, "email", None),
        ("properties.email", "Kim@Acme.COM", "email", "dana@acme.com"),
        ("traits", {"email": "Kim@Beta.io"}, "email", "dana@acme.com"),
        ("timestamp", "2026-03-02T10:00:00+01:00", "timestamp_ms", T0),
        ("event", "  Demo Requested ", "event", "Demo Requested"),
    ],
    ids=[
        "context.groupId is the account id of a track call",
        "a blank groupId is no groupId",
        "ids are stripped of blanks",
        "properties.path is the path",
        "context.page.path is the path when properties have none",
        "the path is taken from the url when no path is sent",
        "a url without a path has the root path",
        "premium: true marks premium content",
        "only the JSON true marks premium content",
        "content_tier premium marks premium content",
        "a string that is not an address is no e-mail",
        "an address without a dotted domain is no e-mail",
        "an address without a local part is no e-mail",
        "no e-mail trait is no e-mail",
        "context.traits wins over properties for the e-mail",
        "context.traits wins over traits for the e-mail",
        "a timestamp with an offset is converted to UTC",
        "the event name is stripped of blanks",
    ],
)
def test_track_fields(dotted: str, value: Any, attribute: str, expected: Any) -> None:
    message = parsed(set_path(segment_message("track"), dotted, value))
    assert getattr(message, attribute) == expected


@pytest.mark.parametrize(
    ("context_traits", "traits", "properties", "expected"),
    [
        ({"email": "A@X.io"}, {"email": "b@y.io"}, {"email": "c@z.io"}, "a@x.io"),
        ({}, {"email": "B@Y.io"}, {"email": "c@z.io"}, "b@y.io"),
        ({}, {}, {"email": "C@Z.io"}, "c@z.io"),
        ({"email": "nope"}, {"email": "b@y.io"}, {}, "b@y.io"),
    ],
    ids=[
        "context.traits first",
        "then traits",
        "then properties",
        "an invalid address falls through to the next source",
    ],
)
def test_email_sources_in_order(
    context_traits: dict[str, Any],
    traits: dict[str, Any],
    properties: dict[str, Any],
    expected: str,
) -> None:
    document = segment_message(
        "track", context={"traits": context_traits}, traits=traits, properties=properties
    )
    assert parsed(document).email == expected


def test_traits_are_kept_only_for_identify_and_group_calls() -> None:
    track = parsed(segment_message("track", traits={"plan": "pro"}))
    identify = parsed(segment_message("identify", traits={"plan": "pro"}))
    assert (track.traits, identify.traits) == ({}, {"plan": "pro"})


@pytest.mark.parametrize(
    ("changes", "expected_ms"),
    [
        ({"timestamp": None, "originalTimestamp": "2026-03-02T09:00:01Z"}, T0 + 1000),
        ({"originalTimestamp": "2026-03-02T09:00:01Z"}, T0),
    ],
    ids=[
        "originalTimestamp is used when timestamp is missing",
        "timestamp wins over originalTimestamp",
    ],
)
def test_timestamp_fallback(changes: dict[str, Any], expected_ms: int) -> None:
    assert parsed(segment_message("track", **changes)).timestamp_ms == expected_ms


@pytest.mark.parametrize(
    ("changes", "user_id", "anonymous_id"),
    [
        ({"anonymousId": None}, "u-42", None),
        ({"userId": None}, None, "anon-42"),
    ],
    ids=["a userId alone identifies the person", "an anonymousId alone identifies the person"],
)
def test_either_person_id_is_enough(
    changes: dict[str, Any], user_id: str | None, anonymous_id: str | None
) -> None:
    message = parsed(segment_message("track", **changes))
    assert (message.user_id, message.anonymous_id) == (user_id, anonymous_id)


# --- ignored types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        {"type": "screen", "messageId": "m", "timestamp": "2026-03-02T09:00:00Z", "userId": "u"},
        {"type": "alias", "previousId": "a", "userId": "u"},
        {"type": "screen"},
    ],
    ids=[
        "a screen call is ignored",
        "an alias call is ignored",
        "an ignored type needs no other fields",
    ],
)
def test_types_without_account_signal_are_ignored(document: dict[str, Any]) -> None:
    assert parse(document) == Ignored(document["type"])


# --- dead letters -----------------------------------------------------------------------------

VALID = segment_message("track")


@pytest.mark.parametrize(
    ("raw", "reason", "words"),
    [
        (b"{not json", INVALID_JSON, "not valid JSON"),
        (b"", INVALID_JSON, "not valid JSON"),
        (b'{"type": "track",}', INVALID_JSON, "not valid JSON"),
        (b'{"type": "tr\xffck"}', INVALID_ENCODING, "not valid UTF-8"),
        (b"\xfe\xff\x00{", INVALID_ENCODING, "not valid UTF-8"),
        (b"[1, 2]", NOT_AN_OBJECT, "a JSON list, not an object"),
        (b'"track"', NOT_AN_OBJECT, "a JSON str, not an object"),
        (b"null", NOT_AN_OBJECT, "a JSON NoneType, not an object"),
        (b"x" * (LIMIT + 1), OVERSIZED, f"{LIMIT + 1} bytes, the limit is {LIMIT}"),
        (orjson.dumps(set_path(VALID, "type", DELETE)), MISSING_FIELD, "`type`"),
        (orjson.dumps(set_path(VALID, "type", "  ")), MISSING_FIELD, "`type`: required"),
        (orjson.dumps(set_path(VALID, "type", 3)), WRONG_TYPE, "`type`: expected a string"),
        (orjson.dumps(set_path(VALID, "type", "purchase")), UNKNOWN_TYPE, "'purchase'"),
        (orjson.dumps(set_path(VALID, "messageId", DELETE)), MISSING_FIELD, "`messageId`"),
        (orjson.dumps(set_path(VALID, "messageId", "")), MISSING_FIELD, "`messageId`"),
        (orjson.dumps(set_path(VALID, "messageId", 17)), WRONG_TYPE, "`messageId`: expected"),
        (orjson.dumps(set_path(VALID, "messageId", "m" * 257)), WRONG_TYPE, "`messageId`"),
        (orjson.dumps(set_path(VALID, "timestamp", DELETE)), MISSING_FIELD, "`timestamp`"),
        (orjson.dumps(set_path(VALID, "timestamp", 1772442000000)), WRONG_TYPE, "`timestamp`"),
        (orjson.dumps(set_path(VALID, "timestamp", "yesterday")), BAD_TIMESTAMP, "`timestamp`"),
        (
            orjson.dumps(set_path(VALID, "timestamp", "1999-12-31T23:59:59Z")),
            BAD_TIMESTAMP,
            "outside 2000..2100",
        ),
        (
            orjson.dumps(set_path(VALID, "timestamp", "2100-01-01T00:00:00Z")),
            BAD_TIMESTAMP,
            "outside 2000..2100",
        ),
        (
            orjson.dumps(segment_message("track", timestamp=None, originalTimestamp="soon")),
            BAD_TIMESTAMP,
            "`originalTimestamp`",
        ),
        (
            orjson.dumps(segment_message("track", userId=None, anonymousId=None)),
            MISSING_FIELD,
            "`userId` or `anonymousId`",
        ),
        (
            orjson.dumps(segment_message("track", userId=" ", anonymousId=None)),
            MISSING_FIELD,
            "`userId` or `anonymousId`",
        ),
        (orjson.dumps(set_path(VALID, "userId", 42)), WRONG_TYPE, "`userId`"),
        (orjson.dumps(set_path(VALID, "anonymousId", ["a"])), WRONG_TYPE, "`anonymousId`"),
        (orjson.dumps(set_path(VALID, "event", DELETE)), MISSING_FIELD, "`event`"),
        (orjson.dumps(set_path(VALID, "event", {"name": "x"})), WRONG_TYPE, "`event`"),
        (orjson.dumps(set_path(VALID, "context", "web")), WRONG_TYPE, "`context`: expected an"),
        (orjson.dumps(set_path(VALID, "properties", [])), WRONG_TYPE, "`properties`"),
        (orjson.dumps(set_path(VALID, "context.traits", 1)), WRONG_TYPE, "`context.traits`"),
        (orjson.dumps(set_path(VALID, "context.page", "p")), WRONG_TYPE, "`context.page`"),
        (orjson.dumps(set_path(VALID, "context.groupId", 7)), WRONG_TYPE, "`context.groupId`"),
        (
            orjson.dumps(set_path(VALID, "context.traits.email", True)),
            WRONG_TYPE,
            "`context.traits.email`",
        ),
        (orjson.dumps(set_path(VALID, "properties.url", 1)), WRONG_TYPE, "`properties.url`"),
        (
            orjson.dumps(segment_message("group", groupId=None)),
            MISSING_FIELD,
            "`groupId`: required",
        ),
    ],
    ids=[
        "broken JSON is invalid_json",
        "empty bytes are invalid_json",
        "a trailing comma is invalid_json",
        "a bad byte inside a string is invalid_encoding",
        "a UTF-16 byte-order mark is invalid_encoding",
        "a JSON array is not_an_object",
        "a JSON string is not_an_object",
        "a JSON null is not_an_object",
        "more bytes than the limit is oversized",
        "a missing type is missing_field naming type",
        "a blank type is missing_field naming type",
        "a numeric type is wrong_type naming type",
        "an unknown type is unknown_type quoting it",
        "a missing messageId is missing_field naming it",
        "an empty messageId is missing_field naming it",
        "a numeric messageId is wrong_type naming it",
        "an overlong messageId is wrong_type naming it",
        "a missing timestamp is missing_field naming it",
        "an epoch-number timestamp is wrong_type naming it",
        "an unparsable timestamp is bad_timestamp naming it",
        "a timestamp before 2000 is bad_timestamp",
        "a timestamp from 2100 on is bad_timestamp",
        "a bad originalTimestamp is bad_timestamp naming it",
        "neither userId nor anonymousId is missing_field naming both",
        "a blank userId without anonymousId is missing_field",
        "a numeric userId is wrong_type naming it",
        "a list anonymousId is wrong_type naming it",
        "a track call without event is missing_field naming event",
        "an object event is wrong_type naming event",
        "a string context is wrong_type naming context",
        "a list of properties is wrong_type naming properties",
        "non-object context.traits is wrong_type with the dotted field",
        "non-object context.page is wrong_type with the dotted field",
        "a numeric context.groupId is wrong_type with the dotted field",
        "a boolean e-mail is wrong_type with the dotted field",
        "a numeric url is wrong_type with the dotted field",
        "a group call without groupId is missing_field naming it",
    ],
)
def test_dead_letters_name_reason_and_field(raw: bytes, reason: str, words: str) -> None:
    result = parse_message(raw, LIMIT)
    assert isinstance(result, Invalid), result
    assert result.reason == reason
    assert words in result.detail


def test_the_size_limit_is_inclusive() -> None:
    raw = segment_bytes("track")
    assert isinstance(parse_message(raw, len(raw)), SegmentMessage)
    assert parse_message(raw, len(raw) - 1) == Invalid(
        OVERSIZED, f"message is {len(raw)} bytes, the limit is {len(raw) - 1}"
    )


def test_every_dead_letter_reason_is_a_distinct_label() -> None:
    assert len(set(DEAD_LETTER_REASONS)) == len(DEAD_LETTER_REASONS) == 8
    assert all(reason.isidentifier() and reason.islower() for reason in DEAD_LETTER_REASONS)


@pytest.mark.parametrize(
    ("email", "domain"),
    [("dana@acme.com", "acme.com"), ("odd@name@sub.acme.nl", "sub.acme.nl")],
    ids=["the part after the at sign", "the part after the last at sign"],
)
def test_email_domain(email: str, domain: str) -> None:
    assert email_domain(email) == domain
