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
import threading
from pathlib import Path

from abm.infra.kafka import LocalKafka
from abm.infra.process import InfraError, free_port, free_port_pair
from abm.infra.redis_server import LocalRedis
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
    forwarded to `target` (host:port). Runs in a thread of its own, so the test's blocking
    calls do not hold it up."""

    def __init__(self, target: str) -> None:
        host, _, port = target.split(",")[0].rpartition(":")
        self.target = (host or "127.0.0.1", int(port))
        self.port = free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def open(self) -> None:
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._forward, "127.0.0.1", self.port)
            )
            started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert started.wait(10), "the forwarding port did not open"

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    def close(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._loop = None
