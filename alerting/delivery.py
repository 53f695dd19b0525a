"""Delivers one alert on one channel exactly once: claim, send with retries, confirm.

    claim (ledger)  ->  [crash point after_claim]  ->  wait the channel's turn (pacing, holds)
        ->  mark sending  ->  channel.send
        -> accepted: [crash point after_send] -> confirm `sent`
        -> transient (429, 5xx, timeout, refused): back to `claimed`, wait, try again
           (after a timeout or a dropped connection, first ask the provider whether it has
           the message: Slack's history; found, it is `sent`)
        -> permanent, or attempts exhausted: dead letter with the reason, confirm `dead`

A delivery found `sent`, `dead` or `unconfirmed` is skipped (a repeated MQA record, a replay, a
restart); one held by a live instance is waited for; one whose holder died is taken over (see
`alerting.ledger`). A take-over of a delivery left `sending` asks the channel whether it has
the message (`Channel.find_sent`: Slack's history): found, it is `sent`; absent, it is sent
now; unknown (e-mail, a webhook, Slack not answering), the one case where we must choose, and
we choose at-most-once: `unconfirmed`, dead-lettered. Deliveries of the same
alert on the same channel never run twice at once within a process.

A ledger call or a dead-letter write that fails (Redis or Kafka unreachable) is retried in
place, with a backoff from `STORE_RETRY_BASE_S` to `STORE_RETRY_MAX_S`, until it goes through:
the delivery keeps its place (and its lease, renewed meanwhile), so a Redis error never makes
an instance take its own delivery for an orphan, and a dead letter is always written before
the final state that says it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from alerting import metrics
from alerting.channels.base import Channel, Found, Outgoing
from alerting.ledger import Claim, Ledger
from alerting.retry import Attempt, Backoff, backoff_s

log = logging.getLogger(__name__)

CRASH_EXIT_CODE: Final = 75
CRASH_POINTS: Final = ("after_claim", "after_send")

STORE_RETRY_BASE_S: Final = 0.2
STORE_RETRY_MAX_S: Final = 5.0
"""Seconds between tries of a failing ledger call or dead-letter write (doubling), so an
instance is back at work at most this long after Redis or Kafka is."""
UNAVAILABLE: Final = (RedisError, KafkaError, OSError)
"""Errors of a store or broker that is (for now) unreachable: retried, never fatal."""

MAYBE_TAKEN: Final = frozenset({"timeout", "connection"})
"""Attempt reasons after which the provider may have the message although it did not say so:
asked before the next attempt (Slack's history), so a slow Slack does not get it twice."""

ORPHAN_DETAIL: Final = {
    "holder_stopped": "a previous holder (an instance that stopped, or lost Redis for longer "
    "than its lease) was sending it; the provider may or may not have accepted it, and it is "
    "not sent again (at-most-once)",
    "interrupted": "an error interrupted this instance's request; the provider may or may not "
    "have accepted it, and it is not sent again (at-most-once)",
}


class Outage:
    """Retry waits that end as soon as the store they wait for (Redis) answers again: a call
    that goes through says so (`over`), and every loop waiting after a failure tries again at
    once, its backoff started again. Without it a loop that backed off to its cap during an
    outage could sleep that long after Redis was back."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._sleep = sleep
        self._back = asyncio.Event()
        self._waiting = 0

    def over(self) -> None:
        """A call went through: wake the waiting loops."""
        if self._waiting:
            self._back.set()
            self._back = asyncio.Event()

    async def wait(self, delay_s: float) -> bool:
        """Sleep `delay_s` seconds or until `over()`; True when `over()` ended it."""
        back = self._back
        self._waiting += 1
        sleeper = asyncio.ensure_future(self._sleep(delay_s))
        woken = asyncio.ensure_future(back.wait())
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiting -= 1
            sleeper.cancel()
            woken.cancel()
        return back.is_set()


@dataclass(frozen=True)
class Delivery:
    item: Outgoing
    kind: str
    """`mqa` or `escalation` (a metric label)."""
    channel: str
    target: str
    mention: bool
    account_id: str
    event: dict[str, Any]
    ingest_ms: int | None = None


@dataclass(frozen=True)
class DeadLetter:
    delivery: Delivery
    reason: str
    detail: str
    attempts: int


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_s: float
    max_s: float


class Deliverer:
    def __init__(
        self,
        ledger: Ledger,
        channels: dict[str, Channel],
        policy: RetryPolicy,
        dead_letter: Callable[[DeadLetter], Awaitable[None]],
        *,
        lease_s: float,
        max_in_flight: int = 8,
        crash_at: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        outage: Outage | None = None,
    ) -> None:
        """`outage`: shared with the other loops of the service that use Redis, so any call
        that goes through ends the ledger retries' waits (see `Outage`)."""
        if crash_at is not None and crash_at not in CRASH_POINTS:
            raise ValueError(f"ABM_ALERT_CRASH_AT: one of {', '.join(CRASH_POINTS)}")
        self._ledger = ledger
        self._channels = channels
        self._policy = policy
        self._dead_letter = dead_letter
        self._lease_s = lease_s
        self._crash_at = crash_at
        self._sleep = sleep
        self._wall_ms = wall_ms
        self._outage = outage or Outage(sleep)
        self.token = uuid.uuid4().hex
        self._inflight: dict[str, asyncio.Task[str]] = {}
        self._slots = asyncio.Semaphore(max_in_flight)

    async def deliver(self, delivery: Delivery) -> str:
        """Deliver (or find delivered); returns the final ledger state: sent, dead,
        unconfirmed, or duplicate when an earlier run had finished it."""
        key = self._ledger.key(delivery.item.alert_id, delivery.channel)
        running = self._inflight.get(key)
        if running is not None:
            await asyncio.shield(running)
            return "duplicate"
        task = asyncio.ensure_future(self._in_slot(key, delivery))
        self._inflight[key] = task
        task.add_done_callback(lambda _done: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _in_slot(self, key: str, delivery: Delivery) -> str:
        """At most `max_in_flight` deliveries between claim and confirm: a crash then leaves at
        most that many deliveries in doubt."""
        async with self._slots:
            return await self._deliver(key, delivery)

    def _crash(self, point: str) -> None:
        if self._crash_at == point:
            log.error("ABM_ALERT_CRASH_AT=%s: exiting hard (tests only)", point)
            os._exit(CRASH_EXIT_CODE)

    async def _until_ok(
        self, what: str, call: Callable[[], Awaitable[Any]], *, redis: bool = True
    ) -> Any:
        """`call()`, tried again while Redis (`redis`) or Kafka are unreachable (see the
        module docstring). A Redis call that goes through ends the other loops' waits, and a
        wait ended that way starts the backoff again."""
        backoff = Backoff(STORE_RETRY_BASE_S, STORE_RETRY_MAX_S)
        while True:
            try:
                result = await call()
            except UNAVAILABLE as exc:
                delay = backoff.failed()
                log.warning("%s failed (%s: %s); trying again in %.1f s", what,
                            type(exc).__name__, exc, delay)  # fmt: skip
                if not redis:
                    await self._sleep(delay)
                elif await self._outage.wait(delay):
                    backoff.succeeded()
            else:
                if redis:
                    self._outage.over()
                return result

    async def _claim(self, key: str, d: Delivery) -> Claim:
        while True:
            claim: Claim = await self._until_ok(
                "ledger claim", lambda: self._ledger.claim(key, self.token, d.target)
            )
            if claim.state != "busy":
                return claim
            await self._sleep(max(0.05, self._lease_s / 4))

    async def _deliver(self, key: str, d: Delivery) -> str:
        channel, kind = d.channel, d.kind
        claim = await self._claim(key, d)
        if claim.state in ("sent", "dead", "unconfirmed"):
            metrics.DELIVERIES.labels(channel=channel, kind=kind, outcome="duplicate").inc()
            return "duplicate"
        renewer = asyncio.ensure_future(self._renew(key))
        try:
            target = claim.target or d.target
            if claim.state == "orphaned":
                settled = await self._reconcile(key, d, target, claim.why)
                if settled is not None:
                    return settled
            self._crash("after_claim")
            if not target:
                detail = (f"no {channel} address: the account has no owner there and no "
                          "fallback is set")  # fmt: skip
                await self._dead(d, "no_route", detail, 0)
                await self._finish(key, "dead", "", "no_route")
                metrics.DELIVERIES.labels(channel=channel, kind=kind, outcome="no_route").inc()
                return "dead"
            return await self._attempts(key, d, target, time.monotonic())
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _ask(self, key: str, d: Delivery, target: str) -> Found:
        """Whether the provider has this delivery's message (Slack's history since the claim);
        a reading that fails says `unknown`, it must not lose the alert either."""
        state = await self._until_ok("ledger state", lambda: self._ledger.state(key))
        since_ms = int(state.get("claimed_ms") or 0)
        try:
            return await self._channels[d.channel].find_sent(d.item.alert_id, target, since_ms)
        except (asyncio.CancelledError, SystemExit):
            raise
        except Exception as exc:
            return Found("unknown", f"{type(exc).__name__}: {exc}")

    async def _found(self, key: str, d: Delivery, found: Found, after: str) -> str:
        """The provider has it: `sent`, with its reference."""
        log.info("%s on %s: found at the provider after %s; sent", d.item.alert_id, d.channel,
                 after)  # fmt: skip
        await self._finish(key, "sent", found.ref or "", "reconciled")
        metrics.DELIVERIES.labels(channel=d.channel, kind=d.kind, outcome="sent").inc()
        return "sent"

    async def _reconcile(self, key: str, d: Delivery, target: str, why: str) -> str | None:
        """A request of this delivery may have left: ask the provider (Slack's history). The
        final state when that settles it (`sent`, or `unconfirmed` when it cannot be asked);
        None when the provider does not have it and it is back to `claimed`, to be sent."""
        found = await self._ask(key, d, target)
        if found.state == "found":
            return await self._found(key, d, found, "a take-over")
        if found.state == "absent":
            log.info("%s on %s: not at the provider after a take-over (%s); sending it",
                     d.item.alert_id, d.channel, found.detail)  # fmt: skip
            if await self._until_ok("ledger reopen", lambda: self._ledger.reopen(key, self.token)):
                return None
            log.warning("lost the claim on %s (%s); another instance has it", key, d.channel)
            return "duplicate"
        return await self._unconfirmed(key, d, why, found.detail)

    async def _unconfirmed(self, key: str, d: Delivery, why: str, asked: str = "") -> str:
        """A request of this delivery may have left (see `alerting.ledger`): the dead letter
        first, then the final state, so a failure in between writes the dead letter again."""
        detail = ORPHAN_DETAIL.get(why, ORPHAN_DETAIL["holder_stopped"])
        if asked:
            detail = f"{detail}; {asked}"
        log.warning("%s on %s unconfirmed: %s", d.item.alert_id, d.channel, detail)
        await self._dead(d, "unconfirmed", detail, 0)
        await self._finish(key, "unconfirmed", "", "unconfirmed")
        metrics.DELIVERIES.labels(channel=d.channel, kind=d.kind, outcome="unconfirmed").inc()
        return "unconfirmed"

    async def _finish(self, key: str, state: str, ref: str, reason: str) -> bool:
        return bool(await self._until_ok(
            f"ledger {state}", lambda: self._ledger.finish(key, self.token, state, ref, reason)
        ))  # fmt: skip

    async def _renew(self, key: str) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                if not await self._ledger.renew(key, self.token):
                    return
            except UNAVAILABLE as exc:
                log.warning("lease renewal of %s failed (%s); trying again", key,
                            type(exc).__name__)  # fmt: skip

    async def _attempts(self, key: str, d: Delivery, target: str, started: float) -> str:
        channel, kind = d.channel, d.kind
        last = Attempt("retry", "none")
        for attempt in range(1, self._policy.max_attempts + 1):
            if last.reason in MAYBE_TAKEN:
                # the last request got no answer, so the provider may have taken it: ask
                # (Slack's history) before sending again; absent, or the channel cannot be
                # asked (e-mail, a webhook, Slack not answering): sent again (at-least-once)
                found = await self._ask(key, d, target)
                if found.state == "found":
                    return await self._found(key, d, found, "a request without an answer")
            # the waits come before `sending`: a crash while waiting leaves the delivery
            # `claimed`, which the next instance sends, instead of `sending` (unconfirmed)
            await self._channels[channel].wait_turn(target)
            if not await self._until_ok(
                "ledger sending", lambda: self._ledger.sending(key, self.token)
            ):
                log.warning("lost the claim on %s (%s); another instance has it", key, channel)
                return "duplicate"
            last = await self._channels[channel].send(d.item, target, d.mention)
            if last.verdict == "sent":
                self._crash("after_send")
                await self._finish(key, "sent", last.ref or "", "")
                metrics.DELIVERIES.labels(channel=channel, kind=kind, outcome="sent").inc()
                metrics.DELIVERY_SECONDS.labels(channel=channel).observe(time.monotonic() - started)
                if d.ingest_ms is not None and kind == "mqa":
                    metrics.EVENT_TO_ALERT.labels(channel=channel).observe(
                        max(0.0, (self._wall_ms() - d.ingest_ms) / 1000)
                    )
                return "sent"
            await self._until_ok("ledger not_sent", lambda: self._ledger.not_sent(key, self.token))
            if last.verdict == "permanent":
                break
            if attempt < self._policy.max_attempts:
                metrics.RETRIES.labels(channel=channel, reason=last.reason).inc()
                delay = backoff_s(attempt, self._policy.base_s, self._policy.max_s,
                                  last.retry_after_s)  # fmt: skip
                log.info("%s on %s: %s (%s); retry %d in %.1f s", d.item.alert_id, channel,
                         last.reason, last.detail, attempt, delay)  # fmt: skip
                await self._sleep(delay)
        else:
            last = Attempt("permanent", "retries_exhausted",
                           f"{self._policy.max_attempts} attempts; last: {last.reason} "
                           f"({last.detail})")  # fmt: skip
        attempts = attempt
        await self._dead(d, last.reason, last.detail, attempts)
        await self._finish(key, "dead", "", last.reason)
        metrics.DELIVERIES.labels(channel=channel, kind=kind, outcome="dead").inc()
        return "dead"

    async def _dead(self, d: Delivery, reason: str, detail: str, attempts: int) -> None:
        metrics.DEAD_LETTERS.labels(channel=d.channel, reason=reason).inc()
        log.warning("dead letter: %s on %s: %s (%s)", d.item.alert_id, d.channel, reason, detail)
        dead = DeadLetter(d, reason, detail, attempts)
        await self._until_ok("dead-letter write", lambda: self._dead_letter(dead), redis=False)

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        for channel in self._channels.values():
            await channel.close()
