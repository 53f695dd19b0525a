"""Engagement agent: touchpoints keyed by account -> account state in a table, MQA events out.

The whole business rule is `abm.core.engagement.apply`; this agent decodes, applies, stores the
new state in the changelog-backed table and sends the MQA event if one fired.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from abm.core.engagement import Outcome, apply
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint
from stream import metrics, topics
from stream.records import header, send_dead_letter

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)
STAGE = "engagement"


def register(pipe: Pipeline) -> None:
    table = pipe.engagement_table

    @pipe.app.agent(pipe.resolved, name=f"{pipe.settings.app_id}-engagement")
    async def engagement(stream: Any) -> None:
        async for event in stream.events():
            try:
                touchpoint = Touchpoint.from_json(event.message.value)
            except (ValueError, KeyError, TypeError) as exc:
                await send_dead_letter(pipe, event, STAGE, "bad_touchpoint", repr(exc))
                continue
            stored = table.get(event.message.key)
            state = AccountState.from_bytes(stored) if stored else None
            source = f"{event.message.partition}/{event.message.offset}"
            outcome = apply(state, touchpoint, pipe.model, source)
            table[event.message.key] = outcome.state.to_bytes()
            if outcome.mqa is not None:
                await _send_mqa(pipe, event, outcome)
            _count(outcome)


async def _send_mqa(pipe: Pipeline, event: Any, outcome: Outcome) -> None:
    assert outcome.mqa is not None
    now_ms = int(time.time() * 1000)
    ingest = header(event, topics.HEADER_INGEST_MS)
    await pipe.mqa.send(
        key=event.message.key,
        value=orjson.dumps(outcome.mqa),
        headers=[
            (topics.HEADER_INGEST_MS, (ingest or str(now_ms)).encode()),
            (topics.HEADER_EMITTED_MS, str(now_ms).encode()),
        ],
    )
    if not outcome.new_mqa:
        metrics.MQA_REEMITTED.inc()
        return
    tier = str(outcome.state.account.tier)
    metrics.MQAS.labels(tier=tier, rule=outcome.mqa["rule"]).inc()
    if ingest is not None:
        metrics.EVENT_TO_MQA.observe(max(0.0, (now_ms - int(ingest)) / 1000))
    engaged = outcome.mqa.get("engaged_to_mqa_seconds")
    if engaged is not None:
        metrics.ENGAGED_TO_MQA.labels(tier=tier).observe(engaged)
    log.info("MQA %s for account %s (%s)", outcome.mqa["mqa_id"], outcome.state.account.account_id,
             outcome.mqa["rule"])  # fmt: skip


def _count(outcome: Outcome) -> None:
    if outcome.duplicate:
        metrics.DUPLICATES.inc()
        return
    if outcome.too_late:
        metrics.TOO_LATE.inc()
        return
    if outcome.activity is not None:
        metrics.SCORED.labels(signal_class=outcome.activity.signal_class).inc()
        if not outcome.activity.known:
            metrics.UNKNOWN_EVENTS.inc()
    tier = str(outcome.state.account.tier)
    if outcome.first_engagement:
        metrics.FIRST_ENGAGEMENTS.labels(tier=tier).inc()
    if outcome.left_qualified:
        metrics.LEFT_QUALIFIED.labels(tier=tier).inc()
