"""Where the collector puts what it accepts: Kafka (acknowledged) and the messageId memory.

`KafkaSink.deliver` returns only once the broker acknowledged every record (idempotent
producer, acks=all), and raises `Unavailable` when it cannot within the ack timeout: the
collector then answers 503 with Retry-After and the SDK sends the same batch again. A record
the broker acknowledges after its request timed out is not lost either; its retry makes it a
duplicate, which the engine counts once (it dedupes by messageId per account).

When the broker no longer accepts the producer's sequence numbers (after an outage:
`abm.plumbing.idempotent_producer`), the sink drops that producer and connects a new one, with
a new producer id; meanwhile the collector answers 503, and the SDKs send again.

`SeenIds` remembers accepted messageIds in Redis for a day (by default), so an SDK's retry of a
batch that did get through is not produced twice. An id is remembered only after the broker
acknowledged its record: a failed produce followed by a retry is never swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from abm import waiting
from abm.plumbing.idempotent_producer import PRODUCER_STATE_LOST
from abm.plumbing.topics_admin import ensure_topics
from producers import metrics
from producers.settings import CollectorSettings

log = logging.getLogger(__name__)


class Unavailable(Exception):
    """Kafka (or Redis) cannot take the records now; retry later."""


class KafkaSink:
    """One idempotent producer for the collector's process, (re)connected in the background."""

    def __init__(
        self,
        settings: CollectorSettings,
        topic: str,
        *,
        ack_timeout_s: float,
        max_pending: int,
        reconnect_s: float = 2.0,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.ack_timeout_s = ack_timeout_s
        self.max_pending = max_pending
        self.reconnect_s = reconnect_s
        self._producer: Any = None
        self._connector: asyncio.Task[None] | None = None
        self._pending = 0
        self._stuck: set[asyncio.Future[Any]] = set()
        self.last_error: str | None = None
        self.renewals = 0
        """Producers replaced because the broker lost their sequence (`PRODUCER_STATE_LOST`)."""

    @property
    def ready(self) -> bool:
        """Connected, and no record from an earlier request is still waiting for its ack."""
        return self._producer is not None and not self._stuck

    @property
    def pending(self) -> int:
        return self._pending

    async def start(self) -> None:
        """Connect now if the broker answers; otherwise keep trying in the background (the
        collector answers 503 meanwhile), with one "waiting for Kafka at ..." line."""
        kafka = waiting.kafka(self.settings.kafka_bootstrap_servers)
        try:
            await kafka.probe()
        except Exception as exc:
            self.last_error = waiting.describe(exc)
        else:
            if await self._connect():
                return
        self._connector = asyncio.create_task(self._keep_connecting(kafka))

    async def _connect(self) -> bool:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=512 * 1024,
            max_request_size=2 * 1024 * 1024,
            request_timeout_ms=max(int(self.ack_timeout_s * 3000), 15_000),
            retry_backoff_ms=200,
        )
        try:
            await asyncio.wait_for(ensure_topics(self.settings), timeout=30)
            await producer.start()
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                await producer.stop()
            return False
        self._producer = producer
        self.last_error = None
        log.info("connected to Kafka at %s", self.settings.kafka_bootstrap_servers)
        return True

    async def _keep_connecting(self, kafka: waiting.Service) -> None:
        while True:
            await waiting.wait_for(kafka)
            if await self._connect():
                return
            log.warning("Kafka answers, but the producer did not start (%s); retrying",
                        self.last_error)  # fmt: skip
            await asyncio.sleep(self.reconnect_s)

    async def stop(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None

    async def deliver(
        self, records: Sequence[tuple[bytes, bytes]], timeout_s: float | None = None
    ) -> None:
        """Produce (key, value) records in order; return once all are acknowledged, within
        `timeout_s` (default: the ack timeout)."""
        timeout = timeout_s or self.ack_timeout_s
        producer = self._producer
        if producer is None:
            raise Unavailable(f"not connected to Kafka ({self.last_error or 'connecting'})")
        if self._stuck:
            raise Unavailable(f"Kafka has not acknowledged {len(self._stuck)} earlier records yet")
        if self._pending + len(records) > self.max_pending:
            raise Unavailable(f"{self._pending} records are waiting for Kafka")
        deadline = time.monotonic() + timeout
        futures: list[asyncio.Future[Any]] = []
        self._pending += len(records)
        try:
            try:
                async with asyncio.timeout(timeout):
                    for key, value in records:
                        futures.append(await producer.send(self.topic, value=value, key=key))
            except TimeoutError:
                raise Unavailable("Kafka did not take the records in time") from None
            if futures:
                done, waiting = await asyncio.wait(
                    futures, timeout=max(deadline - time.monotonic(), 0.001)
                )
                if waiting:
                    self._remember_stuck(waiting)
                    raise Unavailable(
                        f"Kafka did not acknowledge {len(waiting)} records within {timeout:g} s"
                    )
                failed = [f.exception() for f in done if f.exception() is not None]
                if failed:
                    lost = [e for e in failed if isinstance(e, PRODUCER_STATE_LOST)]
                    if lost:
                        self._renew(producer, lost[0])
                    raise Unavailable(f"Kafka refused the records: {failed[0]!r}")
        except Exception as exc:
            self.last_error = str(exc)
            raise
        finally:
            self._pending -= len(records)

    def _renew(self, producer: Any, error: BaseException) -> None:
        """Drop `producer`, whose sequence state the broker lost, and connect a new one in the
        background (deliveries answer "not connected" meanwhile)."""
        if self._producer is not producer:
            return  # renewed already, by a delivery that failed at the same time
        log.warning("Kafka lost this producer's sequence (%r); connecting a new producer", error)
        self._producer = None
        self.renewals += 1
        metrics.PRODUCER_RENEWALS.inc()
        self._connector = asyncio.create_task(self._replace(producer))

    async def _replace(self, old: Any) -> None:
        with contextlib.suppress(Exception):
            await old.stop()  # fails what it still holds: those deliveries answer 503
        self._stuck.clear()
        await self._keep_connecting(waiting.kafka(self.settings.kafka_bootstrap_servers))

    def _remember_stuck(self, futures: Iterable[asyncio.Future[Any]]) -> None:
        """Records sent but not acknowledged in time: until they are (or fail), the broker is
        not keeping up, and new requests are turned away at once instead of piling up."""
        for future in futures:
            self._stuck.add(future)
            future.add_done_callback(self._unstick)

    def _unstick(self, future: asyncio.Future[Any]) -> None:
        self._stuck.discard(future)
        if not future.cancelled():
            future.exception()  # retrieved, so asyncio does not log it as never retrieved


class SeenIds:
    """MessageIds the broker acknowledged, remembered for at least `ttl_s` seconds in Redis.

    Ids are kept as digests (32 hex characters, so an id of any length costs the same) in one
    set per period of `ttl_s / 4` seconds: `{prefix}:collector:seen:{period}`, each set expiring
    `ttl_s` plus a period after its period began. Remembering a request's ids is one SADD, and
    looking them up one SMISMEMBER per live period (five), whatever the number of ids: a
    request costs the same few commands whether it carries one event or five hundred. An id is
    found for between `ttl_s` and `ttl_s` plus a period after it was remembered.
    """

    def __init__(
        self, redis: Any, prefix: str, ttl_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:collector:seen:"
        self.ttl_s = ttl_s
        self.period_s = max(ttl_s // 4, 1)
        self._clock = clock

    @staticmethod
    def digest(message_id: str) -> str:
        return hashlib.blake2b(message_id.encode(), digest_size=16).hexdigest()

    def _period(self) -> int:
        return int(self._clock()) // self.period_s

    def key(self, period: int) -> str:
        return f"{self._prefix}{period}"

    async def seen(self, ids: Sequence[str]) -> set[str]:
        if not ids or self.ttl_s <= 0:
            return set()
        digests = [self.digest(i) for i in ids]
        now = self._period()
        periods = range(now - -(-self.ttl_s // self.period_s), now + 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for period in periods:
                pipe.smismember(self.key(period), digests)
            answers = await pipe.execute()
        return {i for n, i in enumerate(ids) if any(answer[n] for answer in answers)}

    async def remember(self, ids: Sequence[str]) -> None:
        if not ids or self.ttl_s <= 0:
            return
        key = self.key(self._period())
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.sadd(key, *(self.digest(i) for i in ids))
            pipe.expire(key, self.ttl_s + 2 * self.period_s)
            await pipe.execute()

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()
