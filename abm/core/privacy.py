"""Persons as keyed pseudonyms, for the suppression list (and anything else that must name a
person without holding the identity).

A pseudonym is an HMAC-SHA256 of the identity's kind and normalized value under the
deployment's secret (`ABM_PSEUDONYM_KEY`): the same identity and key always give the same
pseudonym, in every process and every replay, and without the key it cannot be reversed by
hashing guessed e-mail addresses. Pure: the key is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final, Literal

from abm.core.directory_csv import email_problem, normalize_email
from abm.core.segment import SegmentMessage

IdentityKind = Literal["email", "user_id", "anonymous_id"]
IDENTITY_KINDS: Final[tuple[IdentityKind, ...]] = ("email", "user_id", "anonymous_id")
MAX_IDENTITY_CHARS: Final = 256
"""Longest identity accepted (Segment's ids and e-mail addresses are far shorter)."""
PSEUDONYM_HEX: Final = 32
"""Hex digits kept of the HMAC (128 bits: no two of a billion persons share one)."""


class IdentityError(ValueError):
    """An identity that cannot name a person; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Identity:
    kind: IdentityKind
    value: str
    """Normalized: e-mails lower-cased and trimmed; ids exactly as the tracker sends them."""

    @classmethod
    def parse(cls, kind: IdentityKind, value: str) -> Identity:
        """Checked and normalized; raises `IdentityError` naming the kind and the problem."""
        label = kind.replace("_", " ")
        if not value or not value.strip():
            raise IdentityError(f"the {label} is empty")
        if len(value) > MAX_IDENTITY_CHARS:
            raise IdentityError(
                f"the {label} is {len(value)} characters long; at most {MAX_IDENTITY_CHARS}"
            )
        if kind == "email":
            email = normalize_email(value)
            problem = email_problem(email)
            if problem is not None:
                raise IdentityError(f"the e-mail {value!r} {problem}")
            return cls(kind, email)
        return cls(kind, value)

    @classmethod
    def of_person_key(cls, person: str) -> Identity | None:
        """The identity of a directory person key (`user:<id>` / `anon:<id>`), or None."""
        prefix, _, value = person.partition(":")
        if not value:
            return None
        if prefix == "user":
            return cls("user_id", value)
        if prefix == "anon":
            return cls("anonymous_id", value)
        return None

    @classmethod
    def of_contact_key(cls, contact: str) -> Identity | None:
        """The identity behind a touchpoint's contact key (the e-mail, `user:<id>` or
        `anon:<id>`); None for a key cut to a digest (`#...`), which names nobody recoverable."""
        if contact.startswith(("user:", "anon:")):
            return cls.of_person_key(contact)
        if "@" in contact and not contact.startswith("#"):
            return cls("email", contact)
        return None

    @property
    def person_key(self) -> str | None:
        """The directory's person key of a tracker id (`user:<id>`, `anon:<id>`); None for an
        e-mail."""
        if self.kind == "user_id":
            return f"user:{self.value}"
        if self.kind == "anonymous_id":
            return f"anon:{self.value}"
        return None

    def pseudonym(self, key: bytes) -> str:
        return pseudonym(self.kind, self.value, key)


def pseudonym(kind: IdentityKind, value: str, key: bytes) -> str:
    """The keyed pseudonym of one normalized identity: `p` and 32 hex digits. The kind is part
    of the input, so a userId and an anonymousId with the same text differ."""
    digest = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return "p" + digest[:PSEUDONYM_HEX]


def message_identities(message: SegmentMessage) -> list[Identity]:
    """Every identity a message names: its e-mail (already lower-cased by the parser), userId
    and anonymousId."""
    found: list[Identity] = []
    if message.email:
        found.append(Identity("email", normalize_email(message.email)))
    if message.user_id:
        found.append(Identity("user_id", message.user_id))
    if message.anonymous_id:
        found.append(Identity("anonymous_id", message.anonymous_id))
    return found


def message_pseudonyms(message: SegmentMessage, key: bytes) -> list[str]:
    return [identity.pseudonym(key) for identity in message_identities(message)]
