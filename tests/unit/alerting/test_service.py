"""The alert service's pure decisions: when the activity backlog of the start counts as read
(the SLA poller waits for it)."""

from __future__ import annotations

from aiokafka import TopicPartition

from alerting.service import backlog_read

A0, A1 = TopicPartition("t.sales.activity", 0), TopicPartition("t.sales.activity", 1)


def test_the_backlog_is_read_when_every_partition_is_committed_up_to_its_end() -> None:
    ends = {A0: 5, A1: 0}
    assert not backlog_read(ends, {})
    assert not backlog_read(ends, {A0: 4})
    assert backlog_read(ends, {A0: 5})  # A1 was empty: nothing to read there
    assert backlog_read(ends, {A0: 9, A1: 2})  # later records do not hold the checks up
    assert backlog_read({}, {})
