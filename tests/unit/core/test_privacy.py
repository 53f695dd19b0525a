"""Keyed pseudonyms and the identities a message names."""

from __future__ import annotations

import pytest

from abm.core.privacy import (
    MAX_IDENTITY_CHARS,
    Identity,
    IdentityError,
    message_identities,
    message_pseudonyms,
    pseudonym,
)
from abm.core.segment import SegmentMessage, parse_message
from tests.factories import segment_bytes

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
