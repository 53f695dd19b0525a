"""Slack Retry-After holds in Redis: a 429 answered to one instance holds every post to the
workspace from any instance, also one started after it (a restart), for the rest of the hold."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from abm.infra.process import free_port
from alerting.channels.base import Outgoing
from alerting.channels.slack import SlackChannel
from alerting.holds import RedisHolds, workspace_id
from tests.faults.providers import SlackStandIn
from tests.support.alert_fakes import FakeTime, delivery

pytestmark = pytest.mark.integration


async def test_a_longer_hold_is_kept_and_workspaces_are_apart(client: aioredis.Redis) -> None:
    prefix = f"t-hold-{free_port()}"
    one = RedisHolds(client, prefix, workspace_id("xoxb-one"))
    await one.hold(30.0)
    await one.hold(2.0)  # a shorter one does not shorten it
    assert 25.0 < await RedisHolds(client, prefix, workspace_id("xoxb-one")).remaining_s() <= 30
    assert await RedisHolds(client, prefix, workspace_id("xoxb-two")).remaining_s() == 0.0
    assert "xoxb" not in one.key


async def test_a_retry_after_holds_the_next_instance_too(client: aioredis.Redis) -> None:
    stand_in = SlackStandIn()
    await stand_in.start()
    stand_in.script.append((429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}))
    prefix = f"t-hold-{free_port()}"

    def instance(clock: FakeTime) -> SlackChannel:
        holds = RedisHolds(client, prefix, workspace_id("xoxb-test"))
        return SlackChannel(api_url=stand_in.api_url, bot_token="xoxb-test", webhook_url=None,
                            timeout_s=5.0, min_interval_s=0.0, monotonic=clock.monotonic,
                            sleep=clock.sleep, holds=holds)  # fmt: skip

    try:
        first = instance(FakeTime())
        d = delivery()
        answer = await first.send(Outgoing(d.item.alert_id, d.item.content), "U0AE", True)
        assert (answer.verdict, answer.retry_after_s) == ("retry", 30.0)
        await first.close()
        # a restart: a new instance, its memory empty, to another Slack channel
        clock = FakeTime()
        after_restart = instance(clock)
        waited: list[float] = []

        async def sleep(seconds: float) -> None:
            waited.append(seconds)
            await client.delete(f"{prefix}:alert:slack-hold:{workspace_id('xoxb-test')}")

        after_restart._sleep = sleep
        await after_restart.wait_turn("U0OTHER")
        [held] = waited
        assert 25.0 < held <= 30.0
        await after_restart.close()
    finally:
        await stand_in.stop()
