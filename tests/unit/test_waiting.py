"""Waiting for a service: one line while it is down, one when it answers, growing delays between
probes; the Redis password never in the line. Time is a fake clock moved by the fake sleep."""

from __future__ import annotations

import logging

import pytest

from abm import waiting
from abm.infra.process import free_port


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures: int) -> tuple[waiting.Service, list[int]]:
    """A service whose probe fails `failures` times, then answers; and its call count."""
    calls = [0]

    async def probe() -> None:
        calls[0] += 1
        if calls[0] <= failures:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")

    return waiting.Service("Kafka", "127.0.0.1:9", probe), calls


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "abm.waiting"]


async def test_a_service_that_answers_at_once_costs_no_line_and_no_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time = FakeTime()
    service, calls = flaky(0)
    with caplog.at_level(logging.INFO):
        waited = await waiting.wait_for(service, sleep=time.sleep, clock=time.clock)
    assert (waited, calls[0], time.sleeps, lines(caplog)) == (0.0, 1, [], [])


async def test_one_line_while_down_one_when_back_and_growing_delays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time = FakeTime()
    service, calls = flaky(6)
    with caplog.at_level(logging.INFO):
        waited = await waiting.wait_for(
            service, first_delay_s=0.5, max_delay_s=5.0, sleep=time.sleep, clock=time.clock
        )
    assert calls[0] == 7
    assert time.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert waited == pytest.approx(17.5)
    assert lines(caplog) == [
        "waiting for Kafka at 127.0.0.1:9 (ConnectionRefusedError: "
        "[Errno 111] Connect call failed ('127.0.0.1', 9))",
        "Kafka at 127.0.0.1:9 answers; going on after 17.5 s",
    ]


async def test_wait_for_all_waits_for_each_in_turn(caplog: pytest.LogCaptureFixture) -> None:
    time = FakeTime()
    kafka, kafka_calls = flaky(0)
    redis, redis_calls = flaky(2)
    redis = waiting.Service("Redis", "redis://127.0.0.1:9/0", redis.probe)
    with caplog.at_level(logging.INFO):
        await waiting.wait_for_all(kafka, redis, sleep=time.sleep, clock=time.clock)
    assert (kafka_calls[0], redis_calls[0]) == (1, 3)
    assert [line.split(" (")[0] for line in lines(caplog)] == [
        "waiting for Redis at redis://127.0.0.1:9/0",
        "Redis at redis://127.0.0.1:9/0 answers; going on after 1.5 s",
    ]


def test_the_redis_address_has_no_password() -> None:
    service = waiting.redis("redis://abm:s3cret@cache:6379/2")
    assert service.address == "redis://abm:***@cache:6379/2"
    assert "s3cret" not in service.address


async def test_real_probes_fail_where_nothing_listens() -> None:
    port = free_port()
    with pytest.raises(OSError):
        await waiting.kafka(f"127.0.0.1:{port}", timeout_s=2).probe()
    with pytest.raises(Exception, match=str(port)):
        await waiting.redis(f"redis://:pw@127.0.0.1:{port}/0", timeout_s=2).probe()


def test_describe_keeps_one_short_line() -> None:
    assert waiting.describe(TimeoutError()) == "TimeoutError"
    assert waiting.describe(ValueError("a\nb")) == "ValueError: a"
    assert len(waiting.describe(ValueError("x" * 500))) == 200


class KafkaConnectionError(Exception):
    """Like aiokafka's, whose message repeats its type."""


def test_describe_drops_a_repeated_type_name() -> None:
    exc = KafkaConnectionError("KafkaConnectionError: Unable to bootstrap from [...]")
    assert waiting.describe(exc) == "KafkaConnectionError: Unable to bootstrap from [...]"
