"""The alert service's own decisions, without a broker: when the activity backlog of the start
counts as read (the SLA poller waits for it), how its retry waits end when Redis is back, and
how an MQA record is parsed (once, into the typed event) or refused."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
import pytest
from aiokafka import ConsumerRecord, TopicPartition

from abm.core.mqa_event import MqaEvent
from abm_cli.settings import Settings
from alerting.delivery import Outage
from alerting.service import AlertService, backlog_read, parse_mqa
from tests.support.alerting import mqa_event

A0, A1 = TopicPartition("t.sales.activity", 0), TopicPartition("t.sales.activity", 1)


def test_the_backlog_is_read_when_every_partition_is_committed_up_to_its_end() -> None:
    ends = {A0: 5, A1: 0}
    assert not backlog_read(ends, {})
    assert not backlog_read(ends, {A0: 4})
    assert backlog_read(ends, {A0: 5})  # A1 was empty: nothing to read there
    assert backlog_read(ends, {A0: 9, A1: 2})  # later records do not hold the checks up
    assert backlog_read({}, {})


async def test_a_wait_after_a_failure_ends_when_redis_answers_again() -> None:
    outage = Outage()
    waiting = asyncio.ensure_future(outage.wait(1000.0))
    await asyncio.sleep(0)
    outage.over()
    assert await asyncio.wait_for(waiting, 10) is True
    assert await Outage(sleep=lambda s: asyncio.sleep(0)).wait(1000.0) is False


async def test_the_batch_backoff_starts_again_once_a_redis_call_goes_through() -> None:
    """Four failures back off 0.5, 1, 2, 4 s; during the fourth wait Redis answers (the SLA
    poller's check goes through): the wait ends and the next failure waits 0.5 s again, not 8."""
    service = AlertService(Settings(alert_channels="console"))
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 4:
            service.redis_outage.over()
            await asyncio.sleep(3600)
        await asyncio.sleep(0)

    service.redis_outage = Outage(sleep)
    failures = 5

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionError("Redis unreachable")

    await service._until_done(handle, [])
    assert delays == [0.5, 1.0, 2.0, 4.0, 0.5]


def test_an_mqa_record_is_parsed_once_into_the_typed_event() -> None:
    value = mqa_event()
    data, event, problem = parse_mqa(orjson.dumps(value))
    assert (data, problem) == (value, "")
    assert isinstance(event, MqaEvent) and event.to_dict() == value


@pytest.mark.parametrize(
    ("raw", "decoded", "problem"),
    [
        (b"{not json", False, "not JSON: "),
        (None, False, "not JSON: "),  # a tombstone
        (b"[1]", True, "not a JSON object"),
        (orjson.dumps({**mqa_event(), "follow_up": None}), True, "follow_up: missing"),
        (
            orjson.dumps({**mqa_event(), "qualified_at_ms": "soon"}),
            True,
            "qualified_at_ms: not an integer",
        ),
    ],
    ids=["garbage", "tombstone", "not an object", "a part missing", "a field of the wrong type"],
)
def test_an_mqa_record_that_cannot_be_alerted_says_why(
    raw: bytes | None, decoded: bool, problem: str
) -> None:
    data, event, why = parse_mqa(raw)
    assert event is None and why.startswith(problem)
    assert (data is not None) is decoded  # the dead letter keeps the JSON as it came
    # the dead-letter reason: `not_json` for the first two, `invalid_mqa` for the others
    assert why.startswith("not JSON") is not decoded
