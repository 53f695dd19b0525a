"""The state guard: a stored state of a version the core cannot read stops the worker, once
found; readable and damaged states do not."""

from __future__ import annotations

import orjson
import pytest

from abm.core.state import StateVersionError
from stream.schema import StateGuard, first_unreadable
from tests.support.factories import page, replay

READABLE = replay([page("/a")])[0].to_bytes()
FUTURE = orjson.dumps({"v": 99})


def test_a_table_of_readable_states_passes() -> None:
    assert first_unreadable([READABLE, None, b"", READABLE]) is None


def test_the_first_unreadable_version_is_reported_with_the_rebuild_command() -> None:
    error = first_unreadable([READABLE, FUTURE, b"not json"])
    assert isinstance(error, StateVersionError)
    assert "99" in str(error) and "abm state rebuild" in str(error)


def test_a_damaged_state_is_not_a_version_refusal() -> None:
    assert first_unreadable([b"not json"]) is None


async def test_the_guard_scans_once_and_stops_the_worker() -> None:
    stopped: list[bool] = []

    async def stop() -> None:
        stopped.append(True)

    guard = StateGuard()
    guard.stop = stop
    guard.check([READABLE])
    guard.check([FUTURE])  # a second recovery: the agent's own decoding is the guard then
    assert guard.refusal is None
    guard.refuse(StateVersionError(99))
    guard.refuse(StateVersionError(98))
    assert guard._stopping is not None
    await guard._stopping
    assert stopped == [True]
    assert guard.refusal is not None and guard.refusal.version == 99


def test_without_a_worker_to_stop_the_refusal_is_raised() -> None:
    with pytest.raises(StateVersionError, match="abm state rebuild"):
        StateGuard().check([FUTURE])
