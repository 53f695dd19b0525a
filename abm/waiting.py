"""Waiting for Kafka and Redis: a process started while one of them is down says once what it
waits for, and goes on when it answers, instead of exiting with a traceback.

`wait_for` is framework-free: it takes a probe (an awaitable that raises while the service does
not answer) and retries it with a growing delay. `kafka` and `redis` build the probes of the two
services; their addresses are the ones shown in logs, so the Redis URL's password is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from abm.settings import redact_url

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.5
"""Delay after the first failed probe (seconds); doubled after each further failure."""
MAX_DELAY_S = 5.0
"""Longest delay between two probes (seconds): how late a process goes on after its service
is back, at worst."""
PROBE_TIMEOUT_S = 5.0
"""How long one probe may take before it counts as failed (seconds)."""


@dataclass(frozen=True)
class Service:
    """A service a process needs: its name and address for the log line (never a secret) and
    a probe that returns when the service answers and raises when it does not."""

    name: str
    address: str
    probe: Callable[[], Awaitable[object]]


async def wait_for(
    service: Service,
    *,
    first_delay_s: float = FIRST_DELAY_S,
    max_delay_s: float = MAX_DELAY_S,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """Return once `service` answers, with the seconds spent waiting (0.0 when it answered at
    once). While it does not, log one line, "waiting for Kafka at 127.0.0.1:19092 (why)", and
    one more when it answers; the failed probes in between are not logged."""
    started = clock()
    delay = first_delay_s
    waiting = False
    while True:
        try:
            await service.probe()
        except Exception as exc:
            if not waiting:
                log.warning(
                    "waiting for %s at %s (%s)", service.name, service.address, describe(exc)
                )
                waiting = True
            await sleep(delay)
            delay = min(delay * 2, max_delay_s)
            continue
        waited = clock() - started
        if waiting:
            log.warning(
                "%s at %s answers; going on after %.1f s", service.name, service.address, waited
            )
        return waited


async def wait_for_all(
    *services: Service,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """`wait_for` each service in turn (a process needs all of them to start)."""
    for service in services:
        await wait_for(service, sleep=sleep, clock=clock)


def describe(exc: BaseException) -> str:
    """One short line for an exception: its type and first line, at most 200 characters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    if text.startswith(f"{name}: "):  # aiokafka repeats the type in the message
        text = text[len(name) + 2 :]
    line = f"{name}: {text}" if text else name
    return line if len(line) <= 200 else line[:197] + "..."


def kafka(bootstrap: str, timeout_s: float = PROBE_TIMEOUT_S) -> Service:
    """Kafka answers when one bootstrap broker accepts a connection and then a metadata
    request. The connection is tried first, without the Kafka client, so a broker that is not
    listening costs no client error line per probe."""

    async def probe() -> None:
        await _connect_any(bootstrap, timeout_s)
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
        )
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
            await asyncio.wait_for(admin.list_topics(), timeout_s)
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    return Service("Kafka", bootstrap, probe)


def redis(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> Service:
    """Redis answers when a PING does. The address logged is the URL without its password."""

    async def probe() -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        try:
            await client.ping()
        finally:
            await client.aclose()

    return Service("Redis", redact_url(url), probe)


async def _connect_any(bootstrap: str, timeout_s: float) -> None:
    """Return once one of the bootstrap brokers accepts a TCP connection; else raise the last
    error."""
    error: Exception = ConnectionError(f"no broker address in {bootstrap!r}")
    for entry in bootstrap.split(","):
        host, _, port = entry.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]") or "127.0.0.1", int(port)), timeout_s
            )
        except (OSError, TimeoutError, ValueError) as exc:
            error = exc
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise error
