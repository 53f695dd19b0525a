"""The local stack behind `abm infra up | down | status`: a Kafka broker and a Redis server.

Each service is started only when the settings point at loopback and the user did not name a
service of their own (`KAFKA_BOOTSTRAP_SERVERS`, `REDIS_URL`): then we start nothing for it and
only check that it answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from abm.infra.kafka import LocalKafka, broker_ready
from abm.infra.process import InfraError
from abm.infra.redis_server import LocalRedis
from abm.settings import CommonSettings

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    managed: bool
    """Started and stopped by us (False: the user's own service)."""
    up: bool
    pid: int | None = None


@dataclass(frozen=True)
class Stack:
    settings: CommonSettings

    def kafka(self) -> LocalKafka | None:
        if self.settings.external_kafka:
            return None
        first = self.settings.kafka_bootstrap_servers.split(",")[0]
        host, _, port = first.rpartition(":")
        if host not in _LOOPBACK or not port.isdigit():
            return None
        return LocalKafka(
            home=self.settings.state_dir / "infra" / "kafka",
            port=int(port),
            cache_dir=self.settings.cache_dir,
        )

    def redis(self) -> LocalRedis | None:
        if self.settings.external_redis:
            return None
        parts = urlsplit(self.settings.redis_url.get_secret_value())
        if parts.hostname not in _LOOPBACK or parts.port is None:
            return None
        return LocalRedis(home=self.settings.state_dir / "infra" / "redis", port=parts.port)

    def up(self) -> list[ServiceStatus]:
        kafka, redis = self.kafka(), self.redis()
        if redis is not None:
            redis.start()
        if kafka is not None:
            kafka.start()
        statuses = self.status()
        down = [s for s in statuses if not s.up]
        if down:
            names = ", ".join(f"{s.name} at {s.address}" for s in down)
            raise InfraError(f"not reachable: {names}")
        return statuses

    def down(self) -> list[str]:
        stopped = []
        for service in (self.kafka(), self.redis()):
            if service is not None and service.stop():
                stopped.append(type(service).__name__)
        return stopped

    def status(self) -> list[ServiceStatus]:
        kafka, redis = self.kafka(), self.redis()
        bootstrap = self.settings.kafka_bootstrap_servers
        return [
            ServiceStatus(
                "kafka",
                bootstrap,
                managed=kafka is not None,
                up=broker_ready(bootstrap),
                pid=kafka.process.pid() if kafka else None,
            ),
            ServiceStatus(
                "redis",
                self.settings.redis_url_redacted(),
                managed=redis is not None,
                up=_redis_up(self.settings),
                pid=redis.process.pid() if redis else None,
            ),
        ]


def _redis_up(settings: CommonSettings) -> bool:
    import redis

    client = redis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_connect_timeout=1, socket_timeout=1
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
