"""The remembering partitioner chooses as Kafka's default one does, within its bound."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from stream.partitioning import REMEMBERED_KEYS, RememberingPartitioner, partition_of


@pytest.mark.parametrize("count", [1, 2, 4, 7, 12])
def test_chooses_the_partition_of_the_default_partitioner(count: int) -> None:
    partitions = list(range(count))
    remembering, default = RememberingPartitioner(), DefaultPartitioner()
    keys = [f"acct-{n}".encode() for n in range(500)] + [b"", "zürich-ö".encode()]
    for _ in range(2):  # the second time from memory
        for key in keys:
            assert remembering(key, partitions, partitions) == default(key, partitions, partitions)


def test_partition_of_is_the_default_partitioners_choice() -> None:
    for count in (1, 4, 7):
        for key in (b"", b"acct-1", "zürich".encode()):
            assert partition_of(key, count) == DefaultPartitioner()(key, list(range(count)), [])


def test_a_key_keeps_its_partition_when_the_count_changes_its_choice() -> None:
    remembering = RememberingPartitioner()
    chosen = {count: remembering(b"acct-42", list(range(count)), []) for count in (3, 4, 5)}
    assert chosen == {
        count: DefaultPartitioner()(b"acct-42", list(range(count)), []) for count in (3, 4, 5)
    }
    assert len(remembering) == 3  # one choice per partition count


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    remembering = RememberingPartitioner()
    assert {remembering(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert len(remembering) == 0


def test_remembers_at_most_its_bound() -> None:
    remembering = RememberingPartitioner(size=10)
    for n in range(95):
        remembering(f"acct-{n}".encode(), [0, 1, 2, 3], [0, 1, 2, 3])
        assert len(remembering) <= 10
    assert len(remembering) == 5  # emptied at 90, five since
    assert REMEMBERED_KEYS == 65_536


def test_refuses_a_bound_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RememberingPartitioner(size=0)
