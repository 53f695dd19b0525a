"""The relay that puts the benchmarks' Redis "on another host": what goes through arrives whole
and in order, each round trip held for at least the relay's time, with the test run's Redis."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from abm.infra.process import free_port
from bench.delay_relay import DelayRelay

pytestmark = pytest.mark.integration


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


async def test_a_relayed_redis_answers_everything_in_order_a_round_trip_later(
    redis_url: str,
) -> None:
    big = os.urandom(300_000)  # several reads of the relay
    with DelayRelay(port_of(redis_url), rtt_s=0.02) as port:
        client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0")
        try:
            await client.ping()  # connected
            started = time.monotonic()
            await client.ping()
            one_round_trip_s = time.monotonic() - started
            key = f"relay-test-{uuid.uuid4().hex}"
            await client.set(key, big, ex=60)
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(200):
                    pipe.incr(f"{key}-n")
                pipe.get(key)
                *counts, value = await pipe.execute()
        finally:
            await client.aclose()
    assert one_round_trip_s >= 0.02
    assert counts == list(range(1, 201))
    assert value == big


def test_a_round_trip_cannot_take_negative_time() -> None:
    with pytest.raises(ValueError, match="cannot take -1"):
        DelayRelay(6379, -1)


async def test_a_connection_to_a_target_that_does_not_answer_is_closed() -> None:
    with DelayRelay(free_port(), rtt_s=0) as port:  # nothing listens on the target port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert await asyncio.wait_for(reader.read(), timeout=10) == b""
        finally:
            writer.close()


def test_a_stopped_relay_listens_no_more() -> None:
    with DelayRelay(free_port(), rtt_s=0) as port:
        pass
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
