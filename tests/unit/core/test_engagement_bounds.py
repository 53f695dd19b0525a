"""The bounds of an account's state: every structure that grows with traffic stops growing, the
stored state stays under `MAX_STATE_BYTES`, and what a bound lets go is folded, not lost."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from abm.core.assessment import account_score, assess
from abm.core.engagement import apply
from abm.core.state import BOUNDS, MAX_STATE_BYTES, AccountState, Bounds
from tests.support.factories import (
    CHAMPION,
    DM,
    MINUTE,
    T0,
    at,
    default_model,
    hot_account_touchpoints,
    mqas,
    page,
    qualifying_group,
    replay,
    touchpoint,
)

MODEL = default_model()


def within_bounds(state: AccountState, bounds: Bounds = BOUNDS) -> None:
    known = sum(1 for c in state.contacts.values() if c.known)
    assert known <= bounds.known_contacts
    assert len(state.contacts) - known <= bounds.anonymous_visitors
    assert len(state.seen) <= bounds.seen_digests
    assert len(state.caps) <= bounds.cap_entries
    assert len(state.timeline) <= MODEL.state.timeline_size
    assert len(state.mqa_history) <= bounds.mqa_history
    assert len(state.daily) <= MODEL.state.max_lateness_days + 2


def test_a_hot_account_stays_within_the_bounds_over_100k_touchpoints() -> None:
    """100,000 touchpoints in 30 days: 80% anonymous page views from 10,000 visitors, the rest
    from 500 known people. The state is checked every 10,000 touchpoints."""
    state = None
    largest = 0
    events = 0
    for index, tp in enumerate(hot_account_touchpoints(100_000)):
        state = apply(state, tp, MODEL, f"0/{index}").state
        events += 1
        if events % 10_000 == 0:
            within_bounds(state)
            raw = state.to_bytes()
            largest = max(largest, len(raw))
            assert AccountState.from_bytes(raw) == state
    assert events == 100_000 and state is not None
    assert state.touches == 100_000
    assert largest <= MAX_STATE_BYTES, largest
    # Folded people still count: the score is far more than the kept contacts could add.
    assert state.remainder and account_score(state, state.clock_ms, MODEL) > 0


def test_maximal_fields_stay_under_the_byte_bound() -> None:
    """Every text at its longest (contact keys, titles, URLs, message ids), every signal class,
    every cap entry and episode in use: the stored state still fits."""
    state = None
    events = [*MODEL.events]
    for n in range(3_000):
        day = n // 100
        who = f"{'x' * 300}{n % 97}@acme.com" if n % 2 else f"anon:{'y' * 300}{n}"
        tp = touchpoint(
            events[n % len(events)] if n % 3 else "Page Viewed",
            path="/pricing/" + "p" * 3000 if not n % 3 else None,
            url="https://www.vendor.example/" + "u" * 3000 + str(n),
            at_ms=at(days=day, minutes=n % 100),
            contact=who,
            role=("decision_maker", "champion", "technical_evaluator", "end_user")[n % 4],
            known=bool(n % 2),
            title="T" * 3000,
            message_id=f"{'m' * 300}-{n}",
        )
        state = apply(state, tp, MODEL, f"0/{n}").state
    assert state is not None
    within_bounds(state)
    assert state.episode >= 1
    size = len(state.to_bytes())
    assert size <= MAX_STATE_BYTES, size
    # Uncompressed as well: the bound does not lean on long repeats compressing well.
    assert len(orjson.dumps(state.to_dict())) <= 2 * MAX_STATE_BYTES


def test_folding_a_contact_keeps_the_score() -> None:
    bounds = Bounds(known_contacts=2)
    touches = [
        page("/pricing", at_ms=at(hours=n), contact=f"p{n}@acme.com", seniority="vp")
        for n in range(3)
    ]
    state, _ = replay(touches[:2])
    before = account_score(state, at(hours=2), MODEL)
    apply(state, touches[2], MODEL, bounds=bounds)
    assert set(state.contacts) == {"p1@acme.com", "p2@acme.com"}
    assert state.remainder and state.folded_ms == at(hours=2)
    assert account_score(state, at(hours=2), MODEL) == pytest.approx(before + 15, abs=1e-9)


def test_the_folded_share_is_capped_like_the_contact_was() -> None:
    bounds = Bounds(known_contacts=1)
    heavy: dict[str, Any] = {
        "contact": "heavy@acme.com",
        "role": "champion",
        "seniority": "c_level",
    }
    touches = [
        touchpoint("Webinar Attended", at_ms=at(minutes=n), message_id=f"w{n}", **heavy)
        for n in range(3)
    ] + [page("/blog/a", at_ms=at(hours=1), contact="next@acme.com")]
    state, _ = replay(touches[:3])
    cap = 0.4 * 70
    assert account_score(state, at(hours=1), MODEL) == cap
    apply(state, touches[3], MODEL, bounds=bounds)
    assert account_score(state, at(hours=1), MODEL) == pytest.approx(cap + 1)


def test_inactive_people_are_folded_before_active_ones() -> None:
    bounds = Bounds(known_contacts=2)
    old = page("/pricing", at_ms=at(days=-40), contact="old@acme.com")
    state, _ = replay([old, *qualifying_group(T0)[:1]])
    newcomer = page("/pricing", at_ms=at(hours=1), contact="new@acme.com")
    apply(state, newcomer, MODEL, bounds=bounds)
    assert "old@acme.com" not in state.contacts and "new@acme.com" in state.contacts


def test_anonymous_visitors_past_the_bound_fold_and_never_count_as_stakeholders() -> None:
    visitors = [
        page("/pricing", at_ms=at(minutes=n), contact=f"anon:v{n}", known=False, role="other")
        for n in range(30)
    ]
    state, _ = replay(visitors)
    assert len(state.contacts) == BOUNDS.anonymous_visitors
    assert set(state.contacts) == {f"anon:v{n}" for n in range(22, 30)}
    assert account_score(state, state.clock_ms, MODEL) == pytest.approx(300, rel=1e-3)
    assert not assess(state, MODEL).active_stakeholders


def test_a_redelivered_record_is_a_duplicate_beyond_the_digest_window() -> None:
    bounds = Bounds(seen_digests=2)
    touches = [page("/blog/a", at_ms=at(minutes=n), message_id=f"m{n}") for n in range(6)]
    state = None
    for n, tp in enumerate(touches):
        state = apply(state, tp, MODEL, f"0/{n}", bounds=bounds).state
    assert state is not None and len(state.seen) == 2
    before = state.to_bytes()
    again = apply(state, touches[1], MODEL, "0/1", bounds=bounds)
    assert again.duplicate and state.to_bytes() == before


def test_a_redelivered_trigger_re_sends_its_mqa_beyond_the_digest_window() -> None:
    bounds = Bounds(seen_digests=1)
    touches = qualifying_group(T0)
    state = None
    outcomes = []
    for n, tp in enumerate(touches):
        outcome = apply(state, tp, MODEL, f"0/{n}", bounds=bounds)
        state = outcome.state
        outcomes.append(outcome)
    [event] = mqas(outcomes)
    trigger = next(n for n, o in enumerate(outcomes) if o.new_mqa)
    again = apply(state, touches[trigger], MODEL, f"0/{trigger}", bounds=bounds)
    assert again.duplicate and again.mqa == event


def test_a_sender_retry_counts_once_within_the_window_and_again_past_it() -> None:
    bounds = Bounds(seen_digests=3)
    retried = page("/pricing", at_ms=at(), message_id="retry-me", **CHAMPION)
    others = [page("/blog/a", at_ms=at(minutes=n + 1), message_id=f"m{n}") for n in range(3)]
    state = apply(None, retried, MODEL, "0/0", bounds=bounds).state
    assert apply(state, retried, MODEL, "0/1", bounds=bounds).duplicate
    for n, tp in enumerate(others):
        apply(state, tp, MODEL, f"0/{n + 2}", bounds=bounds)
    # Past the window a retry is new again: the collector's messageId memory (a day) covers it.
    assert not apply(state, retried, MODEL, "0/9", bounds=bounds).duplicate


def test_the_cap_ledger_keeps_the_newest_days() -> None:
    bounds = Bounds(cap_entries=4)
    touches = [
        page("/pricing", at_ms=at(days=day, minutes=n), contact=f"p{n}@acme.com")
        for day in range(3)
        for n in range(3)
    ]
    state = None
    for tp in touches:
        state = apply(state, tp, MODEL, bounds=bounds).state
    # Past 4 entries the ledger is trimmed to 3, the oldest days first.
    assert state is not None and len(state.caps) <= 4
    days = [int(key.split("|")[0]) for key in state.caps]
    assert days == [at(days=2) // (24 * 60 * MINUTE)] * len(days)


def test_old_explanations_are_shortened_past_the_byte_budget() -> None:
    from tests.support.factories import model_with

    model = model_with(**{"mqa.cooldown_days": 0})
    bounds = Bounds(mqa_event_bytes=1)
    state = None
    for n in range(3):
        demo = touchpoint("Demo Requested", at_ms=at(days=200 * n), contact=f"p{n}@acme.com")
        state = apply(state, demo, model, bounds=bounds).state
    assert state is not None and [m.episode for m in state.mqa_history] == [1, 2, 3]
    latest, older = state.mqa_history[-1], state.mqa_history[:-1]
    assert "top_contacts" in latest.event
    for record in older:
        assert "top_contacts" not in record.event
        assert record.event["mqa_id"] == record.mqa_id and record.event["summary"]


def test_long_texts_are_cut_and_long_keys_stay_distinct() -> None:
    long_a, long_b = "user:" + "a" * 500, "user:" + "a" * 499 + "b"
    touches = [
        page("/pricing", url="https://x.example/" + "u" * 900, contact=long_a, title="T" * 900),
        page("/pricing", at_ms=at(minutes=1), contact=long_b),
    ]
    state, _ = replay(touches)
    assert len(state.contacts) == 2
    assert all(len(key) <= BOUNDS.text_chars for key in state.contacts)
    assert all(len(t.url or "") <= BOUNDS.text_chars for t in state.timeline)
    assert all(len(c.title or "") <= BOUNDS.text_chars for c in state.contacts.values())


def test_dm_and_champion_are_not_folded_by_a_stream_of_visitors() -> None:
    touches = qualifying_group(T0)[:4] + [
        page("/blog/a", at_ms=at(minutes=n + 10), contact=f"anon:{n}", known=False, role="other")
        for n in range(100)
    ]
    state, _ = replay(touches)
    assert {DM["contact"], CHAMPION["contact"]} <= set(state.contacts)
