"""The worker producer's partitioner: Kafka's default choice, remembered per key.

A record with a key goes to partition `murmur2(key) mod n`, as with the Java client, so the
resolved touchpoints, the MQAs and the table's changelog of an account share the partition
number with anything else that keys by account id. aiokafka computes murmur2 in pure Python for
every record: 2-3% of one worker's time in a profile (docs/benchmarks.md, the eleventh run). The
keys repeat (account ids), so the choice is remembered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aiokafka.partitioner import DefaultPartitioner, murmur2

REMEMBERED_KEYS: Final = 65_536
"""Bound of the remembered choices (key, partition count): about 140 bytes each with a key of
13 bytes (measured with tracemalloc), so about 9 MB when full. When full, the memory is emptied
and refills from the keys seen next."""


def partition_of(key: bytes, count: int) -> int:
    """The partition Kafka's default partitioner gives `key` among `count` partitions: murmur2
    of the key, as the Java client. The one definition of where an account's records go."""
    return int(murmur2(key) & 0x7FFFFFFF) % count


class RememberingPartitioner:
    """aiokafka's `DefaultPartitioner`, with the index chosen for each key remembered (up to
    `size` keys and partition counts). A record without a key goes to a random partition, as
    there."""

    def __init__(self, size: int = REMEMBERED_KEYS) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, not {size}")
        self.size = size
        self._chosen: dict[tuple[bytes, int], int] = {}
        self._default = DefaultPartitioner()

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:
            return int(self._default(key, all_partitions, available))
        count = len(all_partitions)
        index = self._chosen.get((key, count))
        if index is None:
            index = partition_of(key, count)
            if len(self._chosen) >= self.size:
                self._chosen.clear()
            self._chosen[key, count] = index
        return all_partitions[index]

    def __len__(self) -> int:
        """How many choices are remembered."""
        return len(self._chosen)
