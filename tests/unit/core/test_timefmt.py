"""Event-time helpers: ISO-8601 <-> epoch ms, UTC days."""

from __future__ import annotations

import pytest

from abm.core.timefmt import day_index, iso_ms, parse_iso_ms, when_text
from tests.support.factories import DAY, T0, T0_ISO


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (T0_ISO, T0),
        ("2026-03-02T09:00:00Z", T0),
        ("2026-03-02T09:00:00z", T0),
        ("2026-03-02T09:00:00", T0),
        ("2026-03-02T10:00:00+01:00", T0),
        ("2026-03-02T04:00:00-05:00", T0),
        ("  2026-03-02T09:00:00Z  ", T0),
        ("2026-03-02T09:00:00.123Z", T0 + 123),
        ("2026-03-02T09:00:00.999999Z", T0 + 999),
        ("2004-08-21T08:36:26.909Z", 1_093_077_386_909),
        ("2039-07-06T01:24:33.693Z", 2_193_528_273_693),
    ],
    ids=[
        "milliseconds and Z",
        "whole seconds and Z",
        "a lower-case z",
        "no zone means UTC",
        "a positive offset is converted to UTC",
        "a negative offset is converted to UTC",
        "surrounding blanks are ignored",
        "milliseconds are kept exactly",
        "microseconds are truncated to the millisecond",
        "a millisecond value that floats round down is exact",
        "another millisecond value that floats round down is exact",
    ],
)
def test_parse_iso_ms(text: str, expected: int) -> None:
    assert parse_iso_ms(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "yesterday", "2026-13-01T00:00:00Z", "2026-03-02 25:00", "1772442000000"],
    ids=["empty", "a word", "month 13", "hour 25", "epoch digits"],
)
def test_parse_iso_ms_rejects_non_times_with_the_text_quoted(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 time") as info:
        parse_iso_ms(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("epoch_ms", "expected"),
    [
        (T0, T0_ISO),
        (T0 + 7, "2026-03-02T09:00:00.007Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (2_193_528_273_693, "2039-07-06T01:24:33.693Z"),
    ],
    ids=["the story start", "a few milliseconds are zero-padded", "the epoch", "a far future"],
)
def test_iso_ms(epoch_ms: int, expected: str) -> None:
    assert iso_ms(epoch_ms) == expected


@pytest.mark.parametrize(
    ("first_ms", "last_ms", "step_ms"),
    [
        (T0, T0 + 20_000, 1),
        (946_684_800_000, 4_102_444_800_000, 99_991_337),
    ],
    ids=["every millisecond of twenty seconds", "a spread over the years 2000 to 2100"],
)
def test_iso_round_trip_is_exact_to_the_millisecond(
    first_ms: int, last_ms: int, step_ms: int
) -> None:
    wrong = [ms for ms in range(first_ms, last_ms, step_ms) if parse_iso_ms(iso_ms(ms)) != ms]
    assert wrong == []


@pytest.mark.parametrize(
    ("epoch_ms", "expected"),
    [
        (0, 0),
        (DAY - 1, 0),
        (DAY, 1),
        (T0, 20514),
        (T0 + 15 * 3_600_000 - 1, 20514),
        (T0 + 15 * 3_600_000, 20515),
    ],
    ids=[
        "the epoch is day 0",
        "the last millisecond of day 0",
        "midnight starts day 1",
        "the story start",
        "just before midnight UTC is the same day",
        "midnight UTC is the next day",
    ],
)
def test_day_index_is_the_utc_calendar_day(epoch_ms: int, expected: int) -> None:
    assert day_index(epoch_ms) == expected


@pytest.mark.parametrize(
    ("iso", "shown"),
    [
        ("2026-03-02T09:00:00.000Z", "2026-03-02 09:00 UTC"),
        ("2026-12-31T23:59:59.999Z", "2026-12-31 23:59 UTC"),
        (None, "-"),
        ("", "-"),
    ],
)
def test_when_text_shows_a_time_to_the_minute(iso: str | None, shown: str) -> None:
    assert when_text(iso) == shown
