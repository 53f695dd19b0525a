"""The directory's pseudonym index in Redis: written in one round trip, read back, renewed at
most once a day per process, expiring, erased."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from abm.directory.pseudonym_index import RENEW_S, PseudonymIndexer
from abm.directory.store import DirectoryStore

pytestmark = pytest.mark.integration

DANA = "p" + "d" * 32
LEE = "p" + "e" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def store(redis: aioredis.Redis) -> DirectoryStore:
    return DirectoryStore(redis, f"t{uuid.uuid4().hex}", cache_ttl=0)


async def test_names_are_written_read_and_forgotten(
    store: DirectoryStore, redis: aioredis.Redis
) -> None:
    await store.remember_pseudonyms({DANA: "dana@acme.com", LEE: "user:u-7"}, ttl_s=3600)
    assert await store.names_of([DANA, LEE, "p" + "0" * 32]) == {
        DANA: "dana@acme.com",
        LEE: "user:u-7",
    }
    assert 3500 < await redis.ttl(store.keys.pseudonym(DANA)) <= 3600
    assert await store.names_of([]) == {}
    assert await store.forget_pseudonyms([DANA, "p" + "0" * 32]) == 1
    assert await store.names_of([DANA, LEE]) == {LEE: "user:u-7"}


async def test_the_indexer_writes_a_person_once_a_day(
    store: DirectoryStore, redis: aioredis.Redis
) -> None:
    clock = Clock()
    indexer = PseudonymIndexer(store, ttl_s=3600, clock=clock)
    indexer.note(DANA, "dana@acme.com")
    await indexer.flush()
    assert await store.names_of([DANA]) == {DANA: "dana@acme.com"}

    await redis.delete(store.keys.pseudonym(DANA))  # written lately: not written again
    clock.now += RENEW_S - 1
    indexer.note(DANA, "dana@acme.com")
    await indexer.flush()
    assert await store.names_of([DANA]) == {}

    clock.now += 2  # a day after the write: renewed
    indexer.note(DANA, "dana@acme.com")
    await indexer.flush()
    assert await store.names_of([DANA]) == {DANA: "dana@acme.com"}

    indexer.note(DANA, "dana@beta.de")  # another name for the pseudonym: written at once
    await indexer.flush()
    assert await store.names_of([DANA]) == {DANA: "dana@beta.de"}


async def test_the_indexer_remembers_a_bounded_number_of_persons(store: DirectoryStore) -> None:
    indexer = PseudonymIndexer(store, ttl_s=60, max_remembered=3)
    for n in range(10):
        indexer.note(f"p{n:032x}", f"person{n}@acme.com")
    await indexer.flush()
    assert len(indexer) == 3
    names = await store.names_of(f"p{n:032x}" for n in range(10))
    assert len(names) == 10  # every one written; only the memory of the writes is bounded
