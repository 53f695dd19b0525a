"""Follow-up SLA state in Redis, so timers survive restarts (the rules are in `alerting.sla`).

| key | type | value |
|---|---|---|
| `{prefix}:alert:sla:{mqa_id}` | string | the SLA record JSON (`alerting.sla.SlaRecord`) |
| `{prefix}:alert:sla-due` | sorted set | MQA ids open or owing an escalation, by due ms |
| `{prefix}:alert:sla-open:{account_id}` | set | MQA ids of the account whose SLA is open |
| `{prefix}:alert:sla-late:{account_id}` | sorted set | MQA ids breached, not followed up; by due |
| `{prefix}:alert:sla-activity:{account_id}` | sorted set | activity ids of the account by ms |
| `{prefix}:alert:sla-activity-kind:{account_id}` | hash | activity id -> kind |

The late set keeps at most `LATE_MAX` MQAs per account, none due more than `RECORD_TTL_S`
before the newest. Every change of a record is a WATCH/MULTI transaction on its key, so the
follow-up consumer and the due-time poller can race without losing a transition or counting one
twice. Records are kept `RECORD_TTL_S` after they close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from abm.core.mqa_event import MqaEvent
from alerting import sla
from alerting.sla import FollowUp, SlaRecord, Transition

RECORD_TTL_S: Final = 90 * 86_400
ACTIVITY_HORIZON_MS: Final = 60 * 86_400_000
LATE_MAX: Final = 100
"""Breached SLAs per account still waiting for a (late) follow-up: the newest ones by due time
are kept, so an account nobody follows up does not grow the set without end."""


class SlaStore:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._p = f"{prefix}:alert"

    def _record(self, mqa_id: str) -> str:
        return f"{self._p}:sla:{mqa_id}"

    @property
    def _due(self) -> str:
        return f"{self._p}:sla-due"

    def _open(self, account_id: str) -> str:
        return f"{self._p}:sla-open:{account_id}"

    def _late(self, account_id: str) -> str:
        return f"{self._p}:sla-late:{account_id}"

    def _activity(self, account_id: str) -> str:
        return f"{self._p}:sla-activity:{account_id}"

    def _activity_kind(self, account_id: str) -> str:
        return f"{self._p}:sla-activity-kind:{account_id}"

    async def get(self, mqa_id: str) -> SlaRecord | None:
        raw = await self._redis.get(self._record(mqa_id))
        return None if raw is None else SlaRecord.from_bytes(raw)

    async def open(
        self, event: MqaEvent, now_ms: int, owner_email: str | None,
        owner_slack_id: str | None,
    ) -> tuple[SlaRecord, Transition, bool]:  # fmt: skip
        """The SLA of an MQA, opened now if it is new; (record, transition, created)."""
        key = self._record(event.mqa_id)
        earlier = await self._first_activity(event.account.id, event.qualified_at_ms)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is not None:
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return SlaRecord.from_bytes(raw), sla.NOTHING, False
                    record, transition = sla.open_record(
                        event, now_ms, owner_email, owner_slack_id, earlier
                    )
                    pipe.multi()  # type: ignore[no-untyped-call]
                    self._write(pipe, record)
                    await pipe.execute()
                    return record, transition, True
                except WatchError:
                    continue

    def _write(self, pipe: Any, record: SlaRecord) -> None:
        key = self._record(record.mqa_id)
        pipe.set(key, record.to_bytes())
        if record.state == "open" or record.escalation_due:
            pipe.persist(key)
            pipe.zadd(self._due, {record.mqa_id: record.due_ms})
        else:
            pipe.expire(key, RECORD_TTL_S)
            pipe.zrem(self._due, record.mqa_id)
        if record.state == "open":
            pipe.sadd(self._open(record.account_id), record.mqa_id)
        else:
            pipe.srem(self._open(record.account_id), record.mqa_id)
        late = self._late(record.account_id)
        if record.state == "breached" and record.followed_up_ms is None:
            # a follow-up after the breach is still recorded (its time, abm_followup_seconds)
            pipe.zadd(late, {record.mqa_id: record.due_ms})
            pipe.zremrangebyscore(late, "-inf", record.due_ms - RECORD_TTL_S * 1000)
            pipe.zremrangebyrank(late, 0, -LATE_MAX - 1)
            pipe.expire(late, RECORD_TTL_S)
        else:
            pipe.zrem(late, record.mqa_id)

    async def _update(
        self, mqa_id: str, change: Callable[[SlaRecord], tuple[SlaRecord, Transition]]
    ) -> tuple[SlaRecord | None, Transition]:
        key = self._record(mqa_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return None, sla.NOTHING
                    before = SlaRecord.from_bytes(raw)
                    after, transition = change(before)
                    if after == before:
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return before, transition
                    pipe.multi()  # type: ignore[no-untyped-call]
                    self._write(pipe, after)
                    await pipe.execute()
                    return after, transition
                except WatchError:
                    continue

    async def record_activity(
        self, account_id: str, follow_up: FollowUp
    ) -> list[tuple[SlaRecord, Transition]]:
        """Apply a follow-up to the account's open SLAs and to those breached without a
        follow-up yet (its time is recorded either way; an acknowledgement: to its own MQA),
        and remember it for MQAs that have not arrived yet."""
        if follow_up.mqa_id is not None:
            ids = [follow_up.mqa_id]
        else:
            members = await self._redis.smembers(self._open(account_id))
            late = await self._redis.zrange(self._late(account_id), 0, -1)
            ids = sorted(
                {m.decode() if isinstance(m, bytes) else str(m) for m in [*members, *late]}
            )
            async with self._redis.pipeline(transaction=True) as pipe:
                activity = self._activity(account_id)
                pipe.zadd(activity, {follow_up.activity_id: follow_up.at_ms})
                pipe.hset(self._activity_kind(account_id), follow_up.activity_id, follow_up.kind)
                pipe.zremrangebyscore(activity, "-inf", follow_up.at_ms - ACTIVITY_HORIZON_MS)
                pipe.expire(activity, ACTIVITY_HORIZON_MS // 1000)
                pipe.expire(self._activity_kind(account_id), ACTIVITY_HORIZON_MS // 1000)
                await pipe.execute()
        changed = []
        for mqa_id in ids:
            record, transition = await self._update(mqa_id, lambda r: sla.follow_up(r, follow_up))
            if record is None:  # expired: nothing left to follow up
                await self._redis.zrem(self._late(account_id), mqa_id)
            elif record.account_id == account_id:
                changed.append((record, transition))
        return changed

    async def _first_activity(self, account_id: str, since_ms: int) -> FollowUp | None:
        found = await self._redis.zrangebyscore(
            self._activity(account_id), since_ms, "+inf", start=0, num=1, withscores=True
        )
        if not found:
            return None
        member, score = found[0][0], found[0][1]
        activity_id = member.decode() if isinstance(member, bytes) else str(member)
        kind = await self._redis.hget(self._activity_kind(account_id), activity_id)
        kind_text = kind.decode() if isinstance(kind, bytes) else str(kind or "activity")
        return FollowUp(at_ms=int(score), kind=kind_text, activity_id=activity_id)

    async def due(self, now_ms: int, limit: int = 100) -> list[tuple[SlaRecord, Transition]]:
        """Breach every open SLA whose due time passed; returns the records that owe an
        escalation (new breaches, and older ones whose escalation did not finish)."""
        ids = await self._redis.zrangebyscore(self._due, "-inf", now_ms, start=0, num=limit)
        owed = []
        for member in ids:
            mqa_id = member.decode() if isinstance(member, bytes) else str(member)
            record, transition = await self._update(mqa_id, lambda r: sla.check_due(r, now_ms))
            if record is None:
                await self._redis.zrem(self._due, mqa_id)
            elif record.escalation_due:
                owed.append((record, transition))
        return owed

    async def escalated(self, mqa_id: str, now_ms: int) -> bool:
        """Mark the escalation delivered; False when it already was, also when two checks
        race at the same clock time (only the one whose transaction made the change counts)."""
        made = False

        def change(record: SlaRecord) -> tuple[SlaRecord, Transition]:
            nonlocal made
            made = record.escalation_due  # the last run is the one that was committed
            return (sla.escalated(record, now_ms) if made else record), sla.NOTHING

        record, _ = await self._update(mqa_id, change)
        return record is not None and made
