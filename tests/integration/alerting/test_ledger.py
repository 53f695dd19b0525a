"""The delivery ledger's scripts on a real Redis: a take-over of a delivery left `sending`
stays open until its dead letter is written, every move is idempotent for its holder, and a
Redis outage in the middle of a delivery (a Redis of the test's own, stopped and started again)
ends in `sent`, not `unconfirmed`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from abm.infra.process import free_port
from abm.infra.redis_server import LocalRedis
from alerting.channels.base import Outgoing
from alerting.ledger import Ledger
from alerting.retry import Attempt
from tests.support.alert_fakes import DeadLetters, ScriptedChannel, deliverer, delivery

pytestmark = pytest.mark.integration


def ledger(client: aioredis.Redis, lease_s: float = 60.0) -> Ledger:
    return Ledger(client, f"t-ledger-{free_port()}", lease_s)


async def test_an_orphaned_delivery_is_taken_over_again_until_its_dead_letter_is_written(
    client: aioredis.Redis,
) -> None:
    short = ledger(client, lease_s=0.2)
    key = short.key("mqa_1", "slack")
    assert (await short.claim(key, "first", "U1")).state == "claimed"
    assert await short.sending(key, "first")
    await asyncio.sleep(0.3)  # the first instance died while sending: its lease ran out
    taken = await short.claim(key, "second", "U1")
    assert (await short.state(key))["state"] == "orphaned"  # not final: a dead letter is owed
    assert (taken.state, taken.target, taken.why) == ("orphaned", "U1", "holder_stopped")
    assert (await short.claim(key, "third", "U1")).state == "busy"  # the second is alive
    await asyncio.sleep(0.3)  # the second died before its dead letter was written
    again = await short.claim(key, "third", "U1")
    assert (again.state, again.why) == ("orphaned", "holder_stopped")
    assert await short.finish(key, "third", "unconfirmed", "", "unconfirmed")
    assert (await short.claim(key, "fourth", "U1")).state == "unconfirmed"


async def test_every_move_is_idempotent_for_its_holder(client: aioredis.Redis) -> None:
    """A call repeated after its reply was lost finds the state it made."""
    led = ledger(client)
    key = led.key("mqa_2", "email")
    assert (await led.claim(key, "me", "a@b.example")).state == "claimed"
    assert (await led.claim(key, "me", "a@b.example")).state == "claimed"
    assert await led.sending(key, "me") and await led.sending(key, "me")
    assert await led.not_sent(key, "me") and await led.not_sent(key, "me")
    assert await led.sending(key, "me")
    assert await led.finish(key, "me", "sent", "ref-1") and await led.finish(key, "me", "sent")
    assert (await led.state(key))["ref"] == "ref-1"
    assert not await led.sending(key, "me")  # a final state does not move
    assert not await led.finish(key, "other", "dead")
    # the holder's own claim of a delivery it left `sending` (its request was interrupted)
    key2 = led.key("mqa_3", "slack")
    await led.claim(key2, "me", "U1")
    await led.sending(key2, "me")
    interrupted = await led.claim(key2, "me", "U1")
    assert (interrupted.state, interrupted.why) == ("orphaned", "interrupted")


class StopsRedisWhileSending(ScriptedChannel):
    """Slack accepts the message; meanwhile Redis goes down, for `outage_s` seconds."""

    def __init__(self, redis: LocalRedis, outage_s: float) -> None:
        super().__init__("slack")
        self.redis = redis
        self.outage_s = outage_s
        self.restarted: asyncio.Task[None] | None = None

    async def send(self, item: Outgoing, target: str, mention: bool) -> Attempt:
        self.redis.stop()

        async def restart() -> None:
            await asyncio.sleep(self.outage_s)
            self.redis.start()

        self.restarted = asyncio.ensure_future(restart())
        return await super().send(item, target, mention)


async def test_a_redis_outage_while_sending_ends_sent_not_unconfirmed(tmp_path: Path) -> None:
    own = LocalRedis(home=tmp_path / "redis", port=free_port(), persist=True, tied=True)
    own.start()
    client = aioredis.Redis.from_url(own.url, socket_connect_timeout=1, socket_timeout=1)
    try:
        led = Ledger(client, "t-outage", 60.0)
        slack = StopsRedisWhileSending(own, outage_s=2.0)
        dead = DeadLetters()
        d = delivery()
        assert await deliverer(led, slack, dead, sleep=asyncio.sleep).deliver(d) == "sent"
        assert slack.requests == [d.item.alert_id] and dead.written == []
        assert (await led.state(led.key(d.item.alert_id, "slack")))["state"] == "sent"
    finally:
        await client.aclose()
        own.stop()
