"""One touchpoint in, the account's new state and at most one MQA event out.

`apply(state, touchpoint, model) -> Outcome` is the whole per-event business logic of the
engagement step: dedupe, lateness, caps, decay, buying-group bookkeeping, hysteresis, cooldown
and the MQA rule, as docs/scoring.md states them. The state is updated in place and returned;
the stream agent only stores it and sends `outcome.mqa`.

Its cost does not grow with the account's history: every structure of the state is bounded
(`abm.core.state.Bounds`), old detail is pruned once per day of the account's clock, and the
rule tests its cheap necessary conditions (lifecycle, fit, recent intent, score, stakeholders)
before it assesses coverage and surge.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Final

import orjson

from abm.core import decay
from abm.core.assessment import account_score, assess, is_active, share_cap
from abm.core.explain import RULE_ACT_NOW, RULE_THRESHOLD, build_mqa_event
from abm.core.model import DAY_MS, ScoringModel
from abm.core.scoring import Activity, classify, multiplier
from abm.core.state import (
    BOUNDS,
    AccountState,
    Bounds,
    ContactState,
    MqaRecord,
    TouchRecord,
    cap_key,
    message_digest,
    short_event,
    short_key,
    short_text,
)
from abm.core.timefmt import day_index
from abm.core.touchpoint import Touchpoint

MQA_HISTORY_SIZE = BOUNDS.mqa_history
WEB_BUCKET: Final = "~web"
"""The cap ledger's bucket of low-intent web reading, per contact and day."""


@dataclass(slots=True)
class Outcome:
    """What one touchpoint did (read-only by convention: not frozen, because one is made per
    touchpoint and a frozen dataclass costs about 4 us more to make)."""

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


def new_state(touchpoint: Touchpoint) -> AccountState:
    return AccountState(account=touchpoint.account, clock_ms=touchpoint.at_ms)


def parse_source(source: str | None) -> tuple[int, int] | None:
    """`partition/offset` of an input record, or None (offline runs, unknown form)."""
    if source is None:
        return None
    partition, _, offset = source.partition("/")
    try:
        return int(partition), int(offset)
    except ValueError:
        return None


def apply(
    state: AccountState | None,
    touchpoint: Touchpoint,
    model: ScoringModel,
    source: str | None = None,
    bounds: Bounds = BOUNDS,
) -> Outcome:
    """`source` names the input record (`partition/offset`). A record at or below the state's
    offset watermark of its partition was applied before: a redelivery, which re-sends the MQA
    it triggered, if any. A known message id from a newer record is a sender's retry and changes
    nothing (the recent `bounds.seen_digests` ids are remembered). A touchpoint behind the
    lateness horizon is too late (docs/scoring.md, "Dedupe and late touchpoints")."""
    if state is None:
        state = new_state(touchpoint)

    position = parse_source(source)
    mark = state.watermark
    if (
        position is not None
        and mark is not None
        and position[0] == mark[0]
        and position[1] <= mark[1]
    ):
        return Outcome(state, mqa=_redelivered_mqa(state, source), duplicate=True)
    digest = message_digest(touchpoint.message_id)
    if digest in state.seen:
        return Outcome(state, mqa=_redelivered_mqa(state, source), duplicate=True)
    if position is not None:
        state.watermark = position
    # The directory's latest word on tier, fit, lifecycle; not from a redelivery, whose
    # snapshot may be older than the one the state already has.
    state.account = touchpoint.account
    lateness_ms = model.state.max_lateness_days * DAY_MS
    if touchpoint.at_ms < state.clock_ms - lateness_ms:
        return Outcome(state, too_late=True)

    clock = max(state.clock_ms, touchpoint.at_ms)
    left_qualified = _hysteresis_exit(state, clock, model)
    state.clock_ms = clock
    _remember(state, digest, bounds)

    activity = classify(touchpoint, model)
    raw_points = activity.points * multiplier(touchpoint, model)
    granted = _grant(state, touchpoint, activity, raw_points, model, bounds)
    first = _record(state, touchpoint, digest, activity, raw_points, granted, model, bounds)
    _prune(state, model, bounds)

    rule = _rule_fired(state, touchpoint, activity, granted, model)
    mqa: dict[str, Any] | None = None
    if rule is not None:
        mqa = _qualify(state, rule, touchpoint.message_id, source, model, bounds)
    return Outcome(
        state,
        mqa=mqa,
        new_mqa=mqa is not None,
        activity=activity,
        points=granted,
        first_engagement=first,
        left_qualified=left_qualified,
    )


def _redelivered_mqa(state: AccountState, source: str | None) -> dict[str, Any] | None:
    """The last MQA's event when `source` is the very record that triggered it."""
    last = state.mqa_history[-1] if state.mqa_history else None
    if last is not None and source is not None and last.trigger_source == source:
        return last.event
    return None


def _remember(state: AccountState, digest: str, bounds: Bounds) -> None:
    """Add a message digest to the dedupe window of the latest applied touchpoints."""
    seen = state.seen
    seen[digest] = None
    if len(seen) > bounds.seen_digests:
        del seen[next(iter(seen))]


def _hysteresis_exit(state: AccountState, clock: int, model: ScoringModel) -> bool:
    """A qualified account whose score, decayed to `clock` and before this touchpoint, fell
    under the exit share of its threshold leaves qualified (a new episode becomes possible;
    docs/scoring.md, "One MQA per episode: leaving qualified and the cool-down")."""
    if not state.qualified:
        return False
    tier = state.account.tier
    exit_score = model.mqa.exit_ratio * model.threshold(tier)
    floor = state.score_floor
    if floor is not None and floor[2] == tier:
        score, at_ms, _ = floor
        lowest = score * 2.0 ** (-(clock - at_ms) / model.shortest_half_life_ms)
        if lowest > exit_score * (1 + 1e-9) + 1e-6:
            return False  # the exact score cannot be under the exit either
    score = account_score(state, clock, model)
    state.score_floor = (score, clock, tier)
    if score < exit_score:
        state.qualified = False
        return True
    return False


def _grant(
    state: AccountState,
    touchpoint: Touchpoint,
    activity: Activity,
    raw_points: float,
    model: ScoringModel,
    bounds: Bounds,
) -> float:
    """Daily caps. A single touchpoint always counts in full; the caps stop *repeats* of one
    activity (and of low-intent web reading) by one contact in one UTC day from piling up
    (docs/scoring.md, "Daily caps (per person, per UTC day)")."""
    if raw_points <= 0:
        return 0.0
    day = day_index(touchpoint.at_ms)
    contact = touchpoint.contact
    caps = state.caps
    buckets = [(cap_key(day, contact, activity.key), model.caps.per_contact_activity_day)]
    if activity.signal_class == "web":
        buckets.append((cap_key(day, contact, WEB_BUCKET), model.caps.per_contact_web_day))
    granted = raw_points
    for key, cap in buckets:
        granted = min(granted, max(0.0, max(cap, raw_points) - caps.get(key, 0.0)))
    if granted > 0:
        for key, _ in buckets:
            caps[key] = caps.get(key, 0.0) + granted
        if len(caps) > bounds.cap_entries:
            _trim_caps(caps, bounds.cap_entries)
    return granted


def _trim_caps(caps: dict[str, float], limit: int) -> None:
    """Down to three quarters of `limit` (so that trimming is rare): the oldest days' entries
    first, then the earliest-made entries of a day."""
    order = sorted(caps, key=lambda k: int(k.split("|", 1)[0]))  # stable: insertion order kept
    for key in order[: len(caps) - limit * 3 // 4]:
        del caps[key]


def _record(
    state: AccountState,
    touchpoint: Touchpoint,
    digest: str,
    activity: Activity,
    raw_points: float,
    granted: float,
    model: ScoringModel,
    bounds: Bounds,
) -> bool:
    """Book the touchpoint into the state; True when it is the account's first engagement."""
    at = touchpoint.at_ms
    state.touches += 1
    if not activity.known:
        state.unknown_events += 1
    key = short_key(touchpoint.contact, bounds.text_chars)
    contact = state.contacts.get(key)
    if contact is None:
        contact = ContactState(
            role=touchpoint.role,
            seniority=touchpoint.seniority,
            title=short_text(touchpoint.title, bounds.text_chars),
            known=touchpoint.known_person,
            last_touch_ms=at,
        )
        state.contacts[key] = contact
        _bound_contacts(state, key, contact.known, model, bounds)
    else:
        contact.role = touchpoint.role
        contact.seniority = touchpoint.seniority
        if touchpoint.title:
            contact.title = short_text(touchpoint.title, bounds.text_chars)
        if touchpoint.known_person and not contact.known:
            contact.known = True
            _bound_contacts(state, key, True, model, bounds)
        if at > contact.last_touch_ms:
            contact.last_touch_ms = at
    contact.touches += 1
    cls = activity.signal_class
    intent = raw_points > 0 and cls in model.mqa.intent_classes
    if intent and (state.intent_ms is None or at > state.intent_ms):
        state.intent_ms = at
    if granted <= 0:
        return False

    contact.accumulators[cls] = decay.add(
        contact.accumulators.get(cls), granted, at, model.half_lives_ms[cls]
    )
    if contact.last_scored_ms is None or at > contact.last_scored_ms:
        contact.last_scored_ms = at
    day = at // DAY_MS
    bucket = state.daily.get(day)
    if bucket is None:
        state.daily[day] = [granted, 1]
    else:
        bucket[0] += granted
        bucket[1] += 1
    record = TouchRecord(
        at_ms=at,
        message_digest=digest,
        activity=activity.key,
        signal_class=activity.signal_class,
        contact=key,
        role=touchpoint.role,
        points=round(granted, 4),
        url=short_text(touchpoint.url, bounds.text_chars),
    )
    timeline = state.timeline
    newest = timeline[-1] if timeline else None
    if newest is None or (newest.at_ms, newest.message_digest) <= (at, digest):
        timeline.append(record)  # the usual case: the newest touchpoint
    else:
        timeline.insert(
            bisect.bisect(timeline, record.sort_key(), key=TouchRecord.sort_key), record
        )
    if len(timeline) > model.state.timeline_size:
        del timeline[: len(timeline) - model.state.timeline_size]
    first = state.first_engaged_ms is None
    if first or at < (state.first_engaged_ms or at):
        state.first_engaged_ms = at
    if state.last_engaged_ms is None or at > state.last_engaged_ms:
        state.last_engaged_ms = at
    return first


def _bound_contacts(
    state: AccountState, keep: str, known: bool, model: ScoringModel, bounds: Bounds
) -> None:
    """Keep at most `bounds.known_contacts` known people and `bounds.anonymous_visitors`
    anonymous ones; fold the ones to let go (never `keep`, the one just touched) into the
    remainder."""
    limit = bounds.known_contacts if known else bounds.anonymous_visitors
    group = [(k, c) for k, c in state.contacts.items() if c.known == known]
    excess = len(group) - limit
    if excess <= 0:
        return
    clock = state.clock_ms
    window_ms = model.buying_group.active_window_days * DAY_MS

    def rank(item: tuple[str, ContactState]) -> tuple[bool, int, int, str]:
        # Inactive before active, then the least recently scored, then the least recent touch.
        key, contact = item
        scored = contact.last_scored_ms
        return (
            scored is not None and scored > clock - window_ms,
            scored if scored is not None else -1,
            contact.last_touch_ms,
            key,
        )

    candidates = [item for item in group if item[0] != keep]
    if excess == 1:
        _fold(state, min(candidates, key=rank)[0], model)
        return
    for key, _ in sorted(candidates, key=rank)[:excess]:
        _fold(state, key, model)


def _fold(state: AccountState, key: str, model: ScoringModel) -> None:
    """Move a contact's points, as much as they count now (after the per-contact cap), into the
    account's remainder: the score does not change at the moment of folding."""
    contact = state.contacts.pop(key)
    clock = state.clock_ms
    values = {
        cls: decay.value_at(acc, clock, model.half_life_ms(cls))
        for cls, acc in contact.accumulators.items()
    }
    total = sum(values.values())
    cap = share_cap(state, model)
    factor = 1.0 if total <= cap or total <= 0 else cap / total
    for cls, value in values.items():
        if value > 0:
            state.remainder[cls] = decay.add(
                state.remainder.get(cls), value * factor, clock, model.half_life_ms(cls)
            )
    state.folded_ms = clock


def _prune(state: AccountState, model: ScoringModel, bounds: Bounds) -> None:
    """Forget detail no rule can use any more (all relative to the account clock), once per UTC
    day of the clock: cap entries of days before `bounds.cap_days`, surge days out of its
    window, and contacts a month idle whose points fell under 0.01."""
    today = day_index(state.clock_ms)
    if state.pruned_day == today:
        return
    converted = state.pruned_day is None  # new, or read from an unbounded version
    state.pruned_day = today
    state.score_floor = None  # pruning may take away (tiny) points
    clock = state.clock_ms
    if state.caps:
        first_cap_day = f"{today - bounds.cap_days + 1}"
        # Day numbers have the same number of digits for millennia: text order is day order.
        stale = [k for k in state.caps if k < first_cap_day]
        for key in stale:
            del state.caps[key]
    first_day = min(
        day_index(clock - int(model.state.max_lateness_days * DAY_MS)),
        today - model.surge.recent_days - model.surge.baseline_days,
    )
    if state.daily and min(state.daily) < first_day:
        for day in [d for d in state.daily if d < first_day]:
            del state.daily[day]
    idle_before = clock - model.buying_group.active_window_days * DAY_MS
    half_lives = model.half_lives_ms
    forgotten = [
        key
        for key, c in state.contacts.items()
        if c.last_touch_ms < idle_before
        and sum(decay.value_at(a, clock, half_lives[cls]) for cls, a in c.accumulators.items())
        < 0.01
    ]
    for key in forgotten:
        del state.contacts[key]
    if state.remainder:
        for cls in [
            c
            for c, acc in state.remainder.items()
            if decay.value_at(acc, clock, half_lives[c]) < 0.01
        ]:
            del state.remainder[cls]
    if converted:  # bring a state of an unbounded version within the bounds at once
        for known in (True, False):
            _bound_contacts(state, "", known, model, bounds)
        if len(state.seen) > bounds.seen_digests:
            state.seen = dict.fromkeys(list(state.seen)[-bounds.seen_digests :])
        if len(state.caps) > bounds.cap_entries:
            _trim_caps(state.caps, bounds.cap_entries)


def _rule_fired(
    state: AccountState,
    touchpoint: Touchpoint,
    activity: Activity,
    granted: float,
    model: ScoringModel,
) -> str | None:
    """The rule this touchpoint fires, act now first, or None (docs/scoring.md, "The MQA
    rules")."""
    if state.qualified:
        return None
    rule = model.mqa
    cooldown_ms = rule.cooldown_days * DAY_MS
    if state.last_mqa_ms is not None and state.clock_ms - state.last_mqa_ms < cooldown_ms:
        return None
    account = state.account
    if account.lifecycle not in rule.qualifying_lifecycles:
        return None  # both rules need a qualifying lifecycle
    if (
        activity.act_now
        and granted > 0
        and touchpoint.known_person  # a demo request from a contact, not an anonymous form
        and account.icp_fit >= rule.act_now_min_icp_fit
    ):
        return RULE_ACT_NOW
    if _threshold_rule_may_fire(state, model) and assess(state, model).qualifies:
        return RULE_THRESHOLD
    return None


def _threshold_rule_may_fire(state: AccountState, model: ScoringModel) -> bool:
    """The threshold rule's cheap necessary conditions, so that most touchpoints never pay for
    a full assessment (coverage, surge, explanation numbers). `assess(...).qualifies` decides."""
    rule = model.mqa
    clock = state.clock_ms
    if state.account.icp_fit < rule.min_icp_fit:
        return False
    if state.intent_ms is None or state.intent_ms <= clock - rule.intent_window_days * DAY_MS:
        return False
    active = sum(1 for c in state.contacts.values() if is_active(c, clock, model))
    if active < rule.min_active_stakeholders:
        return False
    return account_score(state, clock, model) >= model.threshold(state.account.tier)


def _qualify(
    state: AccountState,
    rule: str,
    trigger_message_id: str,
    trigger_source: str | None,
    model: ScoringModel,
    bounds: Bounds,
) -> dict[str, Any]:
    state.episode += 1
    state.qualified = True
    state.last_mqa_ms = state.clock_ms
    # The state keeps, and the agent sends, the event's dict form: MQA records and stored
    # states are the same bytes as before the event was typed (`MqaEvent.to_json`).
    event = build_mqa_event(state, assess(state, model), rule, model).to_dict()
    history = state.mqa_history
    history.append(
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
    del history[: max(0, len(history) - bounds.mqa_history)]
    _shorten_old_events(history, bounds.mqa_event_bytes)
    return event


def _shorten_old_events(history: list[MqaRecord], budget: int) -> None:
    """Keep full explanations, newest first, while they fit `budget` bytes; the latest always."""
    used = 0
    for index in range(len(history) - 1, -1, -1):
        record = history[index]
        used += len(orjson.dumps(record.event))
        if index < len(history) - 1 and used > budget:
            record.event = short_event(record.event)
