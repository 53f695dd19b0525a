"""`abm worker`: checks the model and the services, creates missing topics, runs Faust."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from abm import waiting
from abm.core.model import ScoringModel, load_model
from abm.log_limit import configure_logging, limit_handlers
from abm.plumbing.topics_admin import ensure_topics
from abm.settings import WorkerSettings
from stream.app import Pipeline, create_app

log = logging.getLogger(__name__)


def prepare(settings: WorkerSettings) -> tuple[ScoringModel, Pipeline]:
    """Everything that must fail before the worker starts: the model; then it waits for the
    broker and Redis (one line says which while one is down) and creates missing topics."""
    model = load_model(settings.scoring_model)  # ModelError names the file and the key
    (settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    asyncio.run(_services(settings))
    return model, create_app(settings, model)


async def _services(settings: WorkerSettings) -> None:
    await waiting.wait_for_all(
        waiting.kafka(settings.kafka_bootstrap_servers),
        waiting.redis(settings.redis_url.get_secret_value()),
    )
    await ensure_topics(settings)


def run_worker(settings: WorkerSettings) -> None:
    """Run until stopped. Raises `StateVersionError` when the worker stopped because the
    engagement table holds states this code cannot read (`stream.schema`)."""
    configure_logging(settings.log_level, settings.log_connection_error_interval_s)
    _, pipeline = prepare(settings)
    worker = _worker_class()(pipeline.app, loglevel=settings.log_level, quiet=True)
    worker.connection_error_interval_s = settings.log_connection_error_interval_s
    pipeline.state_guard.stop = worker.stop
    quiet_libraries(settings.log_level)
    tune_gc()
    try:
        worker.execute_from_commandline()
    finally:
        if pipeline.state_guard.refusal is not None:
            raise pipeline.state_guard.refusal


def _worker_class() -> Any:
    """Faust's worker, with two changes to its logging: no progress spinner when its output
    is not a terminal (the spinner writes terminal control sequences such as `\\x1b[?25l`,
    whatever the output), and the connection errors of an outage limited (`abm.log_limit`) on
    the handlers it sets up."""
    from faust.worker import Worker

    class EngineWorker(Worker):
        connection_error_interval_s: float = 30.0

        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            if self.spinner is not None and not _isatty(self.spinner.file):
                self.spinner = None
            super().on_setup_root_logger(logger, level)
            limit_handlers(self.connection_error_interval_s, logger)

    return EngineWorker


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


GC_THRESHOLDS = (50_000, 20, 50)
"""Allocations before a young collection, and young (then middle) collections before the next
older one; Python's defaults are (700, 10, 10)."""


def tune_gc() -> None:
    """Collect garbage less often, and never scan what was loaded before the worker starts.

    The agents allocate a few objects per record and free nearly all of them by reference
    counting; what stays (events until their flush, cached states) is long-lived. With the
    default thresholds the cyclic collector ran about 830 times during the `peer` figure
    (58,740 touchpoints) and took 2.4 s of the worker's 28 s, each pass scanning Faust's and
    the libraries' objects as well; with these, 8 passes and 0.36 s (docs/benchmarks.md).
    Memory: garbage in reference cycles lives until the next pass, at most 50,000 allocations."""
    gc.freeze()  # what the imports and the app's construction made: never garbage
    gc.set_threshold(*GC_THRESHOLDS)


_LEVELS = {
    "crit": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


def quiet_libraries(level_name: str) -> None:
    """Give the Kafka client and Faust loggers the worker's level. Left unset, their per-record
    `debug` calls build a full log record for every message sent and received (about 5% of
    the worker's time) only for the handler to drop it."""
    level = _LEVELS.get(level_name.lower(), logging.WARNING)
    for name in ("aiokafka", "faust", "mode"):
        logging.getLogger(name).setLevel(level)
