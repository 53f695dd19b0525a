"""Slack pacing: at most one message per channel per interval, and nothing during a
Retry-After, with the clock and the sleep under the test's control."""

from __future__ import annotations

from alerting.channels import SlackChannel


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


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
