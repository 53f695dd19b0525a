"""The full settings: `Settings`, every field of every process, and `get_settings`, the
command line's (docs/architecture.md, Layers).

The process models live with what they need: `CommonSettings`, `WorkerSettings` and
`AlertSettings` in `abm/settings.py`, `CollectorSettings` in `producers/settings.py` (its
secrets' fields are made from the webhook sources' registry). Only this top layer may import all
of them, so `Settings` is made here; the lower layers' commands reach it through the command
line's context (`abm.settings.command_settings`).
"""

from __future__ import annotations

from functools import lru_cache

from abm.settings import AlertSettings, WorkerSettings
from producers.settings import CollectorSettings


class Settings(WorkerSettings, CollectorSettings, AlertSettings):
    """Every field of every process, for the command line, the demo, the benchmarks and the
    tests: it passes wherever a process model is asked for, and `to_env` passes all of it to
    the processes they start."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
