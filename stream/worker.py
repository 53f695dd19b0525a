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
    from faust.worker import Worker

    _, pipeline = prepare(settings)
    worker = Worker(pipeline.app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
