"""Slack pacing: at most one message per channel per interval, and nothing during a
Retry-After, with the clock and the sleep under the test's control."""

from __future__ import annotations

from alerting.channels.slack import SlackChannel
from tests.support.alert_fakes import FakeTime


def channel(clock: FakeTime) -> SlackChannel:
    return SlackChannel(api_url="http://127.0.0.1:1/api/", bot_token="xoxb-t", webhook_url=None,
                        timeout_s=1.0, min_interval_s=1.0, monotonic=clock.monotonic,
                        sleep=clock.sleep)  # fmt: skip


async def test_one_message_per_second_per_channel() -> None:
    clock = FakeTime()
    slack = channel(clock)
    await slack.wait_turn("U1")
    await slack.wait_turn("U2")  # another channel: no wait
    assert clock.slept == []
    clock.now += 0.25
    await slack.wait_turn("U1")  # same channel 0.25 s later: waits the rest of the second
    assert clock.slept == [0.75]
    clock.now += 5
    await slack.wait_turn("U1")
    assert clock.slept == [0.75]


async def test_a_retry_after_holds_every_channel() -> None:
    clock = FakeTime()
    slack = channel(clock)
    slack.hold(30.0)
    await slack.wait_turn("U9")
    assert clock.slept == [30.0]


async def test_a_hold_that_begins_during_a_wait_holds_the_post_too() -> None:
    """Another delivery's 429 (Retry-After 20) arrives while this one waits for its pacing
    turn: it waits the hold out as well, instead of posting when its pacing wait ends."""
    clock = FakeTime()
    slack = channel(clock)

    async def sleep(seconds: float) -> None:
        if not clock.slept:
            slack.hold(20.0)
        await clock.sleep(seconds)

    slack._sleep = sleep
    slack._next["U1"] = clock.now + 1.0
    await slack.wait_turn("U1")
    assert clock.slept == [1.0, 19.0]


class SharedHold:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.stored: list[float] = []

    async def hold(self, seconds: float) -> None:
        self.stored.append(seconds)

    async def remaining_s(self) -> float:
        return self.seconds


async def test_a_hold_stored_by_another_instance_holds_this_one() -> None:
    clock = FakeTime()
    shared = SharedHold(12.5)
    slack = SlackChannel(api_url="http://127.0.0.1:1/api/", bot_token="xoxb-t", webhook_url=None,
                         timeout_s=1.0, min_interval_s=1.0, monotonic=clock.monotonic,
                         sleep=clock.sleep, holds=shared)  # fmt: skip

    async def sleep(seconds: float) -> None:
        shared.seconds = 0.0  # the hold ran out meanwhile
        await clock.sleep(seconds)

    slack._sleep = sleep
    await slack.wait_turn("U7")
    assert clock.slept == [12.5]


async def test_pacing_times_are_bounded() -> None:
    from alerting.channels.slack import PACING_TARGETS_MAX

    clock = FakeTime()
    slack = channel(clock)
    for n in range(PACING_TARGETS_MAX + 1):
        slack._next[f"U{n}"] = clock.now - 1.0
    await slack.wait_turn("Unew")
    assert list(slack._next) == ["Unew"]
