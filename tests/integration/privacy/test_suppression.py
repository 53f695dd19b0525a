"""The suppression list on the real Redis: pseudonyms only, bounded, and the copy the hot paths
read reloaded only after a change."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from abm.core.privacy import Identity
from abm.core.segment import SegmentMessage, parse_message
from abm.privacy.suppression import SuppressionFull, SuppressionList
from tests.integration.privacy.helpers import everything_stored
from tests.support.factories import segment_bytes

pytestmark = pytest.mark.integration

KEY = b"test deployment key"
DANA = Identity("email", "dana@acme.com")
DANA_USER = Identity("user_id", "u-42")
DANA_DEVICE = Identity("anonymous_id", "anon-42")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def message(**overrides: object) -> SegmentMessage:
    parsed = parse_message(segment_bytes("page", **overrides), 32_768)
    assert isinstance(parsed, SegmentMessage)
    return parsed


async def test_a_suppressed_person_is_held_as_pseudonyms_with_the_linked_ids(
    client: aioredis.Redis, prefix: str
) -> None:
    suppression = SuppressionList(client, prefix, KEY)
    assert await suppression.add(DANA, [DANA_USER, DANA_DEVICE]) == 3
    assert await suppression.add(DANA) == 0  # already there
    assert await suppression.holds(DANA_DEVICE)
    assert await suppression.size() == 3
    stored = await everything_stored(client, prefix)
    assert b"dana" not in stored and b"u-42" not in stored and b"anon-42" not in stored

    assert await suppression.remove(DANA) == 3  # the linked ids are lifted with the e-mail
    assert not await suppression.holds(DANA_USER)
    assert await suppression.remove(DANA) == 0


async def test_the_list_refuses_to_grow_past_its_bound(client: aioredis.Redis, prefix: str) -> None:
    suppression = SuppressionList(client, prefix, KEY, limit=2)
    await suppression.add(DANA, [DANA_USER])
    with pytest.raises(SuppressionFull, match="maximum of 2 persons"):
        await suppression.add(Identity("email", "eve@acme.com"))
    assert await suppression.size() == 2
    assert await suppression.add(DANA) == 0  # nothing new: no error at the bound


async def test_the_copy_drops_the_persons_messages_and_reloads_only_after_a_change(
    client: aioredis.Redis, prefix: str
) -> None:
    clock = Clock()
    reader = SuppressionList(client, prefix, KEY, refresh_s=1.0, clock=clock)
    writer = SuppressionList(client, prefix, KEY)
    await reader.refresh()
    assert not reader.suppresses(message())

    await writer.add(DANA_DEVICE)
    clock.now = 0.5
    await reader.refresh()
    assert not reader.suppresses(message())  # looked less than refresh_s ago
    clock.now = 1.0
    await reader.refresh()
    assert reader.suppresses(message())  # by its anonymousId alone
    assert reader.suppresses(message(userId=None, context={}))
    assert not reader.suppresses(message(anonymousId="anon-7", userId="u-7", context={}))

    await writer.remove(DANA_DEVICE)
    clock.now = 2.0
    await reader.refresh()
    assert not reader.suppresses(message())
