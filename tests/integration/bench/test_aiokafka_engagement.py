"""The hand-written aiokafka loop of figure `peer` (the framework-free floor), on the test run's
broker: it applies every touchpoint, sends the reference's MQA, writes each changed account
once, and does not end before its idle time has passed without a record, as the agent it is
compared with cannot."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from abm.core.engagement import apply
from bench.peers.aiokafka_engagement import run
from tests.support.factories import account, default_model, qualifying_group

pytestmark = pytest.mark.integration


async def test_the_loop_applies_everything_and_writes_after_its_idle_time(
    kafka_bootstrap: str,
) -> None:
    name = f"peer-test-{uuid.uuid4().hex[:8]}"
    source, changelog, mqa = f"{name}.resolved", f"{name}.changelog", f"{name}.mqa"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 1, 1) for t in (source, changelog, mqa)])
    finally:
        await admin.close()
    acme = account("acme", tier=1)
    touchpoints = qualifying_group(account_record=acme)
    state, expected = None, []
    for offset, tp in enumerate(touchpoints):  # the reference, as the loop names its sources
        outcome = apply(state, tp, default_model(), f"0/{offset}")
        state = outcome.state
        if outcome.new_mqa and outcome.mqa is not None:
            expected.append(outcome.mqa["mqa_id"])
    assert len(expected) == 1
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for tp in touchpoints:
            await producer.send_and_wait(source, tp.to_json(), key=b"acme", partition=0)
    finally:
        await producer.stop()

    idle_ms = 400
    result = await run(
        kafka_bootstrap, source, changelog, mqa, f"{name}-group", len(touchpoints),
        batch=500, wait_ms=5, linger_ms=5, flush_ms=10_000, idle_ms=idle_ms,
    )  # fmt: skip

    assert result["processed"] == len(touchpoints)
    assert result["mqas"] == expected
    assert result["changelog_records"] == 1  # one account, written once
    # the touchpoints took a few ms; the write came only after the idle time without a record
    assert result["seconds"] >= idle_ms / 1000
