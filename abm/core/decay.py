"""Exponential decay in event time, one accumulator per signal class.

A contribution of p points at time t is worth p * 2^(-(T - t) / half_life) at time T. Keeping
the sum rebased to a reference time r (value = sum of p_i * 2^(-(r - t_i) / h)) makes adding a
touchpoint O(1) and exact whatever the arrival order: a late touchpoint is simply discounted to
r, a newer one moves r forward. Accumulators are plain (value, reference ms) pairs so that
state serializes as JSON. The rule and the half-lives: docs/scoring.md, "Decay".
"""

from __future__ import annotations

Accumulator = tuple[float, int]
"""(value at the reference time, reference time in epoch ms)."""


def initialize() -> Accumulator | None:
    return None


def add(acc: Accumulator | None, points: float, at_ms: int, half_life_ms: float) -> Accumulator:
    if acc is None:
        return (points, at_ms)
    value, ref_ms = acc
    if at_ms <= ref_ms:
        return (value + points * 2.0 ** (-(ref_ms - at_ms) / half_life_ms), ref_ms)
    return (value * 2.0 ** (-(at_ms - ref_ms) / half_life_ms) + points, at_ms)


def value_at(acc: Accumulator | None, at_ms: int, half_life_ms: float) -> float:
    """The accumulator's worth at `at_ms` (never more than its value: no growth backwards)."""
    if acc is None:
        return 0.0
    value, ref_ms = acc
    if at_ms <= ref_ms:
        return value
    return float(value * 2.0 ** (-(at_ms - ref_ms) / half_life_ms))


def decayed(points: float, age_ms: int, half_life_ms: float) -> float:
    """One contribution's worth after `age_ms`."""
    return float(points * 2.0 ** (-max(age_ms, 0) / half_life_ms))
