"""`abm replay --shift-to-now` (and `abm simulate --shift-to-now`): how far the file's times
move."""

from __future__ import annotations

from pathlib import Path

import orjson

from abm.core.timefmt import iso_ms
from producers.replay import shift_times, shift_to_now_ms
from tests.support.factories import T0


def write(path: Path, *times: str | None) -> Path:
    lines = [orjson.dumps({"type": "track", "timestamp": t}) for t in times]
    path.write_bytes(b"\n".join([*lines, b"not json"]))
    return path


def test_the_latest_event_time_moves_to_now(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", iso_ms(T0), iso_ms(T0 + 5_000), "not a time", None)
    assert shift_to_now_ms(path, T0 + 65_000) == 60_000


def test_a_file_without_event_times_does_not_move(tmp_path: Path) -> None:
    assert shift_to_now_ms(write(tmp_path / "b.jsonl", None), T0) == 0


def test_shifted_times_keep_their_millisecond() -> None:
    doc = {"timestamp": iso_ms(T0 + 7)}
    shift_times(doc, 60_000)
    assert doc["timestamp"] == iso_ms(T0 + 60_007)
