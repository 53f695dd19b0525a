"""One line per service per interval for the connection errors of an outage.

While Kafka or Redis is down, the Kafka client logs an error for every connection it tries
(a 48 s broker outage gave 2,073 "Unable connect to node" lines in the alert service), and our
own retries log each failed call: the outage drowns everything else. `ConnectionErrorLimit`, a
logging filter on the process's handlers, lets the first connection error of a service through,
then at most one per `interval_s`; the line that goes through says how many were left out since
the previous one. Every other line passes untouched.

Which lines are a service's connection errors (`service_of`):

- Kafka: a line of the Kafka client (logger `aiokafka...`) about a connection or a metadata
  request ("Unable connect to ...", "Unable to request metadata ...", "Unable to update
  metadata ...", "Failed fetch messages ...", ...), or any line that carries one of its
  connection or timeout errors;
- Redis: any line that carries a connection or timeout error of the Redis client (as
  arguments or as the logged exception).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_INTERVAL_S = 30.0
"""Default of `ABM_LOG_CONNECTION_ERROR_INTERVAL_S` (seconds)."""

_KAFKA_LINES = (
    "Unable connect",
    "Unable to connect",
    "Unable to request metadata",
    "Unable to update metadata",
    "Failed fetch messages",
    "Failed fetch offsets",
    "Error sending",
    "Heartbeat send request failed",
    "Marking the coordinator dead",
    "Group Coordinator Request failed",
)
"""Beginnings of the Kafka client's log lines about a broker it cannot reach."""

_KAFKA_ERRORS = frozenset(
    {"KafkaConnectionError", "NodeNotReadyError", "RequestTimedOutError", "KafkaTimeoutError"}
)
_REDIS_ERRORS = frozenset({"ConnectionError", "TimeoutError"})


def _library(exc: BaseException) -> str | None:
    """The service ("Kafka", "Redis") whose client raised `exc`, when it is a connection or
    timeout error; else None."""
    for cls in type(exc).__mro__:
        root = cls.__module__.split(".")[0]
        if root == "aiokafka" and cls.__name__ in _KAFKA_ERRORS:
            return "Kafka"
        if root == "redis" and cls.__name__ in _REDIS_ERRORS:
            return "Redis"
    return None


def service_of(record: logging.LogRecord) -> str | None:
    """The service whose connection error `record` reports, or None for any other line."""
    carried: list[object] = []
    if isinstance(record.args, tuple):
        carried.extend(record.args)
    elif isinstance(record.args, dict):
        carried.extend(record.args.values())
    if record.exc_info and record.exc_info[1] is not None:
        carried.append(record.exc_info[1])
    for value in carried:
        if isinstance(value, BaseException):
            found = _library(value)
            if found is not None:
                return found
    if (
        record.name.split(".")[0] == "aiokafka"
        and isinstance(record.msg, str)
        and record.msg.lstrip().startswith(_KAFKA_LINES)
    ):
        return "Kafka"
    return None


@dataclass
class _Window:
    shown_at: float
    """Clock time of the last line let through (seconds)."""
    left_out: int = 0
    """Lines left out since."""


class ConnectionErrorLimit(logging.Filter):
    """Lets through one connection-error line per service per `interval_s` seconds; the next
    line let through ends with the count of those left out. `clock` is in seconds (tests pass
    their own)."""

    def __init__(
        self, interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self._windows: dict[str, _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, "_abm_limit_passes", None)
        if decided is not None:  # the same record on another handler: same answer, counted once
            return bool(decided)
        passes = self._decide(record)
        record._abm_limit_passes = passes
        return passes

    def _decide(self, record: logging.LogRecord) -> bool:
        service = service_of(record)
        if service is None:
            return True
        now = self.clock()
        window = self._windows.get(service)
        if window is not None and now - window.shown_at < self.interval_s:
            window.left_out += 1
            return False
        if window is not None and window.left_out:
            record.msg = (
                f"{record.getMessage()} [{window.left_out} more {service} connection errors "
                f"in the last {now - window.shown_at:.0f} s not shown]"
            )
            record.args = ()  # a tuple: formatters that map over the arguments need one
        self._windows[service] = _Window(shown_at=now)
        return True


def limit_handlers(
    interval_s: float = DEFAULT_INTERVAL_S, logger: logging.Logger | None = None
) -> ConnectionErrorLimit:
    """Add one `ConnectionErrorLimit` to every handler of `logger` (default: the root logger),
    where lines of every logger end up; returns it."""
    limit = ConnectionErrorLimit(interval_s)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(limit)
    return limit


def configure_logging(level_name: str, interval_s: float = DEFAULT_INTERVAL_S) -> None:
    """The log format of the engine's processes (time, level, logger, message) on stderr at
    `level_name` (debug, info, warn, warning, error), with the connection errors limited."""
    level = level_name.upper()
    logging.basicConfig(
        level="WARNING" if level == "WARN" else level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    limit_handlers(interval_s)
