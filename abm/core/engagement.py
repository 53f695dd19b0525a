"""One touchpoint in, the account's new state and at most one MQA event out.

`apply(state, touchpoint, model) -> Outcome` is the whole per-event business logic of the
engagement step: dedupe, lateness, caps, decay, buying-group bookkeeping, hysteresis, cooldown
and the MQA rule. The state is updated in place and returned; the stream agent only stores it
and sends `outcome.mqa`.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from typing import Any

from abm.core import decay
from abm.core.assessment import account_score, assess
from abm.core.explain import RULE_ACT_NOW, RULE_THRESHOLD, build_mqa_event
from abm.core.model import DAY_MS, ScoringModel
from abm.core.scoring import Activity, classify, multiplier
from abm.core.state import AccountState, ContactState, MqaRecord, TouchRecord
from abm.core.timefmt import day_index
from abm.core.touchpoint import Touchpoint

MQA_HISTORY_SIZE = 20
_WEB_BUCKET = "~web"


@dataclass(frozen=True, slots=True)
class Outcome:
    state: AccountState
    mqa: dict[str, Any] | None = None
    """An MQA event to send: a new one, or the last one again when the very record that
    triggered it is delivered again (a crash between storing the state and sending the MQA)."""
    new_mqa: bool = False
    duplicate: bool = False
    too_late: bool = False
    activity: Activity | None = None
    points: float = 0.0
    """Points granted to this touchpoint (after multiplier and caps, undecayed)."""
    first_engagement: bool = False
    left_qualified: bool = False


def message_digest(message_id: str) -> str:
    """Short stable digest of a message id, for the dedupe set (collisions: ~1e-12 per pair)."""
    return hashlib.blake2b(message_id.encode(), digest_size=8).hexdigest()


def new_state(touchpoint: Touchpoint) -> AccountState:
    return AccountState(account=touchpoint.account, clock_ms=touchpoint.at_ms)


def apply(
    state: AccountState | None,
    touchpoint: Touchpoint,
    model: ScoringModel,
    source: str | None = None,
) -> Outcome:
    """`source` names the input record (e.g. `partition/offset`): a duplicate from the same
    record is a redelivery and re-sends the MQA it triggered; a duplicate from another record is
    a sender's retry and changes nothing."""
    if state is None:
        state = new_state(touchpoint)

    digest = message_digest(touchpoint.message_id)
    if digest in state.seen:
        last = state.mqa_history[-1] if state.mqa_history else None
        redelivered = (
            last is not None
            and source is not None
            and last.trigger_message_id == touchpoint.message_id
            and last.trigger_source == source
        )
        again = last.event if last is not None and redelivered else None
        return Outcome(state, mqa=again, duplicate=True)
    # The directory's latest word on tier, fit, lifecycle; not from a redelivery, whose
    # snapshot may be older than the one the state already has.
    state.account = touchpoint.account
    lateness_ms = model.state.max_lateness_days * DAY_MS
    if touchpoint.at_ms < state.clock_ms - lateness_ms:
        return Outcome(state, too_late=True)

    clock = max(state.clock_ms, touchpoint.at_ms)
    left_qualified = _hysteresis_exit(state, clock, model)
    state.clock_ms = clock
    state.seen[digest] = touchpoint.at_ms

    activity = classify(touchpoint, model)
    raw_points = activity.points * multiplier(touchpoint, model)
    granted = _grant(state, touchpoint, activity, raw_points, model)
    first = _record(state, touchpoint, activity, raw_points, granted, model)
    _prune(state, model)

    rule = _rule_fired(state, touchpoint, activity, granted, model)
    mqa: dict[str, Any] | None = None
    if rule is not None:
        mqa = _qualify(state, rule, touchpoint.message_id, source, model)
    return Outcome(
        state,
        mqa=mqa,
        new_mqa=mqa is not None,
        activity=activity,
        points=granted,
        first_engagement=first,
        left_qualified=left_qualified,
    )


def _hysteresis_exit(state: AccountState, clock: int, model: ScoringModel) -> bool:
    """A qualified account whose score, decayed to `clock` and before this touchpoint, fell
    under the exit share of its threshold leaves qualified (a new episode becomes possible)."""
    if not state.qualified:
        return False
    exit_score = model.mqa.exit_ratio * model.threshold(state.account.tier)
    if account_score(state, clock, model) < exit_score:
        state.qualified = False
        return True
    return False


def _grant(
    state: AccountState,
    touchpoint: Touchpoint,
    activity: Activity,
    raw_points: float,
    model: ScoringModel,
) -> float:
    """Daily caps. A single touchpoint always counts in full; the caps stop *repeats* of one
    activity (and of low-intent web reading) by one contact in one UTC day from piling up."""
    if raw_points <= 0:
        return 0.0
    day = day_index(touchpoint.at_ms)
    # The day comes first: contact keys and activity names may both contain the separator.
    buckets = [(f"{day}|{touchpoint.contact}|{activity.key}", model.caps.per_contact_activity_day)]
    if activity.signal_class == "web":
        buckets.append(
            (f"{day}|{touchpoint.contact}|{_WEB_BUCKET}", model.caps.per_contact_web_day)
        )
    granted = raw_points
    for key, cap in buckets:
        granted = min(granted, max(0.0, max(cap, raw_points) - state.caps.get(key, 0.0)))
    if granted > 0:
        for key, _ in buckets:
            state.caps[key] = state.caps.get(key, 0.0) + granted
    return granted


def _record(
    state: AccountState,
    touchpoint: Touchpoint,
    activity: Activity,
    raw_points: float,
    granted: float,
    model: ScoringModel,
) -> bool:
    """Book the touchpoint into the state; True when it is the account's first engagement."""
    at = touchpoint.at_ms
    state.touches += 1
    if not activity.known:
        state.unknown_events += 1
    contact = state.contacts.get(touchpoint.contact)
    if contact is None:
        contact = ContactState(
            role=touchpoint.role,
            seniority=touchpoint.seniority,
            title=touchpoint.title,
            known=touchpoint.known_person,
            last_touch_ms=at,
        )
        state.contacts[touchpoint.contact] = contact
    else:
        contact.role = touchpoint.role
        contact.seniority = touchpoint.seniority
        contact.title = touchpoint.title or contact.title
        contact.known = contact.known or touchpoint.known_person
        contact.last_touch_ms = max(contact.last_touch_ms, at)
    contact.touches += 1
    if activity.signal_class in model.mqa.intent_classes and raw_points > 0:
        state.intent_ms = at if state.intent_ms is None else max(state.intent_ms, at)
    if granted <= 0:
        return False

    half_life = model.half_life_ms(activity.signal_class)
    contact.accumulators[activity.signal_class] = decay.add(
        contact.accumulators.get(activity.signal_class), granted, at, half_life
    )
    contact.last_scored_ms = (
        at if contact.last_scored_ms is None else max(contact.last_scored_ms, at)
    )
    bucket = state.daily.setdefault(day_index(at), [0.0, 0])
    bucket[0] += granted
    bucket[1] += 1
    record = TouchRecord(
        at_ms=at,
        message_id=touchpoint.message_id,
        activity=activity.key,
        signal_class=activity.signal_class,
        contact=touchpoint.contact,
        role=touchpoint.role,
        points=round(granted, 4),
        url=touchpoint.url,
    )
    keys = [t.sort_key() for t in state.timeline]
    state.timeline.insert(bisect.bisect(keys, record.sort_key()), record)
    del state.timeline[: max(0, len(state.timeline) - model.state.timeline_size)]
    first = state.first_engaged_ms is None
    state.first_engaged_ms = at if first else min(state.first_engaged_ms or at, at)
    state.last_engaged_ms = at if state.last_engaged_ms is None else max(state.last_engaged_ms, at)
    return first


def _prune(state: AccountState, model: ScoringModel) -> None:
    """Forget detail no rule can use any more (all relative to the account clock)."""
    clock = state.clock_ms
    horizon = clock - int(model.state.max_lateness_days * DAY_MS)
    if state.seen and min(state.seen.values()) < horizon:
        state.seen = {d: t for d, t in state.seen.items() if t >= horizon}
    first_day = day_index(horizon)
    if state.caps:
        stale = [k for k in state.caps if int(k.split("|", 1)[0]) < first_day]
        for key in stale:
            del state.caps[key]
    surge_first = day_index(clock) - model.surge.recent_days - model.surge.baseline_days
    for day in [d for d in state.daily if d < min(surge_first, first_day)]:
        del state.daily[day]
    window_ms = model.buying_group.active_window_days * DAY_MS
    for key in [
        k
        for k, c in state.contacts.items()
        if c.last_touch_ms < clock - window_ms
        and sum(
            decay.value_at(a, clock, model.half_life_ms(cls)) for cls, a in c.accumulators.items()
        )
        < 0.01
    ]:
        del state.contacts[key]


def _rule_fired(
    state: AccountState,
    touchpoint: Touchpoint,
    activity: Activity,
    granted: float,
    model: ScoringModel,
) -> str | None:
    if state.qualified:
        return None
    cooldown_ms = model.mqa.cooldown_days * DAY_MS
    if state.last_mqa_ms is not None and state.clock_ms - state.last_mqa_ms < cooldown_ms:
        return None
    account = state.account
    if (
        activity.act_now
        and granted > 0
        and touchpoint.known_person  # a demo request from a contact, not an anonymous form
        and account.lifecycle in model.mqa.qualifying_lifecycles
        and account.icp_fit >= model.mqa.act_now_min_icp_fit
    ):
        return RULE_ACT_NOW
    if assess(state, model).qualifies:
        return RULE_THRESHOLD
    return None


def _qualify(
    state: AccountState,
    rule: str,
    trigger_message_id: str,
    trigger_source: str | None,
    model: ScoringModel,
) -> dict[str, Any]:
    state.episode += 1
    state.qualified = True
    state.last_mqa_ms = state.clock_ms
    event = build_mqa_event(state, assess(state, model), rule, model)
    state.mqa_history.append(
        MqaRecord(
            mqa_id=event["mqa_id"],
            episode=state.episode,
            rule=rule,
            qualified_at_ms=state.clock_ms,
            trigger_message_id=trigger_message_id,
            trigger_source=trigger_source,
            event=event,
        )
    )
    del state.mqa_history[: max(0, len(state.mqa_history) - MQA_HISTORY_SIZE)]
    return event
