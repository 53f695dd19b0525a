"""Test-session services: one real Kafka broker and one real Redis for the whole run.

Started lazily, the first time an integration test asks for them, on free loopback ports in a
temporary folder; or taken from KAFKA_BOOTSTRAP_SERVERS / REDIS_URL when those are set. If they
cannot be started the tests that need them fail (never skip): CI must not go green without them.
Tests isolate themselves with unique app ids, topic prefixes and Redis key prefixes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from abm.infra.kafka import LocalKafka
from abm.infra.process import free_port
from abm.infra.redis_server import LocalRedis
from tests.faults.services import start_kafka

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Services:
    kafka_bootstrap: str
    redis_url: str


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    home = tmp_path_factory.mktemp("services")
    started: list[LocalKafka | LocalRedis] = []
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            kafka = start_kafka(home)
            started.append(kafka)
            bootstrap = kafka.bootstrap
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis = LocalRedis(home=home / "redis", port=free_port(), persist=False, tied=True)
            started.append(redis)
            redis.start()
            redis_url = redis.url
        yield Services(kafka_bootstrap=bootstrap, redis_url=redis_url)
    finally:
        for service in reversed(started):
            service.stop()


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    return services.redis_url


@pytest.fixture(scope="session")
def kafka_bootstrap(services: Services) -> str:
    return services.kafka_bootstrap
