"""Conversion of account states that named persons in the clear (state versions 1 and 2) to
the pseudonymous form (version 3). Pure: the key and the model are passed in.

Each clear contact key (the e-mail, `user:<id>`, `anon:<id>`, or a `#<digest>` of a key cut for
length) becomes the pseudonym a touchpoint of that person carries today
(`abm.core.privacy.clear_key_pseudonym`), everywhere the state names it: its contacts, its
timeline, its cap ledger and its MQAs' explanations (the rows and the summary). Nothing else
changes: the same touchpoints applied afterwards give the same scores and the same MQAs as if
the state had been built from pseudonymous touchpoints, apart from the order of exact ties
between contacts (which contact a bound folds first), which the pseudonyms order differently.
"""

from __future__ import annotations

from typing import Any

from abm.core.erasure import cap_buckets, contact_keys_of
from abm.core.model import ScoringModel
from abm.core.privacy import clear_key_pseudonym, is_pseudonym
from abm.core.state import AccountState, cap_key, has_clear_keys


def pseudonymize_state(state: AccountState, key: bytes, model: ScoringModel) -> AccountState:
    """Convert `state` in place (see the module's docstring) and return it; a state without
    `legacy_keys` is returned as it is."""
    if not state.legacy_keys:
        return state
    renamed = {
        old: clear_key_pseudonym(old, key)
        for old in contact_keys_of(state)
        if not is_pseudonym(old)
    }
    state.contacts = {renamed.get(k, k): c for k, c in state.contacts.items()}
    for touch in state.timeline:
        touch.contact = renamed.get(touch.contact, touch.contact)
    if state.caps:
        state.caps = _renamed_caps(state.caps, renamed, model)
    for record in state.mqa_history:
        record.event = _renamed_event(record.event, renamed)
    state.legacy_keys = False
    state.score_floor = None
    return state


def pseudonymous_bytes(raw: bytes, key: bytes, model: ScoringModel) -> bytes:
    """A stored state in the current version: `raw` itself when it already is one (read from
    its first bytes), else decoded, converted and encoded again."""
    if not has_clear_keys(raw):
        return raw
    return pseudonymize_state(AccountState.from_bytes(raw), key, model).to_bytes()


def _renamed_caps(
    caps: dict[str, float], renamed: dict[str, str], model: ScoringModel
) -> dict[str, float]:
    """The cap ledger keys a digest of (contact, bucket): each entry of a renamed contact gets
    the digest of its new name, with the same day and points."""
    suffixes = {
        cap_key(0, old, bucket).partition("|")[2]: cap_key(0, new, bucket).partition("|")[2]
        for old, new in renamed.items()
        for bucket in cap_buckets(model)
    }
    converted: dict[str, float] = {}
    for entry, points in caps.items():
        day, _, suffix = entry.partition("|")
        converted[f"{day}|{suffixes.get(suffix, suffix)}"] = points
    return converted


def _renamed_event(event: dict[str, Any], renamed: dict[str, str]) -> dict[str, Any]:
    converted = dict(event)
    for field in ("top_contacts", "top_touchpoints"):
        if field in event:
            converted[field] = [
                {**row, "contact": renamed.get(row.get("contact", ""), row.get("contact"))}
                for row in event[field]
            ]
    if "coverage_by_requirement" in event:
        converted["coverage_by_requirement"] = [
            {**row, "contacts": [renamed.get(c, c) for c in row.get("contacts", ())]}
            for row in event["coverage_by_requirement"]
        ]
    summary = event.get("summary")
    if isinstance(summary, str):
        for old in sorted(renamed, key=len, reverse=True):  # a key inside a longer one: last
            summary = summary.replace(old, renamed[old])
        converted["summary"] = summary
    return converted
