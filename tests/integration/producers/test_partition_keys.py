"""Batched directory views and routing keys (the collector's path) agree with the one-message
path the worker and `abm replay` use."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from abm.core.resolution import LearnedLinks
from abm.core.segment import SegmentMessage, parse_message
from abm.directory.store import DirectoryStore
from producers.partition_keys import Router
from tests.support import factories

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[DirectoryStore]:
    directory = DirectoryStore(aioredis.Redis.from_url(redis_url), f"t-{uuid.uuid4().hex[:8]}")
    await directory.load(
        [
            factories.account("acme", domains=("acme.com",)),
            factories.account("beta", domains=("beta.io",)),
        ],
        [factories.contact_record("dana@acme.com"), factories.contact_record("bo@gmail.com",
                                                                             account_id="beta")],
    )  # fmt: skip
    await directory.learn(LearnedLinks("user:linked", account_id="beta"))
    await directory.learn(LearnedLinks("user:follow", email="sam@acme.com", title="CFO"))
    await directory.learn(LearnedLinks("user:freemail", email="bo@gmail.com"))
    yield directory
    await directory.close()


def msg(**fields: Any) -> SegmentMessage:
    doc = {"type": "page", "messageId": uuid.uuid4().hex, "timestamp": factories.T0_ISO, **fields}
    parsed = parse_message(orjson.dumps(doc), 32 * 1024)
    assert isinstance(parsed, SegmentMessage), parsed
    return parsed


MESSAGES: list[dict[str, Any]] = [
    {"userId": "u-1", "context": {"groupId": "acme"}},
    {"userId": "linked"},
    {"userId": "follow"},
    {"userId": "freemail"},
    {"userId": "u-2", "context": {"traits": {"email": "dana@acme.com"}}},
    {"userId": "u-3", "context": {"traits": {"email": "x@beta.io"}}},
    {"userId": "u-4", "context": {"traits": {"email": "x@nowhere.example"}}},
    {"anonymousId": "a-1", "context": {"groupId": "unknown-account"}},
    {"userId": "u-5", "context": {"traits": {"email": "someone@gmail.com"}}},
]


async def test_views_for_a_batch_equal_the_views_one_by_one(store: DirectoryStore) -> None:
    messages = [msg(**fields) for fields in MESSAGES]
    single = [await store.view_for(m) for m in messages]
    assert await store.views_for(messages) == single
    assert single[2].linked_title == "CFO"
    assert await store.views_for([]) == []


async def test_router_keys_for_a_batch_equal_the_keys_one_by_one(store: DirectoryStore) -> None:
    router = Router(store)
    pairs: list[tuple[SegmentMessage | None, str]] = [(msg(**f), "x") for f in MESSAGES]
    pairs.append((None, "line:7"))
    one_by_one = [await router.key_for(m, fallback) for m, fallback in pairs]
    assert await router.keys_for(pairs) == one_by_one
    assert one_by_one[:3] == [b"account:acme", b"account:beta", b"account:acme"]
    assert one_by_one[-1] == b"line:7"


async def test_a_group_call_in_the_same_batch_routes_the_persons_messages(
    store: DirectoryStore,
) -> None:
    router = Router(store)
    page = msg(userId="newcomer")
    group = msg(type="group", userId="newcomer", groupId="beta")
    later = msg(userId="newcomer")
    keys = await router.keys_for([(page, "a"), (group, "b"), (later, "c")])
    assert keys == [b"account:beta"] * 3
