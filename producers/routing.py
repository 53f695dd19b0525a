"""Raw-topic keys chosen by the producer: the account, wherever the producer can already tell.

Every producer (replay, collector, simulator) keys through a `Router`, so one account's
touchpoints land in one raw partition in the order they were produced, and the MQAs do not
depend on the partition or worker count. Identify and group calls teach the directory first
(as the Segment HTTP API's consumers do), so the person's later touchpoints route by account too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from abm.core.resolution import Unresolved, learn, person_key, resolve
from abm.core.segment import SegmentMessage
from abm.directory.store import DirectoryStore
from stream.topics import raw_key


class Router:
    def __init__(self, directory: DirectoryStore | None) -> None:
        self.directory = directory

    async def key_for(self, message: SegmentMessage | None, fallback: str) -> bytes:
        if message is None or self.directory is None:
            return raw_key(message, None, fallback)
        links = learn(message)
        if links is not None:
            await self.directory.learn(links)
        result = resolve(message, await self.directory.view_for(message))
        account_id = None if isinstance(result, Unresolved) else result.account.account_id
        return raw_key(message, account_id, fallback)

    async def keys_for(self, messages: Sequence[tuple[SegmentMessage | None, str]]) -> list[bytes]:
        """Keys of (message, fallback) pairs, the same as `key_for` one after the other.

        What a message teaches (identify, group) only changes the keys of the same person's
        later messages, so each person's messages are keyed in order while different persons
        are keyed concurrently (one Redis round trip per step instead of per message).
        """
        keys: list[bytes] = [b""] * len(messages)
        chains: dict[str, list[int]] = {}
        for index, (message, _) in enumerate(messages):
            person = person_key(message.user_id, message.anonymous_id) if message else None
            chains.setdefault(person or f"#{index}", []).append(index)

        async def run(indices: list[int]) -> None:
            for index in indices:
                message, fallback = messages[index]
                keys[index] = await self.key_for(message, fallback)

        await asyncio.gather(*(run(indices) for indices in chains.values()))
        return keys

    async def close(self) -> None:
        if self.directory is not None:
            await self.directory.close()
