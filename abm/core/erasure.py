"""Erasure of a person from an account state (`abm privacy forget`): pure, key passed in.

A forgotten person is named to the workers by the keyed pseudonyms of their identities
(`abm.core.privacy`: the e-mail and the linked userIds and anonymousIds), never by the
identity: the same pseudonyms the touchpoints and the states name persons by. `scrub` removes
from a state everything that names one of them: the contact entry (and with it the person's
points), the timeline's touchpoints, the cap ledger's entries, and the person's rows and
mentions in the explanations of past MQAs.

The rule, as docs/privacy.md says: the forgotten person's contribution leaves the score; the
erasure itself fires no MQA and retracts none (an MQA already sent stays sent, its stored
explanation no longer names the person). The points already folded into the account's remainder
(from contacts let go by the bounds), the daily totals of the surge signal and the dedupe
digests name nobody and stay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from abm.core.engagement import WEB_BUCKET
from abm.core.model import ScoringModel
from abm.core.privacy import Identity, clear_key_pseudonym
from abm.core.state import AccountState, cap_key

FORGOTTEN: Final = "(forgotten)"
"""What an MQA's stored summary says where it named a forgotten person."""


def erasure_pseudonyms(identities: Iterable[Identity], secret: bytes) -> list[str]:
    """What an erasure command carries for a person with these identities: their pseudonyms."""
    return sorted({identity.pseudonym(secret) for identity in identities})


def cap_buckets(model: ScoringModel) -> list[str]:
    """Every bucket the cap ledger can hold for a contact under `model`."""
    return [*model.events, *(f"page:{c}" for c in model.page_categories), WEB_BUCKET]


def scrub(
    state: AccountState, pseudonyms: set[str], secret: bytes, model: ScoringModel
) -> list[str]:
    """Remove the persons of `pseudonyms` from `state` (in place); returns the contact keys
    removed (empty: the state did not name them, and is unchanged). A state read from a
    version that kept clear keys is matched by its keys' pseudonyms under `secret`."""
    named = contact_keys_of(state)
    gone = {key for key in named if clear_key_pseudonym(key, secret) in pseudonyms}
    if not gone:
        return []
    for key in gone:
        state.contacts.pop(key, None)
    state.timeline = [t for t in state.timeline if t.contact not in gone]
    _scrub_caps(state, gone, model)
    for record in state.mqa_history:
        record.event = _scrub_event(record.event, gone)
    state.score_floor = None
    return sorted(gone)


def contact_keys_of(state: AccountState) -> set[str]:
    """Every contact key a state names: its contacts, its timeline, its MQAs' explanations."""
    keys = set(state.contacts)
    keys.update(t.contact for t in state.timeline)
    for record in state.mqa_history:
        event = record.event
        keys.update(row.get("contact", "") for row in event.get("top_contacts", ()))
        keys.update(row.get("contact", "") for row in event.get("top_touchpoints", ()))
        for row in event.get("coverage_by_requirement", ()):
            keys.update(row.get("contacts", ()))
    keys.discard("")
    return keys


def _scrub_caps(state: AccountState, gone: set[str], model: ScoringModel) -> None:
    if not state.caps:
        return
    suffixes = {
        cap_key(0, key, bucket).partition("|")[2] for key in gone for bucket in cap_buckets(model)
    }
    for entry in [k for k in state.caps if k.partition("|")[2] in suffixes]:
        del state.caps[entry]


def _scrub_event(event: dict[str, Any], gone: set[str]) -> dict[str, Any]:
    scrubbed = dict(event)
    if "top_contacts" in event:
        scrubbed["top_contacts"] = [
            r for r in event["top_contacts"] if r.get("contact") not in gone
        ]
    if "top_touchpoints" in event:
        scrubbed["top_touchpoints"] = [
            r for r in event["top_touchpoints"] if r.get("contact") not in gone
        ]
    if "coverage_by_requirement" in event:
        scrubbed["coverage_by_requirement"] = [
            {**row, "contacts": kept, "active": len(kept)}
            for row in event["coverage_by_requirement"]
            for kept in [[c for c in row.get("contacts", ()) if c not in gone]]
        ]
    summary = event.get("summary")
    if isinstance(summary, str):
        for key in gone:
            summary = summary.replace(key, FORGOTTEN)
        scrubbed["summary"] = summary
    return scrubbed


MAX_COMMAND_PSEUDONYMS: Final = 1_000
"""Pseudonyms one erasure command may carry (a person's e-mail and linked ids)."""


@dataclass(frozen=True, slots=True)
class ErasureCommand:
    """What `abm privacy forget` tells the workers (topic privacy.erasure, docs/events.md)."""

    erasure_id: str
    at_ms: int
    """When the erasure was asked for, epoch ms."""
    pseudonyms: tuple[str, ...]
    """The keyed pseudonyms of the person's identities (`erasure_pseudonyms`)."""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"erasure_id": self.erasure_id, "at_ms": self.at_ms, "pseudonyms": self.pseudonyms}
        )

    @classmethod
    def from_json(cls, raw: bytes) -> ErasureCommand:
        """Raises ValueError naming what is wrong."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        erasure_id, at_ms, pseudonyms = (data.get(k) for k in ("erasure_id", "at_ms", "pseudonyms"))
        if not isinstance(erasure_id, str) or not erasure_id:
            raise ValueError("erasure_id: a non-empty string is required")
        if not isinstance(at_ms, int):
            raise ValueError("at_ms: an integer (epoch ms) is required")
        if (
            not isinstance(pseudonyms, list)
            or not 0 < len(pseudonyms) <= MAX_COMMAND_PSEUDONYMS
            or not all(isinstance(p, str) and p for p in pseudonyms)
        ):
            raise ValueError(
                f"pseudonyms: a list of 1 to {MAX_COMMAND_PSEUDONYMS} non-empty strings is required"
            )
        return cls(erasure_id, at_ms, tuple(pseudonyms))
