"""Event-time exponential decay with one rebased accumulator."""

from __future__ import annotations

import itertools

import pytest

from abm.core import decay
from tests.support.factories import DAY, T0

WEEK = 7 * DAY


@pytest.mark.parametrize(
    ("age_ms", "expected"),
    [
        (0, 100.0),
        (WEEK, 50.0),
        (2 * WEEK, 25.0),
        (10 * WEEK, 100.0 / 1024),
        (WEEK // 2, 100.0 / 2**0.5),
        (-WEEK, 100.0),
    ],
    ids=[
        "no age keeps the points",
        "one half-life halves them",
        "two half-lives quarter them",
        "ten half-lives divide by 1024",
        "half a half-life divides by the square root of two",
        "a negative age never grows the points",
    ],
)
def test_decayed_is_exact_at_half_lives(age_ms: int, expected: float) -> None:
    assert decay.decayed(100.0, age_ms, WEEK) == pytest.approx(expected, rel=1e-12)


def test_a_fresh_accumulator_is_none_and_worth_nothing() -> None:
    assert decay.initialize() is None
    assert decay.value_at(None, T0, WEEK) == 0.0


def test_the_first_add_sets_value_and_reference_time() -> None:
    assert decay.add(None, 12.5, T0, WEEK) == (12.5, T0)


@pytest.mark.parametrize(
    ("at_ms", "expected"),
    [(T0, 80.0), (T0 + WEEK, 40.0), (T0 + 3 * WEEK, 10.0), (T0 - WEEK, 80.0)],
    ids=[
        "at the reference time it is worth its value",
        "one half-life later half",
        "three half-lives later an eighth",
        "before the reference time it does not grow back",
    ],
)
def test_value_at(at_ms: int, expected: float) -> None:
    assert decay.value_at((80.0, T0), at_ms, WEEK) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("acc", "points", "at_ms", "expected"),
    [
        ((80.0, T0), 20.0, T0 + WEEK, (60.0, T0 + WEEK)),
        ((80.0, T0), 20.0, T0 - WEEK, (90.0, T0)),
        ((80.0, T0), 20.0, T0, (100.0, T0)),
        ((80.0, T0), 0.0, T0 + 2 * WEEK, (20.0, T0 + 2 * WEEK)),
    ],
    ids=[
        "a newer add rebases the value to its own time",
        "an older add is discounted to the reference time",
        "an add at the reference time adds in full",
        "a zero add still moves the reference forward",
    ],
)
def test_add_rebases(
    acc: decay.Accumulator, points: float, at_ms: int, expected: decay.Accumulator
) -> None:
    value, ref = decay.add(acc, points, at_ms, WEEK)
    assert ref == expected[1]
    assert value == pytest.approx(expected[0], rel=1e-12)


ADDS = [(10.0, T0), (4.0, T0 + 3 * DAY), (25.0, T0 - 9 * DAY), (1.5, T0 + 11 * DAY + 17)]


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations(range(len(ADDS)))),
    ids=lambda order: "adds in order " + "-".join(map(str, order)),
)
def test_out_of_order_adds_equal_in_order_adds(order: tuple[int, ...]) -> None:
    acc: decay.Accumulator | None = None
    for index in order:
        points, at_ms = ADDS[index]
        acc = decay.add(acc, points, at_ms, WEEK)
    assert acc is not None
    latest = max(at for _, at in ADDS)
    assert acc[1] == latest
    query = latest + 5 * DAY
    expected = sum(decay.decayed(p, query - at, WEEK) for p, at in ADDS)
    assert decay.value_at(acc, query, WEEK) == pytest.approx(expected, rel=1e-12)


def test_the_accumulator_is_exact_for_each_contribution_by_its_own_age() -> None:
    acc = decay.add(decay.add(None, 64.0, T0, WEEK), 64.0, T0 + WEEK, WEEK)
    # The first contribution is two half-lives old, the second one at T0 + 3 weeks.
    assert decay.value_at(acc, T0 + 2 * WEEK, WEEK) == pytest.approx(16.0 + 32.0, rel=1e-12)
