"""Raw-topic keys chosen by the producer: the account, wherever the producer can already tell.

Every producer (replay, collector, simulator) keys through a `Router`, so one account's
touchpoints land in one raw partition in the order they were produced, and the MQAs do not
depend on the partition or worker count. Identify and group calls teach the directory first
(as the Segment HTTP API's consumers do), so the person's later touchpoints route by account too.
"""

from __future__ import annotations

from abm.core.resolution import Unresolved, learn, resolve
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

    async def close(self) -> None:
        if self.directory is not None:
            await self.directory.close()
