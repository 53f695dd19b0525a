"""The Faust app the worker runs, as configured from the settings."""

from __future__ import annotations

from abm.core.model import load_model
from abm_cli.settings import Settings
from stream.app import create_app


def test_the_stream_buffers_hold_the_configured_records() -> None:
    app = create_app(Settings(stream_buffer_records=1_000), load_model()).app
    assert app.conf.stream_buffer_maxsize == 1_000
    assert app.topic("any").queue.maxsize == 1_000


def test_the_default_stream_buffer_is_above_fausts() -> None:
    assert Settings().stream_buffer_records > 4_096


def test_the_changelog_is_compacted_within_the_configured_lag() -> None:
    pipe = create_app(Settings(changelog_compaction_max_lag_s=3_600), load_model())
    changelog = pipe.engagement_table.changelog_topic
    assert changelog.config["max.compaction.lag.ms"] == "3600000"
