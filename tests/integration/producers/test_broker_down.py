"""Kafka down: the collector answers 503 with Retry-After (it never says 200 for what the broker
did not acknowledge), and once the broker is back the SDK's retries get everything in.

This test runs its own broker, stopped and started again on the same port and data folder (the
session broker is shared by every test)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from abm.core.timefmt import iso_ms
from abm.infra.kafka import LocalKafka
from abm.infra.process import free_port_pair
from tests.conftest import REPO
from tests.support.collector import (
    Running,
    collector_settings,
    post,
    read_all,
    running_collector,
)

pytestmark = pytest.mark.integration


def own_broker(home: Path) -> LocalKafka:
    cache = Path(os.environ.get("ABM_CACHE_DIR", REPO / ".cache"))
    return LocalKafka(home=home, port=free_port_pair(), cache_dir=cache, heap="512m")


def batch(tag: str, n: int = 5) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "batch": [
            {
                "type": "track",
                "event": "Email Link Clicked",
                "userId": f"u-{tag}-{i}",
                "messageId": f"{tag}-{i}-{uuid.uuid4().hex[:8]}",
                "timestamp": iso_ms(now - 1000),
            }
            for i in range(n)
        ]
    }


async def send_like_an_sdk(running: Running, body: dict[str, Any], attempts: int = 60) -> int:
    """Post until 200, waiting Retry-After between 503s (as the SDKs do); returns the number of
    503 answers seen. Any other answer fails the test."""
    for unavailable in range(attempts):
        status, doc, headers = await post(f"{running.url}/v1/batch", body)
        if status == 200:
            return unavailable
        assert status == 503, (status, doc)
        assert int(headers["Retry-After"]) >= 1
        assert doc["code"] == "unavailable"
        await asyncio.sleep(int(headers["Retry-After"]))
    raise AssertionError(f"no 200 after {attempts} attempts")


async def test_503_while_kafka_is_down_and_nothing_lost_once_it_is_back(
    redis_url: str, tmp_path: Path
) -> None:
    kafka = own_broker(tmp_path / "kafka")
    settings = collector_settings(
        kafka.bootstrap, redis_url, tmp_path, collector_ack_timeout_s=2.0, partitions=2
    )
    sent: set[str] = set()
    try:
        # the collector starts before the broker: it answers 503 until it could connect
        async with running_collector(settings) as running:
            early = batch("early")
            status, doc, headers = await post(f"{running.url}/v1/batch", early)
            assert (status, headers.get("Retry-After")) == (503, "1"), doc
            await asyncio.to_thread(kafka.start, 120)
            await send_like_an_sdk(running, early)
            sent |= {m["messageId"] for m in early["batch"]}

            # connected, then the broker goes away
            await asyncio.to_thread(kafka.stop)
            during = batch("during")
            status, doc, headers = await post(f"{running.url}/v1/batch", during)
            assert status == 503 and headers["Retry-After"] == "1", doc
            status, _, _ = await post(f"{running.url}/v1/batch", during)  # still down
            assert status == 503
            async with asyncio.TaskGroup() as group:  # the SDK keeps retrying meanwhile
                group.create_task(send_like_an_sdk(running, during))
                group.create_task(asyncio.to_thread(kafka.start, 120))
            sent |= {m["messageId"] for m in during["batch"]}

            after = batch("after")
            assert await send_like_an_sdk(running, after) == 0
            sent |= {m["messageId"] for m in after["batch"]}

            got = [r.json()["messageId"] for r in await read_all(settings)]
            # every accepted message is there; one the broker took late may be there twice
            # (the engine counts a messageId once)
            assert set(got) == sent
    finally:
        await asyncio.to_thread(kafka.stop)
