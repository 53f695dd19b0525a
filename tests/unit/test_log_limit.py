"""The connection errors of an outage: one line per service per interval, with the count of the
lines left out; every other line untouched. Time is explicit (a fake clock)."""

from __future__ import annotations

import io
import logging
import sys

from aiokafka.errors import KafkaConnectionError, NodeNotReadyError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from abm.log_limit import ConnectionErrorLimit, limit_handlers, service_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    name: str, msg: str, *args: object, level: int = logging.ERROR, exc: BaseException | None = None
) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def kafka_line() -> logging.LogRecord:
    """What aiokafka logs for every connection it fails to open."""
    err = KafkaConnectionError("Connection at 127.0.0.1:9 closed")
    return record("aiokafka.client", "Unable connect to node with id %s: %s", 1, err)


def redis_line() -> logging.LogRecord:
    """What our retries log while Redis is down (stream.agents.resolution)."""
    err = RedisConnectionError("Error 111 connecting to 127.0.0.1:9. Connection refused.")
    return record(
        "stream.agents.resolution", "directory unavailable (%s); retrying in %.1f s", err, 0.4,
        level=logging.WARNING,
    )  # fmt: skip


def test_which_lines_are_connection_errors() -> None:
    assert service_of(kafka_line()) == "Kafka"
    assert service_of(redis_line()) == "Redis"
    assert service_of(record("aiokafka", 'Unable connect to "%s:%s": %s', "h", 9, OSError())) == (
        "Kafka"
    )
    assert service_of(record("aiokafka.client", "Unable to update metadata from %s", [1])) == (
        "Kafka"
    )
    assert service_of(record("faust.x", "send failed: %r", NodeNotReadyError("node 1"))) == "Kafka"
    assert service_of(record("alerting.x", "failed", exc=RedisTimeoutError("Timeout"))) == "Redis"
    # everything else is not limited
    assert service_of(record("aiokafka.consumer", "Heartbeat failed for group %s", "g")) is None
    assert service_of(record("stream.x", "Unable connect to the moon")) is None
    assert service_of(record("x", "%s", ValueError("Connection"))) is None


def test_one_line_per_interval_then_the_count_of_those_left_out() -> None:
    clock = Clock()
    limit = ConnectionErrorLimit(interval_s=30.0, clock=clock)
    first = kafka_line()
    assert limit.filter(first)
    assert first.getMessage().startswith("Unable connect to node with id 1")
    passed = []
    for _ in range(40):  # 40 more over 20 s
        clock.now += 0.5
        passed.append(limit.filter(kafka_line()))
    assert not any(passed)
    clock.now += 10.0  # 30 s after the first line
    next_one = kafka_line()
    assert limit.filter(next_one)
    assert next_one.getMessage() == (
        "Unable connect to node with id 1: KafkaConnectionError: Connection at 127.0.0.1:9 "
        "closed [40 more Kafka connection errors in the last 30 s not shown]"
    )
    clock.now += 29.9
    assert not limit.filter(kafka_line())
    clock.now += 0.1
    alone = kafka_line()
    assert limit.filter(alone)
    assert alone.getMessage().endswith("[1 more Kafka connection errors in the last 30 s not "
                                       "shown]")  # fmt: skip


def test_each_service_has_its_own_interval_and_other_lines_always_pass() -> None:
    clock = Clock()
    limit = ConnectionErrorLimit(interval_s=30.0, clock=clock)
    assert limit.filter(kafka_line())
    assert not limit.filter(kafka_line())
    assert limit.filter(redis_line())
    assert not limit.filter(redis_line())
    for _ in range(100):
        assert limit.filter(record("alerting.service", "alert %s sent", "m1"))
    clock.now += 30.0
    assert limit.filter(redis_line())
    assert limit.filter(kafka_line())


def test_a_record_seen_by_two_handlers_is_counted_once() -> None:
    logger = logging.getLogger("tests.log_limit.two_handlers")
    logger.propagate = False
    outs = [io.StringIO(), io.StringIO()]
    handlers = [logging.StreamHandler(out) for out in outs]
    for handler in handlers:
        logger.addHandler(handler)
    try:
        limit = limit_handlers(30.0, logger)
        clock = Clock()
        limit.clock = clock
        err = RedisConnectionError("Error 111 connecting to 127.0.0.1:9. Connection refused.")
        for _ in range(10):
            logger.warning("directory unavailable (%s)", err)
        clock.now += 30.0
        logger.warning("directory unavailable (%s)", err)
        logger.warning("an unrelated line")
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    for out in outs:
        assert out.getvalue().splitlines() == [
            "directory unavailable (Error 111 connecting to 127.0.0.1:9. Connection refused.)",
            "directory unavailable (Error 111 connecting to 127.0.0.1:9. Connection refused.) "
            "[9 more Redis connection errors in the last 30 s not shown]",
            "an unrelated line",
        ]


def test_a_logged_exception_keeps_its_traceback_when_it_passes() -> None:
    limit = ConnectionErrorLimit(interval_s=30.0, clock=Clock())
    try:
        raise RedisConnectionError("Error 111")
    except RedisConnectionError:
        line = record("alerting.x", "call failed", exc=sys.exc_info()[1])
        line.exc_info = sys.exc_info()
    assert limit.filter(line) and line.exc_info is not None
