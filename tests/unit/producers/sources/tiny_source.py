"""The smallest source there can be, for the test that adding a source takes one module plus
one registry line (`test_registry.py`). Run as a program, it registers itself as a line of
`producers.sources.REGISTERED` would, before anything reads the registry, then prints as JSON
what the settings, the collector and its OpenAPI description made of it."""

from __future__ import annotations

import asyncio
import hmac
import sys
from collections.abc import Mapping
from typing import Any, cast

import orjson

from producers.sources import SOURCES, Delivery, Source, load
from producers.webhooks import (
    BAD_SIGNATURE,
    WebhookError,
    WebhookResult,
    email_of,
    lower_keys,
    track_message,
)

SECRET = "tiny-shared-token"
RECEIVED_MS = 1_772_442_000_000
"""2026-03-02T09:00:00Z, the collector's clock in the run (epoch milliseconds)."""


class TinySource(Source):
    """Signed by a shared token in a header; one event per delivery, named by its `id`."""

    name = "tiny"
    summary = "Tiny test events"
    signature_headers = ("x-tiny-token",)
    secret_description = "Shared token of the tiny test source."

    def verify(self, delivery: Delivery) -> None:
        token = lower_keys(delivery.headers).get("x-tiny-token", "")
        if not hmac.compare_digest(token.encode(), delivery.secret.encode()):
            raise WebhookError(401, BAD_SIGNATURE, "x-tiny-token does not match")

    def map(
        self, payload: Mapping[str, Any], delivery: Delivery, event_id: str | None
    ) -> WebhookResult:
        message = track_message(
            source=self.name,
            message_id=f"tiny:{payload.get('id')}",
            event="Tiny Signal",
            at_ms=delivery.received_ms,
            email=email_of(payload.get("email")),
        )
        return WebhookResult(messages=[message])


async def _post(collector: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from aiohttp.test_utils import TestClient, TestServer

    from producers.collector import make_app

    body = orjson.dumps({"id": "t-1", "email": "dana@acme.com"})
    async with TestClient(TestServer(make_app(collector))) as client:
        response = await client.post("/webhooks/tiny", data=body, headers=headers)
        return response.status, await response.json()


async def observe() -> dict[str, Any]:
    """What the settings, the collector and the OpenAPI description made of the tiny source."""
    from aiohttp.test_utils import TestClient, TestServer
    from prometheus_client import REGISTRY

    from abm_cli.settings import Settings
    from producers import ingest
    from producers.collector import Collector, make_app
    from producers.openapi import openapi_document
    from tests.unit.producers.fakes import (
        AcknowledgingSink,
        EmptyMemory,
        FallbackRouter,
        NobodySuppressed,
    )

    settings = Settings()  # ABM_WEBHOOK_TINY_SECRET comes from the environment
    kafka = AcknowledgingSink()
    fakes = (kafka, EmptyMemory(), FallbackRouter(), NobodySuppressed())
    collector = Collector(settings, *(cast(Any, fake) for fake in fakes))
    collector.clock = lambda: RECEIVED_MS / 1000
    routes = sorted(
        f"{route.method} {route.resource.canonical}"
        for route in make_app(collector).router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/webhooks/")
    )
    forged = await _post(collector, {"X-Tiny-Token": "not-the-token"})
    genuine = await _post(collector, {"X-Tiny-Token": SECRET})
    unset = settings.model_copy(update={"webhook_tiny_secret": None})
    off = Collector(unset, *(cast(Any, fake) for fake in fakes))
    async with TestClient(TestServer(make_app(off))) as client:
        response = await client.post("/webhooks/tiny", data=b"{}")
        not_configured = (response.status, await response.json())

    def counted(outcome: str) -> float | None:
        labels = {"provider": "tiny", "outcome": outcome}
        return REGISTRY.get_sample_value("abm_webhook_requests_total", labels)

    return {
        "secrets": sorted(settings.webhook_secrets()),
        "env": settings.to_env().get("ABM_WEBHOOK_TINY_SECRET"),
        "field": Settings.model_fields["webhook_tiny_secret"].description,
        "routes": routes,
        "openapi": openapi_document()["paths"].get("/webhooks/tiny"),
        "forged": forged,
        "genuine": genuine,
        "not_configured": not_configured,
        "produced": [orjson.loads(value) for value in kafka.values],
        "counted": {o: counted(o) for o in ("bad_signature", "accepted", "not_configured")},
        "sdk_message_id": ingest.prepare(
            "track",
            {"type": "track", "event": "x", "userId": "u", "messageId": "tiny:t-1"},
            RECEIVED_MS,
            ingest.Limits(max_event_bytes=32 * 1024, max_batch_bytes=500 * 1024),
        )
        .messages[0]
        .message_id,
    }


def main() -> None:
    SOURCES.register(load("tests.unit.producers.sources.tiny_source:TinySource"))
    sys.stdout.write(orjson.dumps(asyncio.run(observe())).decode())


if __name__ == "__main__":
    main()
