"""Raw-topic keys chosen by the producer: the account, wherever the producer can already tell.

Every producer (replay, collector, simulator) keys through a `Router`, so one account's
touchpoints land in one raw partition in the order they were produced, and the MQAs do not
depend on the partition or worker count. Identify and group calls teach the directory first
(as the Segment HTTP API's consumers do), so the person's later touchpoints route by account too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from abm.core.resolution import LearnedLinks, Unresolved, account_of, learn
from abm.core.segment import SegmentMessage, parse_message
from abm.directory.store import DirectoryStore
from stream.topics import raw_key


def routable(value: bytes) -> SegmentMessage | None:
    """The message a raw record is keyed (and checked against the suppression list) by: the
    record parsed with no size limit of its own (the sender has applied its limit), or None for
    one that is not a message, which is keyed by its fallback and dead-lettered by the worker."""
    parsed = parse_message(value, max_bytes=len(value) + 1)
    return parsed if isinstance(parsed, SegmentMessage) else None


class Router:
    def __init__(self, directory: DirectoryStore | None) -> None:
        self.directory = directory

    async def key_for(self, message: SegmentMessage | None, fallback: str) -> bytes:
        if message is None or self.directory is None:
            return raw_key(message, None, fallback)
        links = learn(message)
        if links is not None:
            await self.directory.learn(links)
        result = account_of(message, await self.directory.view_for(message))
        account_id = None if isinstance(result, Unresolved) else result[0].account_id
        return raw_key(message, account_id, fallback)

    async def keys_for(self, messages: Sequence[tuple[SegmentMessage | None, str]]) -> list[bytes]:
        """Keys of (message, fallback) pairs of one request, in two directory round trips.

        Every identify and group call of the request teaches the directory first (each
        person's calls in order), then all messages are resolved together. A message that comes
        before its person's group call in the same request is therefore keyed by the account
        the call names: the same account the worker will resolve it to, since the worker reads
        the directory after the collector taught it.
        """
        if self.directory is None:
            return [raw_key(message, None, fallback) for message, fallback in messages]
        directory = self.directory
        chains: dict[str, list[LearnedLinks]] = {}
        for message, _ in messages:
            links = learn(message) if message is not None else None
            if links is not None:
                chains.setdefault(links.person, []).append(links)

        async def teach(chain: list[LearnedLinks]) -> None:
            for links in chain:
                await directory.learn(links)

        await asyncio.gather(*(teach(chain) for chain in chains.values()))
        parsed = [message for message, _ in messages if message is not None]
        views = iter(await directory.views_for(parsed))
        keys = []
        for message, fallback in messages:
            if message is None:
                keys.append(raw_key(None, None, fallback))
                continue
            result = account_of(message, next(views))
            account_id = None if isinstance(result, Unresolved) else result[0].account_id
            keys.append(raw_key(message, account_id, fallback))
        return keys

    async def close(self) -> None:
        if self.directory is not None:
            await self.directory.close()
