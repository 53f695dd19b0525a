"""The sales follow-up SLA of an MQA, as pure functions of explicit times (epoch ms).

An SLA opens when the alert service first sees an MQA. Its due time is the one the MQA carries
(`follow_up.due_at_ms`: qualification time + tier hours / act-now minutes from the scoring
model), which is also the time the alert shows. An MQA that reaches the service after its due
time already passed (a replay of history, or a service that was down for longer than the
window) gets a full window from its arrival instead: nobody can follow up an alert they never
had, and escalating it at once would page a manager for nothing.

The first follow-up counts: a sales activity on the account (meeting, call, e-mail) at or after
the qualification time, or the acknowledge button of that MQA's alert. In time (at or before the
due time) the SLA is met; later it is breached (and the follow-up time is still recorded). No
follow-up when the due time comes: breached, and one escalation is due. An activity that was
recorded before the MQA reached the service (the AE already called) is found when the SLA opens.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from abm.core.mqa_event import MqaEvent

State = Literal["open", "met", "breached"]
Outcome = Literal["met", "breached"]


@dataclass(frozen=True)
class FollowUp:
    """A follow-up as the SLA sees it: when, what kind, which MQA (acknowledgements only)."""

    at_ms: int
    kind: str
    activity_id: str
    mqa_id: str | None = None


@dataclass(frozen=True)
class SlaRecord:
    mqa_id: str
    account_id: str
    account_name: str
    tier: int
    rule: str
    qualified_at_ms: int
    started_ms: int
    """Start of the follow-up window: due time minus the SLA, or the arrival of a late MQA."""
    due_ms: int
    sla_seconds: int
    owner_email: str | None
    owner_slack_id: str | None
    state: State = "open"
    followed_up_ms: int | None = None
    follow_up_kind: str | None = None
    escalation_due: bool = False
    """Breached without a follow-up and the escalation is not delivered yet."""
    escalated_ms: int | None = None

    @property
    def follow_up_seconds(self) -> float | None:
        if self.followed_up_ms is None:
            return None
        return max(0, self.followed_up_ms - self.started_ms) / 1000

    def to_bytes(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> SlaRecord:
        data: dict[str, Any] = orjson.loads(raw)
        return cls(**data)


@dataclass(frozen=True)
class Transition:
    """What changed: an SLA outcome to count, a follow-up time to observe, an escalation."""

    outcome: Outcome | None = None
    follow_up_seconds: float | None = None
    escalate: bool = False


NOTHING = Transition()


def window(event: MqaEvent, now_ms: int) -> tuple[int, int]:
    """(start, due) of an MQA's follow-up window, epoch ms (see the module docstring)."""
    follow = event.follow_up
    sla_ms = follow.sla_seconds * 1000
    due = follow.due_at_ms
    if due <= now_ms:
        return now_ms, now_ms + sla_ms
    return due - sla_ms, due


def open_record(
    event: MqaEvent,
    now_ms: int,
    owner_email: str | None,
    owner_slack_id: str | None,
    earlier: FollowUp | None = None,
) -> tuple[SlaRecord, Transition]:
    """The SLA of an MQA seen for the first time at `now_ms`; `earlier` is the first sales
    activity on the account at or after the qualification time, if one was already recorded."""
    account = event.account
    start, due = window(event, now_ms)
    record = SlaRecord(
        mqa_id=event.mqa_id,
        account_id=account.id,
        account_name=account.name or account.id,
        tier=account.tier,
        rule=event.rule,
        qualified_at_ms=event.qualified_at_ms,
        started_ms=start,
        due_ms=due,
        sla_seconds=event.follow_up.sla_seconds,
        owner_email=owner_email,
        owner_slack_id=owner_slack_id,
    )
    if earlier is None:
        return record, NOTHING
    return follow_up(record, earlier)


def follow_up(record: SlaRecord, activity: FollowUp) -> tuple[SlaRecord, Transition]:
    """Apply a follow-up. Only the first one at or after the qualification time counts; an
    acknowledgement counts only for its own MQA."""
    if activity.mqa_id is not None and activity.mqa_id != record.mqa_id:
        return record, NOTHING
    if activity.at_ms < record.qualified_at_ms or record.followed_up_ms is not None:
        return record, NOTHING
    followed = dataclasses.replace(
        record, followed_up_ms=activity.at_ms, follow_up_kind=activity.kind
    )
    seconds = followed.follow_up_seconds
    if record.state == "open":
        outcome: Outcome = "met" if activity.at_ms <= record.due_ms else "breached"
        return dataclasses.replace(followed, state=outcome), Transition(outcome, seconds)
    return followed, Transition(None, seconds)


def check_due(record: SlaRecord, now_ms: int) -> tuple[SlaRecord, Transition]:
    """At `now_ms`: an open SLA past its due time is breached and owes one escalation."""
    if record.state != "open" or now_ms < record.due_ms:
        return record, NOTHING
    breached = dataclasses.replace(record, state="breached", escalation_due=True)
    return breached, Transition("breached", None, escalate=True)


def escalated(record: SlaRecord, now_ms: int) -> SlaRecord:
    """The escalation was delivered (on every route)."""
    return dataclasses.replace(record, escalation_due=False, escalated_ms=now_ms)
