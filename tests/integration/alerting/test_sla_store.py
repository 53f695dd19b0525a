"""The SLA store on a real Redis: a follow-up after a breach is still recorded (its time and
kind; the SLA stays breached), and the per-account set of breached SLAs waiting for one is
bounded."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from abm.core.mqa_event import MqaEvent
from abm.infra.process import free_port
from alerting.sla import FollowUp
from alerting.sla_store import LATE_MAX, SlaStore
from tests.support.alerting import mqa_event, typed_mqa_event
from tests.support.factories import HOUR, MINUTE, T0

pytestmark = pytest.mark.integration


async def test_a_follow_up_after_the_breach_is_recorded(client: aioredis.Redis) -> None:
    store = SlaStore(client, f"t-sla-{free_port()}")
    event = typed_mqa_event("latecall", act_now=True)  # due T0 + 30 min
    await store.open(event, T0 + MINUTE, "ae@vendor.example", "U0AE")
    [(breached, _)] = await store.due(T0 + 31 * MINUTE)
    assert breached.state == "breached" and breached.followed_up_ms is None
    call = FollowUp(at_ms=T0 + 2 * HOUR, kind="call", activity_id="crm-late")
    [(record, transition)] = await store.record_activity("latecall", call)
    assert (record.state, record.followed_up_ms, record.follow_up_kind) == (
        "breached", T0 + 2 * HOUR, "call")  # fmt: skip
    assert transition.outcome is None  # counted once, as breached, already
    assert transition.follow_up_seconds == record.follow_up_seconds == 2 * 3600
    stored = await store.get(event.mqa_id)
    assert stored == record
    # only the first follow-up counts
    again = FollowUp(at_ms=T0 + 3 * HOUR, kind="meeting", activity_id="crm-later")
    assert await store.record_activity("latecall", again) == []


async def test_breached_slas_waiting_for_a_follow_up_are_bounded_per_account(
    client: aioredis.Redis,
) -> None:
    prefix = f"t-sla-{free_port()}"
    store = SlaStore(client, prefix)
    base = mqa_event("neverfollowed", act_now=True)
    for n in range(LATE_MAX + 5):
        event = {**base, "mqa_id": f"mqa_late_{n:03d}",
                 "follow_up": {**base["follow_up"], "due_at_ms": T0 + 30 * MINUTE + n}}  # fmt: skip
        await store.open(MqaEvent.from_dict(event), T0 + MINUTE, None, None)
    assert len(await store.due(T0 + HOUR, limit=LATE_MAX + 5)) == LATE_MAX + 5
    late = await client.zrange(f"{prefix}:alert:sla-late:neverfollowed", 0, -1)
    assert len(late) == LATE_MAX
    assert late[0] == b"mqa_late_005" and late[-1] == f"mqa_late_{LATE_MAX + 4:03d}".encode()


async def test_an_escalation_is_marked_once_when_two_checks_race(client: aioredis.Redis) -> None:
    """The poller and another check both delivered the escalation (the ledger sent it once)
    and both mark it at the same clock time: only one of them counts it."""
    store = SlaStore(client, f"t-sla-{free_port()}")
    event = typed_mqa_event("raced", act_now=True)
    await store.open(event, T0 + MINUTE, None, None)
    [(record, _)] = await store.due(T0 + HOUR)
    assert record.escalation_due
    assert await store.escalated(event.mqa_id, T0 + 2 * HOUR) is True
    assert await store.escalated(event.mqa_id, T0 + 2 * HOUR) is False
