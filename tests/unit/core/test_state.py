"""Account state: JSON round trips of every part, and version checks."""

from __future__ import annotations

import orjson
import pytest

from abm.core.state import AccountState, ContactState, MqaRecord, TouchRecord
from tests.factories import (
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
    assert orjson.loads(state.to_bytes())["daily"] == {"20514": [12.5, 2]}


@pytest.mark.parametrize(
    "version",
    [None, 0, 2],
    ids=["no version", "version 0", "a newer version"],
)
def test_other_state_versions_are_refused(version: int | None) -> None:
    data = orjson.loads(AccountState(account=account(), clock_ms=T0).to_bytes())
    if version is None:
        del data["v"]
    else:
        data["v"] = version
    with pytest.raises(ValueError, match=r"account state version .* is not supported"):
        AccountState.from_bytes(orjson.dumps(data))


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
    assert ContactState.from_dict(orjson.loads(orjson.dumps(contact.to_dict()))) == contact


def test_touch_record_round_trip_and_sort_key() -> None:
    record = TouchRecord(T0, "m-1", "page:pricing", "high_intent", "d@a.io", "champion", 10.0, None)
    assert TouchRecord.from_list(orjson.loads(orjson.dumps(record.to_list()))) == record
    assert record.sort_key() == (T0, "m-1")


def test_mqa_record_round_trip() -> None:
    record = MqaRecord("mqa_1", 2, "act_now", T0, "m-9", {"mqa_id": "mqa_1", "score": 28.0})
    assert MqaRecord.from_dict(orjson.loads(orjson.dumps(record.to_dict()))) == record


def test_older_states_without_counters_default_them_to_zero() -> None:
    data = orjson.loads(busy_state().to_bytes())
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
