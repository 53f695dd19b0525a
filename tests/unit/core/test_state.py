"""Account state: JSON round trips of every part, and version checks."""

from __future__ import annotations

import zlib
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from abm.core.state import (
    STATE_VERSION,
    AccountState,
    ContactState,
    MqaRecord,
    StateVersionError,
    TouchRecord,
    has_clear_keys,
    stored_version,
)
from tests.support.factories import (
    CHAMPION,
    DM,
    T0,
    USER,
    account,
    at,
    mqas,
    page,
    qualifying_group,
    replay,
    touchpoint,
)


def busy_state() -> AccountState:
    """A state with every part filled: contacts, caps, daily, timeline, seen, an MQA."""
    touches = [
        page("/blog/a", at_ms=at(days=-3), **USER),
        page("/pricing", at_ms=at(days=-2), **CHAMPION),
        page("/pricing", at_ms=at(days=-2, minutes=1), **CHAMPION),
        touchpoint("Ad Clicked", at_ms=at(days=-1), contact="anon:a-1", known=False),
        touchpoint("Made Up Event", at_ms=at(days=-1), **DM),
        *qualifying_group(at(hours=1)),
    ]
    state, outcomes = replay(touches)
    assert len(mqas(outcomes)) == 1
    return state


def test_a_busy_state_round_trips_to_an_equal_state() -> None:
    state = busy_state()
    assert state.contacts and state.caps and state.daily and state.timeline and state.seen
    assert state.mqa_history and state.unknown_events == 1
    again = AccountState.from_bytes(state.to_bytes())
    assert again == state


def test_a_round_trip_is_byte_stable() -> None:
    raw = busy_state().to_bytes()
    assert AccountState.from_bytes(raw).to_bytes() == raw


def test_a_fresh_state_round_trips() -> None:
    state = AccountState(account=account(), clock_ms=T0)
    assert AccountState.from_bytes(state.to_bytes()) == state


def test_day_numbers_survive_as_integers() -> None:
    state = AccountState(account=account(), clock_ms=T0, daily={20514: [12.5, 2]})
    again = AccountState.from_bytes(state.to_bytes())
    assert again.daily == {20514: [12.5, 2]}
    assert orjson.loads(orjson.dumps(state.to_dict()))["daily"] == {"20514": [12.5, 2]}


@pytest.mark.parametrize(
    "version",
    [None, 0, 4],
    ids=["no version", "version 0", "a newer version"],
)
def test_other_state_versions_are_refused_naming_the_rebuild_command(version: int | None) -> None:
    data = AccountState(account=account(), clock_ms=T0).to_dict()
    if version is None:
        del data["v"]
    else:
        data["v"] = version
    for raw in (orjson.dumps(data), zlib.compress(orjson.dumps(data))):
        with pytest.raises(
            StateVersionError, match=r"version .* is not supported.*abm state rebuild"
        ):
            AccountState.from_bytes(raw)
        assert stored_version(raw) == version


def test_the_stored_form_is_compressed_version_3() -> None:
    state = busy_state()
    raw = state.to_bytes()
    assert stored_version(raw) == 3 == STATE_VERSION
    assert not has_clear_keys(raw) and not AccountState.from_bytes(raw).legacy_keys
    assert raw[:1] == b"x" and len(raw) < len(orjson.dumps(state.to_dict())) / 2
    assert stored_version(b"not a state") is None


@pytest.mark.parametrize(
    "contact",
    [
        ContactState("champion", "vp", "VP IT", True, T0),
        ContactState(
            "other",
            "unknown",
            None,
            False,
            T0 + 5,
            last_scored_ms=T0,
            accumulators={"web": (3.25, T0), "form": (40.0, T0 - 1)},
            touches=7,
        ),
    ],
    ids=["a contact that never scored", "a contact with accumulators"],
)
def test_contact_state_round_trip(contact: ContactState) -> None:
    assert ContactState.from_list(orjson.loads(orjson.dumps(contact.to_list()))) == contact


def test_touch_record_round_trip_and_sort_key() -> None:
    record = TouchRecord(T0, "m-1", "page:pricing", "high_intent", "d@a.io", "champion", 10.0, None)
    assert TouchRecord.from_list(orjson.loads(orjson.dumps(record.to_list()))) == record
    assert record.sort_key() == (T0, "m-1")


def test_mqa_record_round_trip() -> None:
    record = MqaRecord("mqa_1", 2, "act_now", T0, "m-9", {"mqa_id": "mqa_1", "score": 28.0})
    assert MqaRecord.from_dict(orjson.loads(orjson.dumps(record.to_dict()))) == record


V1_STATE = Path(__file__).parents[2] / "data" / "account-state-v1.json"
"""`busy_state()` as the version-1 engine stored it (plain JSON, unbounded)."""


def test_a_version_1_state_is_read_as_the_state_version_2_builds() -> None:
    converted = AccountState.from_bytes(V1_STATE.read_bytes())
    built = busy_state()
    assert stored_version(V1_STATE.read_bytes()) == 1
    # The same touchpoints, the same state; the day of the last pruning is new in v2, and past
    # MQAs keep the explanation they were sent with.
    assert [m.mqa_id for m in converted.mqa_history] == [m.mqa_id for m in built.mqa_history]
    assert replace(converted, pruned_day=built.pruned_day, mqa_history=[]) == replace(
        built, mqa_history=[]
    )
    assert AccountState.from_bytes(converted.to_bytes()) == converted


def test_a_converted_state_goes_on_exactly_as_one_built_by_version_2() -> None:
    later = [
        page("/pricing", at_ms=at(days=3), **CHAMPION),
        touchpoint("Webinar Attended", at_ms=at(days=3, hours=1), **DM),
    ]
    converted, _ = replay(later, state=AccountState.from_bytes(V1_STATE.read_bytes()))
    built, _ = replay(later, state=busy_state())
    assert [m.mqa_id for m in converted.mqa_history] == [m.mqa_id for m in built.mqa_history]
    assert replace(converted, mqa_history=[]) == replace(built, mqa_history=[])


def test_older_states_without_counters_default_them_to_zero() -> None:
    data = orjson.loads(V1_STATE.read_bytes())
    del data["touches"], data["unknown"]
    for contact in data["contacts"].values():
        del contact["n"]
    again = AccountState.from_bytes(orjson.dumps(data))
    assert (again.touches, again.unknown_events) == (0, 0)
    assert {c.touches for c in again.contacts.values()} == {0}


def test_stored_states_take_no_more_memory_than_their_length() -> None:
    """A table holds one stored state per account: the bytes must not carry a serializer's
    spare buffer (orjson's output does, several times its length)."""
    import tracemalloc

    state = busy_state()
    tracemalloc.start()
    try:
        kept = [state.to_bytes() for _ in range(200)]
        allocated, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    length = sum(len(raw) for raw in kept)
    assert allocated < 1.3 * length + 64 * len(kept), (allocated, length)
