"""Persons as keyed pseudonyms: how the long-lived data names a person without holding the
identity (the resolved touchpoints, the account states and their changelog, the MQA events, the
suppression list).

A pseudonym is an HMAC-SHA256 of the identity's kind and normalized value under the
deployment's secret (`ABM_PSEUDONYM_KEY`): the same identity and key always give the same
pseudonym, in every process and every replay, and without the key it cannot be reversed by
hashing guessed e-mail addresses. A touchpoint names its person by the pseudonym of the
identity that keys them (`contact_identity`): the e-mail, else the userId, else the
anonymousId. People see names and e-mails at the edges only (the alerts, the account pages):
they look the pseudonyms up in the directory's index and `reveal` them. Pure: the key is passed
in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from abm.core.directory_csv import email_problem, normalize_email
from abm.core.segment import SegmentMessage

IdentityKind = Literal["email", "user_id", "anonymous_id"]
IDENTITY_KINDS: Final[tuple[IdentityKind, ...]] = ("email", "user_id", "anonymous_id")
MAX_IDENTITY_CHARS: Final = 256
"""Longest identity accepted (Segment's ids and e-mail addresses are far shorter)."""
PSEUDONYM_HEX: Final = 32
"""Hex digits kept of the HMAC (128 bits: no two of a billion persons share one)."""
DEFAULT_PSEUDONYM_KEY: Final = b"abm-dev-pseudonym-key"
"""The documented development key (`ABM_PSEUDONYM_KEY`'s default): the offline reference, the
backtest and the benchmarks use it unless given the deployment's key."""
PSEUDONYM_PATTERN: Final = re.compile(r"\bp[0-9a-f]{32}\b")
"""A pseudonym anywhere in a text (an MQA summary names its asker by one)."""


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


def is_pseudonym(text: str) -> bool:
    """Whether `text` is a pseudonym (`p` and 32 lower-case hex digits), not a clear key."""
    return len(text) == PSEUDONYM_HEX + 1 and PSEUDONYM_PATTERN.fullmatch(text) is not None


def contact_identity(
    email: str | None, user_id: str | None, anonymous_id: str | None
) -> Identity | None:
    """The identity that keys a touchpoint's person: the e-mail (normalized), else the userId,
    else the anonymousId."""
    if email:
        return Identity("email", normalize_email(email))
    if user_id:
        return Identity("user_id", user_id)
    if anonymous_id:
        return Identity("anonymous_id", anonymous_id)
    return None


def clear_key_pseudonym(contact: str, key: bytes) -> str:
    """The pseudonym of a contact key stored in the clear by earlier versions (the e-mail,
    `user:<id>`, `anon:<id>`, or `#<digest>` for a key cut for length): what the person is
    named today. A pseudonym is returned as it is; a cut key, which names nobody recoverable,
    gets a pseudonym of its own text (no identity gives it)."""
    if is_pseudonym(contact):
        return contact
    identity = Identity.of_contact_key(contact)
    if identity is not None:
        return identity.pseudonym(key)
    digest = hmac.new(key, f"contact\x00{contact}".encode(), hashlib.sha256).hexdigest()
    return "p" + digest[:PSEUDONYM_HEX]


def pseudonyms_in(value: Any) -> set[str]:
    """Every pseudonym named anywhere in a JSON-like value (keys, strings, nested)."""
    found: set[str] = set()
    _collect(value, found)
    return found


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if "p" in value:
            found.update(PSEUDONYM_PATTERN.findall(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(key, found)
            _collect(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, found)


def visitor_label(pseudonym: str) -> str:
    """How the edges name a pseudonym the directory cannot name (an anonymous visitor, or a
    person whose index entry expired): stable and short, never an identity."""
    return f"visitor {pseudonym[1:9]}"


def reveal(
    value: Any, names: Mapping[str, str], unnamed: Callable[[str], str] = visitor_label
) -> Any:
    """A copy of a JSON-like value with every pseudonym replaced by its name from `names` (the
    directory's index), else by `unnamed(pseudonym)`: what the alerts and account pages show."""

    def name(match: re.Match[str]) -> str:
        pseudonym = match.group(0)
        return names.get(pseudonym) or unnamed(pseudonym)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return PSEUDONYM_PATTERN.sub(name, item) if "p" in item else item
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(v) for v in item]
        return item

    return walk(value)
