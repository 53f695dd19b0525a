"""States and touchpoints of the versions that named persons in the clear become pseudonymous,
and then hold what pseudonymous touchpoints would have built."""

from __future__ import annotations

import zlib
from dataclasses import replace
from pathlib import Path

import orjson

from abm.core import state as state_format
from abm.core.privacy import clear_key_pseudonym, is_pseudonym
from abm.core.pseudonymize import pseudonymize_state, pseudonymous_bytes
from abm.core.state import AccountState, has_clear_keys, stored_version
from abm.core.touchpoint import Touchpoint, pseudonymous
from tests.support.factories import (
    CHAMPION,
    DM,
    USER,
    acts,
    at,
    default_model,
    mqas,
    page,
    replay,
    touchpoint,
)

KEY = b"the deployment's pseudonym key"
CLEAR = ("dana@acme.com", "chris@acme.com", "tess@acme.com", "uma@acme.com", "anon:a-1")


def clear_touchpoints() -> list[Touchpoint]:
    """Touchpoints naming persons in the clear, with message ids that name nobody (as the
    trackers' ids do)."""
    touches = [
        page("/blog/a", at_ms=at(days=-3), **USER),
        page("/pricing", at_ms=at(days=-2), **CHAMPION),
        page("/pricing", at_ms=at(days=-2, minutes=1), **CHAMPION),
        touchpoint("Ad Clicked", at_ms=at(days=-1), contact="anon:a-1", known=False),
        *acts(DM, "Demo Requested", at_ms=at(hours=2)),
    ]
    return [replace(t, message_id=f"m-{n}") for n, t in enumerate(touches)]


def as_version_2(state: AccountState) -> bytes:
    """The state as the version-2 engine stored it (clear keys, version 2's dictionary)."""
    data = state.to_dict()
    data["v"] = 2
    packer = zlib.compressobj(1, zdict=state_format._ZDICT_V2)
    return packer.compress(orjson.dumps(data)) + packer.flush()


def test_a_version_2_state_is_read_with_its_clear_keys_marked() -> None:
    built, _ = replay(clear_touchpoints())
    raw = as_version_2(built)
    assert stored_version(raw) == 2 and has_clear_keys(raw)
    read = AccountState.from_bytes(raw)
    assert read.legacy_keys and read == built


def test_conversion_gives_the_state_pseudonymous_touchpoints_build() -> None:
    model = default_model()
    touches = clear_touchpoints()
    clear, outcomes = replay(touches, model)
    [fired] = mqas(outcomes)  # an act-now MQA, whose summary names dana
    assert "dana@acme.com" in fired["summary"]
    named, _ = replay([replace(t, contact=clear_key_pseudonym(t.contact, KEY)) for t in touches])

    converted = pseudonymize_state(AccountState.from_bytes(as_version_2(clear)), KEY, model)

    assert not converted.legacy_keys
    assert converted.contacts == named.contacts
    assert converted.timeline == named.timeline
    assert converted.caps == named.caps and converted.caps
    assert converted.remainder == named.remainder and converted.seen == named.seen
    for ours, theirs in zip(converted.mqa_history, named.mqa_history, strict=True):
        assert ours.mqa_id == theirs.mqa_id
        assert ours.event["summary"] == theirs.event["summary"]
        for field in ("top_contacts", "top_touchpoints"):
            assert sorted(map(orjson.dumps, ours.event[field])) == sorted(
                map(orjson.dumps, theirs.event[field])
            )
    text = orjson.dumps(converted.to_dict()).decode()
    assert not any(key in text for key in CLEAR)


def test_the_converted_state_goes_on_as_the_pseudonymous_one() -> None:
    model = default_model()
    touches = clear_touchpoints()
    clear, _ = replay(touches, model)
    named, _ = replay([replace(t, contact=clear_key_pseudonym(t.contact, KEY)) for t in touches])
    converted = pseudonymize_state(AccountState.from_bytes(as_version_2(clear)), KEY, model)
    more = [
        replace(t, contact=clear_key_pseudonym(t.contact, KEY))
        for t in acts(CHAMPION, "/pricing", "/security", at_ms=at(days=1))
    ]
    after_converted, outcomes_converted = replay(more, model, converted)
    after_named, outcomes_named = replay(more, model, named)
    assert after_converted.contacts == after_named.contacts
    assert after_converted.caps == after_named.caps
    assert [o.new_mqa for o in outcomes_converted] == [o.new_mqa for o in outcomes_named]


def test_stored_bytes_are_converted_once_and_current_ones_left_alone() -> None:
    model = default_model()
    clear, _ = replay(clear_touchpoints(), model)
    raw = as_version_2(clear)
    current = pseudonymous_bytes(raw, KEY, model)
    assert stored_version(current) == 3 and not has_clear_keys(current)
    assert b"dana@acme.com" not in zlib.decompressobj(zdict=state_format._ZDICT).decompress(current)
    assert pseudonymous_bytes(current, KEY, model) is current


def test_a_version_1_state_is_converted_too() -> None:
    raw = (Path(__file__).parents[2] / "data" / "account-state-v1.json").read_bytes()
    assert has_clear_keys(raw)
    state = AccountState.from_bytes(raw)
    assert state.legacy_keys
    pseudonymize_state(state, KEY, default_model())
    assert all(is_pseudonym(k) for k in state.contacts)
    assert all(is_pseudonym(t.contact) for t in state.timeline)


def test_a_schema_1_touchpoint_gets_the_pseudonym_schema_2_gives() -> None:
    old = touchpoint(contact="dana@acme.com")
    data = orjson.loads(old.to_json())
    data["v"] = 1
    read = Touchpoint.from_json(orjson.dumps(data))
    assert read.contact == "dana@acme.com"
    converted = pseudonymous(read, KEY)
    assert converted.contact == clear_key_pseudonym("dana@acme.com", KEY)
    assert replace(converted, contact=read.contact) == read
    assert pseudonymous(converted, KEY) is converted
