"""Keyed pseudonyms and the identities a message names."""

from __future__ import annotations

from typing import Any

import pytest

from abm.core.privacy import (
    MAX_IDENTITY_CHARS,
    Identity,
    IdentityError,
    clear_key_pseudonym,
    contact_identity,
    is_pseudonym,
    message_identities,
    message_pseudonyms,
    pseudonym,
    pseudonyms_in,
    reveal,
    visitor_label,
)
from abm.core.segment import SegmentMessage, parse_message
from tests.support.factories import segment_bytes

KEY = b"a deployment's secret"


def message(**overrides: object) -> SegmentMessage:
    parsed = parse_message(segment_bytes("track", **overrides), 32_768)
    assert isinstance(parsed, SegmentMessage)
    return parsed


def test_a_pseudonym_is_stable_and_depends_on_the_key() -> None:
    first = pseudonym("email", "dana@acme.com", KEY)
    assert first == pseudonym("email", "dana@acme.com", KEY)
    assert first != pseudonym("email", "dana@acme.com", b"another deployment")
    assert first.startswith("p") and len(first) == 33
    assert "dana" not in first


def test_the_kind_of_identity_is_part_of_the_pseudonym() -> None:
    assert pseudonym("user_id", "42", KEY) != pseudonym("anonymous_id", "42", KEY)


def test_an_email_is_normalized_before_it_is_pseudonymized() -> None:
    typed = Identity.parse("email", "  Dana@ACME.com ")
    assert typed == Identity("email", "dana@acme.com")
    assert typed.pseudonym(KEY) == pseudonym("email", "dana@acme.com", KEY)


def test_ids_are_kept_exactly_as_sent() -> None:
    assert Identity.parse("user_id", "U-42") == Identity("user_id", "U-42")


@pytest.mark.parametrize(
    ("kind", "value", "why"),
    [
        ("email", "", "the email is empty"),
        ("user_id", "   ", "the user id is empty"),
        ("anonymous_id", "x" * (MAX_IDENTITY_CHARS + 1), "257 characters long; at most 256"),
        ("email", "dana.acme.com", "is not an e-mail address"),
    ],
)
def test_an_identity_that_names_nobody_is_refused_with_the_reason(
    kind: str, value: str, why: str
) -> None:
    with pytest.raises(IdentityError, match=why):
        Identity.parse(kind, value)  # type: ignore[arg-type]


def test_person_keys_of_the_directory_map_to_identities() -> None:
    assert Identity.of_person_key("user:u-1") == Identity("user_id", "u-1")
    assert Identity.of_person_key("anon:a:b") == Identity("anonymous_id", "a:b")
    assert Identity.of_person_key("other:x") is None
    assert Identity.of_person_key("user:") is None


def test_a_message_names_its_email_user_id_and_anonymous_id() -> None:
    assert message_identities(message()) == [
        Identity("email", "dana@acme.com"),
        Identity("user_id", "u-42"),
        Identity("anonymous_id", "anon-42"),
    ]
    anonymous = message(userId=None, context={})
    assert message_identities(anonymous) == [Identity("anonymous_id", "anon-42")]
    assert message_pseudonyms(anonymous, KEY) == [pseudonym("anonymous_id", "anon-42", KEY)]


KEY = b"the deployment's pseudonym key"
DANA = Identity("email", "dana@acme.com").pseudonym(KEY)
VISITOR = Identity("anonymous_id", "a-1").pseudonym(KEY)


def test_a_pseudonym_is_recognised_and_a_clear_key_is_not() -> None:
    assert is_pseudonym(DANA) and is_pseudonym(VISITOR)
    for text in ("dana@acme.com", "user:u-1", "anon:a-1", DANA.upper(), DANA[:-1], DANA + "0"):
        assert not is_pseudonym(text)


def test_a_clear_key_gets_the_pseudonym_its_identity_has() -> None:
    assert clear_key_pseudonym("dana@acme.com", KEY) == DANA
    assert clear_key_pseudonym("user:u-1", KEY) == Identity("user_id", "u-1").pseudonym(KEY)
    assert clear_key_pseudonym("anon:a-1", KEY) == VISITOR
    assert clear_key_pseudonym(DANA, KEY) == DANA  # already one
    cut = clear_key_pseudonym("#0123456789abcdef01234567", KEY)  # a key cut for length
    assert is_pseudonym(cut) and cut != clear_key_pseudonym("#0123456789abcdef01234568", KEY)


def test_the_contact_identity_is_the_email_else_the_user_id_else_the_anonymous_id() -> None:
    assert contact_identity("Dana@Acme.com", "u-1", "a-1") == Identity("email", "dana@acme.com")
    assert contact_identity(None, "u-1", "a-1") == Identity("user_id", "u-1")
    assert contact_identity(None, None, "a-1") == Identity("anonymous_id", "a-1")
    assert contact_identity(None, None, None) is None


def test_pseudonyms_are_found_anywhere_in_a_json_value() -> None:
    event = {
        "top_contacts": [{"contact": DANA}],
        "summary": f"demo page by {DANA} (champion)",
        DANA: 1,
        "n": [3, None, {"x": VISITOR}],
    }
    assert pseudonyms_in(event) == {DANA, VISITOR}
    assert pseudonyms_in({"contact": "dana@acme.com"}) == set()


def test_reveal_names_the_indexed_persons_and_calls_the_others_visitors() -> None:
    event: dict[str, Any] = {
        "top_contacts": [{"contact": DANA, "points": 3.5}, {"contact": VISITOR}],
        "summary": f"demo page by {DANA} (champion)",
        "url": "https://vendor.example/p",
    }
    shown = reveal(event, {DANA: "dana@acme.com"})
    assert shown == {
        "top_contacts": [
            {"contact": "dana@acme.com", "points": 3.5},
            {"contact": visitor_label(VISITOR)},
        ],
        "summary": "demo page by dana@acme.com (champion)",
        "url": "https://vendor.example/p",
    }
    assert event["top_contacts"][0]["contact"] == DANA  # the input is left as it was
    assert visitor_label(VISITOR) == f"visitor {VISITOR[1:9]}" and VISITOR not in str(shown)
