"""The alert service under test, in-process or as a process, and its input on the real broker:
MQA and sales-activity records (used by the alerting and outcomes integration tests)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from abm.plumbing.consumer_lag import wait_caught_up
from abm_cli.settings import Settings
from alerting.activity import SalesActivity
from alerting.service import AlertService, wall_ms
from alerting.signing import slack_signature
from stream.topics import HEADER_EMITTED_MS, HEADER_INGEST_MS, MQA, SALES_ACTIVITY
from tests.faults.processes import AbmProcess
from tests.support.harness import create_topics, make_settings

FAST_RETRIES: dict[str, Any] = {
    "alert_backoff_s": 0.05,
    "alert_backoff_max_s": 0.5,
    "alert_timeout_s": 5.0,
    "alert_claim_lease_s": 3.0,
    "alert_port": 0,
    "public_base_url": "https://abm.vendor.example",
}
"""What the delivery tests share: short backoffs and leases, a free port, a public base URL."""


def alert_test_settings(kafka: str, redis: str, tmp: Path, **values: Any) -> Settings:
    """Settings of an alert service under test: `FAST_RETRIES`, then `values`."""
    return make_settings(kafka, redis, tmp, **{**FAST_RETRIES, **values})


async def produce_mqas(
    settings: Settings, events: Iterable[dict[str, Any]], ingest_ms: int | None = None
) -> None:
    """MQA records as the engine writes them (key: account id; latency headers)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for event in events:
            now = str(ingest_ms or wall_ms()).encode()
            await producer.send_and_wait(
                MQA.name(settings.topic_prefix),
                key=event["account"]["id"].encode(),
                value=orjson.dumps(event),
                headers=[(HEADER_INGEST_MS, now), (HEADER_EMITTED_MS, now)],
            )
    finally:
        await producer.stop()


async def produce_activity(settings: Settings, activity: SalesActivity) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            SALES_ACTIVITY.name(settings.topic_prefix),
            key=activity.account_id.encode(),
            value=activity.to_json(),
        )
    finally:
        await producer.stop()


async def alerts_caught_up(settings: Settings, timeout_s: float = 90.0) -> None:
    """Every MQA record was handled and committed by the alert service."""
    await wait_caught_up(settings, f"{settings.app_id}-alerts", [MQA.name(settings.topic_prefix)],
                         timeout_s=timeout_s, poll_s=0.2)  # fmt: skip


async def activities_caught_up(settings: Settings, timeout_s: float = 60.0) -> None:
    await wait_caught_up(settings, f"{settings.app_id}-alerts-sla",
                         [SALES_ACTIVITY.name(settings.topic_prefix)], timeout_s=timeout_s,
                         poll_s=0.2)  # fmt: skip


SIGNING_SECRET = "test-signing-secret"
"""The Slack signing secret of the tests' services."""


def signed(body: bytes, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """The headers of a Slack interactivity request signed now."""
    timestamp = str(int(time.time()))
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret, timestamp, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def block_action(mqa_id: str, action_id: str = "abm_ack", user: str = "U0AE") -> bytes:
    """The form body of a Slack button click on an alert."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user},
        "actions": [{"action_id": action_id, "value": mqa_id, "type": "button"}],
    }
    return urllib.parse.urlencode({"payload": orjson.dumps(payload).decode()}).encode()


def metric(name: str, **labels: str) -> float:
    """A sample of this process's registry (the in-process service's metrics), 0 if absent."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Clock:
    """The SLA clock of an in-process service: set by the test."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@contextlib.asynccontextmanager
async def running(
    settings: Settings, clock: Callable[[], int] = wall_ms, out: io.StringIO | None = None
) -> AsyncIterator[AlertService]:
    """The alert service in this process, consuming until the block ends."""
    await create_topics(settings)
    service = AlertService(settings, clock_ms=clock, out=out or io.StringIO())
    task = asyncio.ensure_future(service.run())
    ready = asyncio.ensure_future(service.ready.wait())
    done, _ = await asyncio.wait([task, ready], timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # start-up failed: raise its error
    assert ready in done, "the alert service did not start within 60 s"
    try:
        yield service
    finally:
        service.stopping.set()
        await asyncio.wait_for(task, 60)


class AlertProcess(AbmProcess):
    """`abm alerts` in a child process with the test's settings (plus extra env)."""

    def __init__(self, settings: Settings, log_path: Path, **env: str) -> None:
        super().__init__(settings, log_path, "alerts", env=env)
