"""The real Segment and RudderStack Python SDKs, pointed at the collector, deliver track, page,
identify and group calls that come out of Kafka as the expected touchpoints (the worker resolves
them), keyed by account on the raw topic, with the directory taught by identify and group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.collector import (
    WRITE_KEY,
    Running,
    check_delivery,
    running_stack,
)
from tests.support.harness import WorkerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Running, WorkerProcess]]:
    tmp = tmp_path_factory.mktemp("sdks")
    async with running_stack(kafka_bootstrap, redis_url, tmp) as (running, worker):
        yield running, worker


def drive(client: Any, user: str, email: str, title: str) -> list[Exception]:
    """The calls a website makes for one person, through an SDK client (in a thread)."""
    client.identify(user, {"email": email, "title": title})
    client.group(user, "acme", {"name": "Acme BV"})
    client.track(user, "Demo Requested", {"form": "demo"})
    client.page(user, "Docs", "Pricing",
                {"url": "https://www.vendor.example/pricing", "path": "/pricing"})  # fmt: skip
    client.flush()
    client.shutdown()
    return []


async def test_segment_analytics_python_delivers_touchpoints(
    stack: tuple[Running, WorkerProcess],
) -> None:
    from segment.analytics import Client

    running, worker = stack
    errors: list[Any] = []
    client = Client(
        write_key=WRITE_KEY,
        host=running.url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=2,
    )
    await asyncio.to_thread(drive, client, "u-segment", "dana@acme.com", "CTO")
    assert errors == []
    await check_delivery(running, worker, "u-segment", "dana@acme.com", "decision_maker", "c_level")


async def test_rudder_sdk_python_delivers_touchpoints(stack: tuple[Running, WorkerProcess]) -> None:
    from rudderstack.analytics.client import Client

    running, worker = stack
    errors: list[Any] = []
    client = Client(
        write_key=WRITE_KEY,
        host=running.url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=2,
    )  # gzip is on by default in this SDK
    await asyncio.to_thread(drive, client, "u-rudder", "sam@acme.com", "Head of IT")
    assert errors == []
    # sam is not in the contact directory: the domain resolves the account, and the title his
    # identify call taught tells the role and the seniority
    await check_delivery(
        running, worker, "u-rudder", "sam@acme.com", "technical_evaluator", "director"
    )
