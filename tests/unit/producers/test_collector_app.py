"""The collector's configuration checks, and its routes against its OpenAPI description."""

from __future__ import annotations

import base64
from typing import Any, cast
from unittest import mock

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from pydantic import SecretStr
from redis.exceptions import ConnectionError as RedisConnectionError

from abm_cli.settings import Settings
from producers.collector import EXAMPLE_WRITE_KEYS, Collector, config_problem, make_app
from producers.openapi import openapi_document
from tests.conftest import REPO
from tests.unit.producers.fakes import (
    AcknowledgingSink,
    EmptyMemory,
    FallbackRouter,
    NobodySuppressed,
)

OWN_KEY = "k7Qw2vN9xL4pR8sT1yU6zA3b"  # 24 characters
EXAMPLE = "write key 2 of ABM_COLLECTOR_WRITE_KEYS is the example"


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.mark.parametrize(
    ("host", "keys", "problem"),
    [
        ("127.0.0.1", "abm-dev-write-key", None),
        ("127.0.0.2", "change-me-write-key,k", None),
        ("::1", "k", None),
        ("localhost", "k", None),
        ("0.0.0.0", OWN_KEY, None),
        ("0.0.0.0", f"{OWN_KEY},abm-dev-write-key", "development write key"),
        ("0.0.0.0", f"{OWN_KEY},change-me-write-key", EXAMPLE),
        ("10.1.2.3", "k", "has 1 characters"),
        ("0.0.0.0", OWN_KEY[:-1], "has 23 characters"),
        ("127.0.0.1", " , ", "names no write key"),
    ],
    ids=[
        "the dev key on loopback is fine",
        "any key on another loopback address is fine",
        "ipv6 loopback",
        "localhost",
        "own keys of 24 characters anywhere",
        "the dev key beyond loopback is refused",
        "the key of .env.example beyond loopback is refused",
        "a one-character key beyond loopback is refused",
        "a 23-character key beyond loopback is refused",
        "no key at all",
    ],
)  # fmt: skip
def test_config_problem(host: str, keys: str, problem: str | None) -> None:
    settings = Settings(collector_host=host, collector_write_keys=SecretStr(keys))
    found = config_problem(settings)
    assert (found is None) if problem is None else (problem in (found or "")), found
    assert OWN_KEY not in (found or "")  # a refusal never quotes a real key


def test_the_keys_of_env_example_are_known_examples() -> None:
    lines = (REPO / ".env.example").read_text().splitlines()
    values = [
        line.partition("=")[2] for line in lines if line.startswith("ABM_COLLECTOR_WRITE_KEYS=")
    ]
    keys = {k.strip() for value in values for k in value.split(",") if k.strip()}
    assert keys and keys <= EXAMPLE_WRITE_KEYS


class _Sink:
    ready = False
    last_error = "KafkaConnectionError: Unable to bootstrap from [('10.9.8.7', 9092)]"


class _Seen:
    async def ping(self) -> None:
        raise RedisConnectionError("Error 111 connecting to redis.internal:6379")


def _health_request(peer: str, headers: dict[str, str]) -> Any:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 50123) if name == "peername" else default
    )
    return make_mocked_request("GET", "/healthz", headers=headers, transport=transport)


@pytest.mark.parametrize(
    ("peer", "headers", "details"),
    [
        ("203.0.113.9", {}, False),
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, False),
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, False),
        ("203.0.113.9", basic("wrong-key"), False),
        ("127.0.0.1", {}, True),
        ("::1", {}, True),
        ("203.0.113.9", basic(OWN_KEY), True),
    ],
    ids=["a stranger", "forwarded by a local proxy", "forwarded (RFC 7239)", "a wrong key",
         "loopback", "ipv6 loopback", "a write key"],
)  # fmt: skip
async def test_healthz_tells_strangers_only_ok_or_not(
    peer: str, headers: dict[str, str], details: bool
) -> None:
    settings = Settings(collector_write_keys=SecretStr(OWN_KEY))
    collector = Collector(
        settings, cast(Any, _Sink()), cast(Any, _Seen()), cast(Any, None), cast(Any, None)
    )
    response = await collector.healthz(_health_request(peer, headers))
    assert response.status == 503
    body = orjson.loads(cast(bytes, response.body))
    if details:
        assert "10.9.8.7" in str(body["problems"]) and "redis.internal" in str(body["problems"])
    else:
        assert body == {"status": "unavailable"}


def test_every_route_is_described_in_the_openapi_document() -> None:
    collector = Collector(
        Settings(), cast(Any, None), cast(Any, None), cast(Any, None), cast(Any, None)
    )
    app = make_app(collector)
    routes = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    described = {
        (method, path) for path, item in openapi_document()["paths"].items() for method in item
    } | {("get", "/openapi.json")}
    assert routes == described


BEACON = {  # what RudderStack's JS SDK hands to navigator.sendBeacon with useBeacon
    "batch": [
        {"type": "track", "event": "Demo Requested", "messageId": "m-1", "anonymousId": "a-1"},
        {"type": "page", "name": "Pricing", "messageId": "m-2", "anonymousId": "a-1"},
    ],
    "sentAt": "2030-01-01T00:00:00.000Z",
}


@pytest.mark.parametrize(
    ("path", "headers", "status", "produced"),
    [
        (f"/beacon/v1/batch?writeKey={OWN_KEY}", {}, 200, 2),
        ("/beacon/v1/batch", basic(OWN_KEY), 200, 2),
        ("/beacon/v1/batch?writeKey=wrong-key", {}, 401, 0),
        ("/beacon/v1/batch", {}, 401, 0),
        ("/beacon/v1/batch?writeKey=wrong-key", basic(OWN_KEY), 200, 2),
        (f"/v1/batch?writeKey={OWN_KEY}", {}, 401, 0),
    ],
    ids=["key in the query", "key as Basic user", "wrong key in the query", "no key",
         "the header's key wins", "only the beacon path reads the query"],
)  # fmt: skip
async def test_beacon_batches_carry_their_key_in_the_query(
    path: str, headers: dict[str, str], status: int, produced: int
) -> None:
    settings = Settings(collector_write_keys=SecretStr(OWN_KEY))
    kafka = AcknowledgingSink()
    collector = Collector(
        settings,
        cast(Any, kafka),
        cast(Any, EmptyMemory()),
        cast(Any, FallbackRouter()),
        cast(Any, NobodySuppressed()),
    )
    origin = {"Origin": "http://127.0.0.1:8000", "Content-Type": "text/plain;charset=UTF-8"}
    async with TestClient(TestServer(make_app(collector))) as client:
        response = await client.post(path, data=orjson.dumps(BEACON), headers=origin | headers)
        assert response.status == status, await response.text()
        assert response.headers.get("Access-Control-Allow-Origin") == origin["Origin"]
    docs = [orjson.loads(value) for value in kafka.values]
    assert [d["messageId"] for d in docs] == ["m-1", "m-2"][:produced]
    assert all("receivedAt" in d and "writeKey" not in d for d in docs)
    assert OWN_KEY.encode() not in b"".join(kafka.values)
