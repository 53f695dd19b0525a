"""The internal touchpoint: one resolved interaction, keyed by account id.

It carries a snapshot of the account and the contact as the directory knew them when the
touchpoint was resolved, so scoring is a pure function of the resolved topic: replaying that
topic reproduces the same state and the same MQAs. Scoring (points, class) is *not* stored here:
it is computed from `event`/`path` by the scoring model, so a new model version re-scores
history.

Schema 2 names the person by a keyed pseudonym (`abm.core.privacy`); schema 1, written by
earlier versions, named them in the clear (the e-mail, `user:<id>`, `anon:<id>`): it is still
read, and `pseudonymous` gives such a touchpoint the pseudonym schema 2 would have.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

import orjson

from abm.core.privacy import clear_key_pseudonym, is_pseudonym
from abm.core.records import AccountRecord

SCHEMA_VERSION: Final = 2
READABLE_SCHEMAS: Final = frozenset({1, 2})


@dataclass(frozen=True, slots=True)
class Touchpoint:
    message_id: str
    at_ms: int
    """Event time (the tracker's timestamp), epoch ms."""
    account: AccountRecord
    contact: str
    """The person's keyed pseudonym (`p` and 32 hex digits) of their e-mail, else their userId,
    else their anonymousId (`abm.core.resolution.person_of`); in a schema-1 record, the clear
    key (the e-mail, `user:<userId>`, `anon:<anonymousId>`) until `pseudonymous`."""
    known_person: bool
    """False for anonymous visitors: they add points but are never stakeholders
    (docs/scoring.md, "Known people and anonymous visitors")."""
    role: str
    seniority: str
    title: str | None
    event: str
    """The track event name, or "Page Viewed"."""
    path: str | None
    url: str | None
    premium: bool
    resolved_by: str
    """Which resolution step found the account: group_id, user_link, contact or domain."""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "v": SCHEMA_VERSION,
                "mid": self.message_id,
                "at": self.at_ms,
                "account": self.account.to_dict(),
                "contact": self.contact,
                "known": self.known_person,
                "role": self.role,
                "seniority": self.seniority,
                "title": self.title,
                "event": self.event,
                "path": self.path,
                "url": self.url,
                "premium": self.premium,
                "by": self.resolved_by,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> Touchpoint:
        data: dict[str, Any] = orjson.loads(raw)
        if data.get("v") not in READABLE_SCHEMAS:
            raise ValueError(f"touchpoint schema version {data.get('v')!r} is not supported")
        return cls(
            message_id=data["mid"],
            at_ms=int(data["at"]),
            account=AccountRecord.from_dict(data["account"]),
            contact=data["contact"],
            known_person=bool(data["known"]),
            role=data["role"],
            seniority=data["seniority"],
            title=data.get("title"),
            event=data["event"],
            path=data.get("path"),
            url=data.get("url"),
            premium=bool(data.get("premium", False)),
            resolved_by=data["by"],
        )


def pseudonymous(touchpoint: Touchpoint, key: bytes) -> Touchpoint:
    """The touchpoint with its person named by pseudonym: itself for schema 2, the converted
    one for a schema-1 record (its clear key's pseudonym under `key`)."""
    if is_pseudonym(touchpoint.contact):
        return touchpoint
    return replace(touchpoint, contact=clear_key_pseudonym(touchpoint.contact, key))
