"""One write per account per flush, on the real broker: a burst of touchpoints to one account
gives one changelog record per flush interval, not one per touchpoint, and the last one is the
state the core computes one touchpoint at a time."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from abm.core.privacy import DEFAULT_PSEUDONYM_KEY, clear_key_pseudonym
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint
from abm.plumbing.consumer_lag import wait_caught_up
from abm_cli.settings import Settings
from stream.topics import RESOLVED, account_key, engagement_changelog, engagement_group
from tests.support.factories import HOUR, T0, account, page, replay
from tests.support.harness import (
    WorkerProcess,
    create_topics,
    make_settings,
    read_topic,
    topic,
)
from tests.support.ops_tools import samples, scrape

pytestmark = pytest.mark.integration

BURST = 3000


def burst() -> list[Touchpoint]:
    """A hot account: page views of 300 anonymous visitors and 20 known people over 30 days,
    each named by the pseudonym the resolution agent gives them (under the settings' default
    key, which the tests' workers use)."""
    hot = account("hot", domains=("hot.example",))
    result = []
    for n in range(BURST):
        known = n % 15 == 0
        clear = f"p{n % 20}@hot.example" if known else f"anon:anon-{n % 300}"
        who = clear_key_pseudonym(clear, DEFAULT_PSEUDONYM_KEY)
        result.append(
            page(f"/docs/{n % 40}", at_ms=T0 + n * (30 * 24 * HOUR // BURST), contact=who,
                 known=known, role="end_user" if known else "unknown", message_id=f"m{n}",
                 account_record=hot)
        )  # fmt: skip
    return result


async def produce_resolved(settings: Settings, touchpoints: list[Touchpoint]) -> list[str]:
    """Into touchpoints.resolved as the resolution agent writes it; returns each record's
    `partition/offset` (the core's source)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic(settings, RESOLVED), key=account_key(tp.account.account_id),
                                value=tp.to_json())
            for tp in touchpoints
        ]  # fmt: skip
        sources = []
        for future in futures:
            meta = await future
            sources.append(f"{meta.partition}/{meta.offset}")
        return sources
    finally:
        await producer.stop()


def total(text: str, name: str) -> float:
    return sum(value for _, value in samples(text, name))


async def test_a_burst_to_one_account_writes_its_state_once_per_flush(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        kafka_bootstrap, redis_url, tmp_path, engagement_batch_size=500,
        engagement_batch_wait_s=0.010, engagement_flush_interval_s=0.5,
    )  # fmt: skip
    touchpoints = burst()
    await create_topics(settings)
    sources = await produce_resolved(settings, touchpoints)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        await wait_caught_up(
            settings, engagement_group(settings.app_id), [topic(settings, RESOLVED)], 120
        )
        assert worker.alive(), worker.log_tail()
        metrics = scrape(settings.web_port)
    finally:
        worker.stop()
    changelog = await read_topic(settings, engagement_changelog(settings.app_id))
    records = [r for r in changelog if r.key == b"hot"]
    flushes = total(metrics, "abm_engagement_flushes_total")
    assert total(metrics, "abm_touchpoints_scored_total") == BURST
    # only the hot account was touched, so every flush wrote exactly its one record
    assert len(records) == len(changelog) == flushes
    assert total(metrics, "abm_engagement_state_writes_total") == flushes
    # how many flushes there are depends on the machine's speed; that writes gather does not
    assert flushes <= total(metrics, "abm_engagement_batches_total")
    assert flushes < BURST / 10, f"{flushes} flushes for {BURST} touchpoints"
    expected, _ = replay(touchpoints, sources=sources)
    assert AccountState.from_bytes(records[-1].value).to_bytes() == expected.to_bytes()
    print(f"{BURST} touchpoints -> {len(records)} changelog records")


async def test_a_stopped_worker_writes_its_states_and_commits_before_it_exits(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """SIGTERM while the applied states wait for their next write (a long interval, a long
    idle wait): the worker writes them, its offsets are committed, and it exits by itself
    (before, it waited for acks that never came until it was killed)."""
    settings = make_settings(
        kafka_bootstrap, redis_url, tmp_path, engagement_flush_interval_s=60.0,
        engagement_flush_idle_s=60.0,
    )  # fmt: skip
    touchpoints = burst()[:200]
    await create_topics(settings)
    sources = await produce_resolved(settings, touchpoints)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        for _ in range(600):  # every touchpoint applied (not yet written)
            assert worker.alive(), worker.log_tail()
            try:
                text = scrape(settings.web_port)
            except OSError:  # not serving yet
                text = ""
            if total(text, "abm_touchpoints_scored_total") == len(touchpoints):
                break
            await asyncio.sleep(0.1)
        assert not await read_topic(settings, engagement_changelog(settings.app_id), timeout_s=1)
        assert worker.proc is not None
        os.killpg(worker.proc.pid, signal.SIGTERM)
        code = await asyncio.to_thread(worker.proc.wait, 30)  # raises if it does not exit
        assert code == 0, worker.log_tail()
    finally:
        worker.kill()
    [record] = await read_topic(settings, engagement_changelog(settings.app_id), until=1)
    expected, _ = replay(touchpoints, sources=sources)
    assert AccountState.from_bytes(record.value).to_bytes() == expected.to_bytes()
    await wait_caught_up(  # committed: a restart would apply nothing again
        settings, engagement_group(settings.app_id), [topic(settings, RESOLVED)], 10
    )
