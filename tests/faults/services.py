"""The services the processes depend on, as faults: a Kafka broker and a Redis of a run's own
(started on free loopback ports, tied to the process that started them) that can be stopped and
started again on the same port with their data, and a port where Kafka "comes back" later.

`outage(service, seconds)` stops a broker or a Redis (SIGTERM: a broker's controlled shutdown,
Redis's final append-only write), leaves it down, and starts it again, which waits until it
answers."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from abm.infra.kafka import LocalKafka
from abm.infra.process import InfraError, free_port, free_port_pair
from abm.infra.redis_server import LocalRedis
from bench.delay_relay import DelayRelay
from tests.faults.processes import REPO


def start_kafka(home: Path, attempts: int = 3, heap: str = "1g") -> LocalKafka:
    """A broker of its own on two free ports. Another program on the machine may take a port
    between the check and the broker binding it: then again, on new ports."""
    for attempt in range(1, attempts + 1):
        kafka = LocalKafka(
            home=home / f"kafka-{attempt}",
            port=free_port_pair(),
            cache_dir=Path(os.environ.get("ABM_CACHE_DIR", REPO / ".cache")),
            heap=heap,
            tied=True,
        )
        try:
            kafka.start(timeout_s=120)
        except InfraError as exc:
            kafka.stop()
            if "Address already in use" not in str(exc) or attempt == attempts:
                raise
            continue
        return kafka
    raise AssertionError("unreachable")


def start_redis(home: Path, persist: bool = False) -> LocalRedis:
    """A Redis of its own on a free port; `persist` keeps its data across a stop (append-only
    file), as the alert ledger needs in production."""
    redis = LocalRedis(home=home, port=free_port(), persist=persist, tied=True)
    redis.start()
    return redis


async def outage(service: LocalKafka | LocalRedis, down_s: float) -> None:
    """Stop `service`, leave it down `down_s` seconds, start it again (until it answers)."""
    await asyncio.to_thread(service.stop)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(service.start)


class LatePort:
    """A loopback port where nothing listens until `open()`; from then on each connection is
    forwarded to `target` (host:port), by a relay without delay (`bench.delay_relay`) in a
    thread of its own, so the test's blocking calls do not hold it up."""

    def __init__(self, target: str) -> None:
        host, _, port = target.split(",")[0].rpartition(":")
        self._relay = DelayRelay(int(port), 0.0, target_host=host or "127.0.0.1")
        self.port = self._relay.port
        self._open = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def open(self) -> None:
        self._relay.__enter__()
        self._open = True

    def close(self) -> None:
        if self._open:
            self._open = False
            with contextlib.suppress(Exception):
                self._relay.__exit__(None, None, None)
