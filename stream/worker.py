"""`abm worker`: checks the model and the services, creates missing topics, runs Faust."""

from __future__ import annotations

import asyncio
import logging

from abm.core.model import ScoringModel, load_model
from abm.settings import Settings
from stream.admin import ensure_topics
from stream.app import Pipeline, create_app

log = logging.getLogger(__name__)


def prepare(settings: Settings) -> tuple[ScoringModel, Pipeline]:
    """Everything that must fail before the worker starts: model, broker, topics."""
    model = load_model(settings.scoring_model)  # ModelError names the file and the key
    (settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings))
    return model, create_app(settings, model)


def run_worker(settings: Settings) -> None:
    """Run until stopped. Raises `StateVersionError` when the worker stopped because the
    engagement table holds states this code cannot read (`stream.schema`)."""
    from faust.worker import Worker

    _, pipeline = prepare(settings)
    worker = Worker(pipeline.app, loglevel=settings.log_level, quiet=True)
    pipeline.state_guard.stop = worker.stop
    quiet_libraries(settings.log_level)
    try:
        worker.execute_from_commandline()
    finally:
        if pipeline.state_guard.refusal is not None:
            raise pipeline.state_guard.refusal


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
