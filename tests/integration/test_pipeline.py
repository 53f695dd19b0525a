"""The core pipeline on the real broker and Redis: touchpoints in, explainable MQAs out.

One worker process runs every story below at once (distinct accounts), because a worker start
costs seconds; each test then checks its own account. The Kafka pipeline must produce exactly
what the in-memory reference (`abm.core.offline`) computes from the same messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, run_offline
from abm.plumbing.topics_admin import configure_topics, managed_configs
from abm_cli.settings import Settings
from stream.topics import DEAD_LETTER, MQA, RESOLVED, engagement_changelog
from tests.support.factories import DAY, T0
from tests.support.harness import (
    Record,
    WorkerProcess,
    by_account,
    create_topics,
    load_directory,
    make_settings,
    produce_raw,
    read_topic,
)
from tests.support.stories import (
    MALFORMED_REASONS,
    Story,
    buying_group,
    lone_reader,
    malformed,
)

pytestmark = pytest.mark.integration

WEEK_START = T0 + 30 * DAY


def all_stories() -> Story:
    return (
        buying_group("buyer", WEEK_START)  # (a)
        + lone_reader("reader", WEEK_START)  # (b)
        + buying_group("spread", WEEK_START - 180 * DAY, spread_days=180)  # (c)
        + buying_group("customer", WEEK_START, lifecycle="customer")  # (d)
        + buying_group("opportunity", WEEK_START, lifecycle="open_opportunity")  # (d)
        + buying_group("retrier", WEEK_START, copies=3)  # (e)
    ).sorted()


@dataclass
class Run:
    settings: Settings
    story: Story
    mqas: list[dict[str, Any]]
    mqa_records: list[Record]
    dead_letters: list[Record]
    expected: list[dict[str, Any]]


@pytest.fixture(scope="module")
async def run(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Run]:
    tmp = tmp_path_factory.mktemp("pipeline")
    settings = make_settings(kafka_bootstrap, redis_url, tmp)
    story = all_stories()
    bad = malformed()
    await create_topics(settings)
    await load_directory(settings, story.accounts, story.contacts)
    worker = WorkerProcess(settings, tmp / "worker.log")
    worker.start()
    try:
        # the malformed messages come first and in the middle: the good ones around them must
        # still be processed
        half = len(story.messages) // 2
        await produce_raw(settings, bad[:4] + story.messages[:half] + bad[4:])
        await produce_raw(settings, story.messages[half:])
        reference = run_offline(
            [m if isinstance(m, bytes) else orjson.dumps(m) for m in story.messages],
            InMemoryDirectory.of(story.accounts, story.contacts),
            load_model(),
        )
        mqa_records = await read_topic(
            settings, MQA, until=len(reference.mqas), timeout_s=90, settle_s=4, worker=worker
        )
        dead = await read_topic(
            settings, DEAD_LETTER, until=len(bad), timeout_s=30, settle_s=1, worker=worker
        )
        assert worker.alive(), worker.log_tail()
        yield Run(
            settings=settings,
            story=story,
            mqas=[r.json() for r in mqa_records],
            mqa_records=mqa_records,
            dead_letters=dead,
            expected=reference.mqas,
        )
    finally:
        worker.stop()
        log_path: Path = tmp / "worker.log"
        print("worker log tail:\n", "\n".join(log_path.read_text().splitlines()[-40:]))


def test_the_pipeline_emits_exactly_what_the_reference_computes(run: Run) -> None:
    assert [m["account"]["id"] for m in run.expected] == ["buyer", "retrier"]
    got = {m["account"]["id"]: m for m in run.mqas}
    for expected in run.expected:
        actual = got[expected["account"]["id"]]
        differing = {k: (actual.get(k), v) for k, v in expected.items() if actual.get(k) != v}
        assert not differing, differing
    assert len(run.mqas) == len(run.expected)


def test_a_buying_group_in_one_week_gives_one_mqa_with_its_explanation(run: Run) -> None:
    [mqa] = by_account(run.mqas)["buyer"]
    assert mqa["rule"] == "threshold"
    assert mqa["score"] >= mqa["threshold"] == 100
    assert mqa["coverage"] == 1.0
    assert mqa["active_stakeholders"] == 5
    assert set(mqa["key_roles_active"]) == {"decision_maker", "champion"}
    roles = {c["role"] for c in mqa["top_contacts"]}
    assert {"decision_maker", "champion", "technical_evaluator"} <= roles
    labels = {t["label"] for t in mqa["top_touchpoints"]}
    assert {"pricing page", "security / trust page", "demo page"} <= labels
    assert mqa["owner"]["email"] == "ae@vendor.example"
    assert mqa["follow_up"]["due_at_ms"] == mqa["qualified_at_ms"] + 24 * 3_600_000
    assert mqa["model_version"] == load_model().version
    assert mqa["mqa_id"].startswith("mqa_")
    assert mqa["summary"].startswith("Buyer BV (tier 2, fit 80)")


@pytest.mark.parametrize(
    "account_id",
    [
        pytest.param("reader", id="one contact with 200 blog views never qualifies"),
        pytest.param("spread", id="the same strong touchpoints over six months decay away"),
        pytest.param("customer", id="a customer is suppressed"),
        pytest.param("opportunity", id="an open opportunity is suppressed"),
    ],
)
def test_no_mqa_for(run: Run, account_id: str) -> None:
    assert account_id not in by_account(run.mqas)


def test_repeated_message_ids_count_once(run: Run) -> None:
    [retrier] = by_account(run.mqas)["retrier"]
    [buyer] = by_account(run.mqas)["buyer"]
    # the same story sent three times over scores exactly like the story sent once
    assert retrier["score"] == buyer["score"]
    assert retrier["qualified_at_ms"] == buyer["qualified_at_ms"]


def test_each_mqa_is_sent_once(run: Run) -> None:
    ids = [m["mqa_id"] for m in run.mqas]
    assert len(ids) == len(set(ids)) == 2


def test_mqa_records_carry_latency_headers_not_wall_clock_content(run: Run) -> None:
    for record in run.mqa_records:
        assert int(record.headers["abm-emitted-ms"]) >= int(record.headers["abm-ingest-ms"])
        assert record.key == record.json()["account"]["id"].encode()


def test_malformed_messages_are_dead_lettered_with_their_reason(run: Run) -> None:
    reasons = sorted(r.headers["abm-reason"] for r in run.dead_letters)
    assert reasons == sorted(MALFORMED_REASONS)
    for record in run.dead_letters:
        assert record.headers["abm-detail"]
        assert record.headers["abm-source"].startswith(run.settings.topic_prefix)


async def test_good_messages_around_bad_ones_are_all_resolved(run: Run) -> None:
    resolved = await read_topic(run.settings, RESOLVED, until=10_000, timeout_s=5)
    good = [m for m in run.story.messages if isinstance(m, dict)]
    assert len(resolved) >= len(good)
    assert {r.json()["mid"] for r in resolved} == {m["messageId"] for m in good}


async def test_the_worker_creates_its_changelog_with_the_configured_compaction_lag(
    run: Run,
) -> None:
    changelog = engagement_changelog(run.settings.app_id)
    assert changelog in managed_configs(run.settings)
    assert await configure_topics(run.settings, apply=False) == []  # everything as configured
