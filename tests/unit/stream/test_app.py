"""The Faust app the worker runs, as configured from the settings."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from abm.core.model import load_model
from abm_cli.settings import Settings
from stream.app import create_app
from stream.partitioning import RememberingPartitioner


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


def test_the_producer_remembers_its_partition_choices() -> None:
    app = create_app(Settings(), load_model()).app
    assert isinstance(app.producer.partitioner, RememberingPartitioner)


def _agents(pipe: Any) -> set[str]:
    return {name.rpartition("-")[2] for name in pipe.app.agents}


def test_a_worker_of_every_role_runs_all_agents_by_default() -> None:
    pipe = create_app(Settings(), load_model())
    assert _agents(pipe) == {"resolution", "engagement", "erasure"}
    assert pipe.engagement_table is not None


def test_a_resolution_worker_has_no_table_and_reads_only_the_raw_topic() -> None:
    """Without the table it does not subscribe to the changelog: Faust's assignor gives the
    changelog's partitions to the members subscribed to it, which must be the ones that own the
    touchpoints' partitions."""
    pipe = create_app(Settings(worker_role="resolution"), load_model())
    assert _agents(pipe) == {"resolution"}
    assert pipe.engagement_table is None
    assert not pipe.app.tables.changelog_topics
    assert not any(str(path).startswith("/accounts") for path in _pages(pipe))


def test_an_engagement_worker_holds_the_table_and_does_not_resolve() -> None:
    pipe = create_app(Settings(worker_role="engagement"), load_model())
    assert _agents(pipe) == {"engagement", "erasure"}
    assert pipe.engagement_table is not None
    assert any(str(path).startswith("/accounts") for path in _pages(pipe))


def test_an_unknown_role_is_refused_naming_the_roles() -> None:
    with pytest.raises(ValidationError, match="resolution"):
        Settings(worker_role="scoring")  # type: ignore[arg-type]


def _pages(pipe: Any) -> list[str]:
    return [str(route) for route in pipe.app.web.views]
