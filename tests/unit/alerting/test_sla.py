"""The follow-up SLA rules, with explicit times."""

from __future__ import annotations

import pytest

from abm.core.mqa_event import MqaEvent
from alerting.sla import FollowUp, SlaRecord, check_due, escalated, follow_up, open_record, window
from tests.support.alerting import typed_mqa_event
from tests.support.factories import HOUR, MINUTE, T0

TIER1 = 4 * HOUR


def opened(event: MqaEvent | None = None, now_ms: int = T0 + MINUTE) -> SlaRecord:
    record, transition = open_record(
        event or typed_mqa_event(), now_ms, "ae@vendor.example", "U0AE"
    )
    assert transition.outcome is None
    return record


def test_the_window_is_the_one_the_mqa_carries() -> None:
    record = opened()
    assert (record.started_ms, record.due_ms) == (T0, T0 + TIER1)
    assert record.state == "open" and record.sla_seconds == 4 * 3600


def test_act_now_is_due_in_thirty_minutes() -> None:
    record = opened(typed_mqa_event(act_now=True))
    assert record.due_ms - record.started_ms == 30 * MINUTE


def test_an_mqa_arriving_after_its_due_time_gets_a_full_window_from_its_arrival() -> None:
    late = T0 + 30 * 24 * HOUR
    assert window(typed_mqa_event(), late) == (late, late + TIER1)


@pytest.mark.parametrize(
    ("at_ms", "state", "seconds"),
    [
        (T0 + HOUR, "met", 3600.0),
        (T0 + TIER1, "met", 4 * 3600.0),
        (T0 + TIER1 + 1, "breached", 4 * 3600.001),
    ],
    ids=["an hour after: met", "exactly at the due time: met", "a millisecond late: breached"],
)
def test_a_follow_up_meets_or_breaches(at_ms: int, state: str, seconds: float) -> None:
    record, transition = follow_up(opened(), FollowUp(at_ms, "call", "a1"))
    assert record.state == state and transition.outcome == state
    assert transition.follow_up_seconds == pytest.approx(seconds)
    assert record.followed_up_ms == at_ms and record.follow_up_kind == "call"
    assert not transition.escalate and not record.escalation_due


def test_only_the_first_follow_up_counts() -> None:
    record, _ = follow_up(opened(), FollowUp(T0 + HOUR, "call", "a1"))
    again, transition = follow_up(record, FollowUp(T0 + 2 * HOUR, "meeting", "a2"))
    assert again == record and transition.outcome is None


def test_activity_before_the_mqa_does_not_count() -> None:
    record, transition = follow_up(opened(), FollowUp(T0 - 1, "call", "a1"))
    assert record.state == "open" and transition.outcome is None


def test_an_acknowledgement_counts_only_for_its_own_mqa() -> None:
    record = opened()
    other, transition = follow_up(record, FollowUp(T0 + HOUR, "ack", "k1", mqa_id="mqa_other"))
    assert other == record and transition.outcome is None
    mine, transition = follow_up(record, FollowUp(T0 + HOUR, "ack", "k2", mqa_id=record.mqa_id))
    assert mine.state == "met" and transition.outcome == "met"


def test_no_follow_up_by_the_due_time_breaches_once_and_owes_one_escalation() -> None:
    record = opened()
    assert check_due(record, T0 + TIER1 - 1)[1].outcome is None
    breached, transition = check_due(record, T0 + TIER1)
    assert breached.state == "breached" and breached.escalation_due
    assert transition.outcome == "breached" and transition.escalate
    again, transition = check_due(breached, T0 + TIER1 + HOUR)
    assert again == breached and transition.outcome is None and not transition.escalate
    done = escalated(breached, T0 + TIER1 + 5)
    assert not done.escalation_due and done.escalated_ms == T0 + TIER1 + 5


def test_a_met_sla_is_never_breached() -> None:
    met, _ = follow_up(opened(), FollowUp(T0 + HOUR, "email", "a1"))
    assert check_due(met, T0 + 10 * TIER1) == (met, check_due(met, T0)[1])
    assert check_due(met, T0 + 10 * TIER1)[0].state == "met"


def test_a_late_follow_up_after_the_breach_records_the_time_only() -> None:
    breached, _ = check_due(opened(), T0 + TIER1)
    record, transition = follow_up(breached, FollowUp(T0 + 6 * HOUR, "call", "a1"))
    assert record.state == "breached" and transition.outcome is None
    assert transition.follow_up_seconds == 6 * 3600 and record.escalation_due


def test_an_activity_recorded_before_the_mqa_arrived_is_found_when_it_opens() -> None:
    record, transition = open_record(
        typed_mqa_event(), T0 + HOUR, None, None, earlier=FollowUp(T0 + 10 * MINUTE, "call", "a1")
    )
    assert record.state == "met" and transition.outcome == "met"
    assert transition.follow_up_seconds == 600


def test_the_record_round_trips() -> None:
    record = opened()
    assert SlaRecord.from_bytes(record.to_bytes()) == record
