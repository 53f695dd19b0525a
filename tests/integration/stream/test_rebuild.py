"""The state schema's way forward on the real broker: a worker refuses a changelog holding a
state version it cannot read, naming `abm state rebuild`; the rebuild computes the table again
from touchpoints.resolved, and the restarted worker runs on the states the first worker had
computed (the offline reference), sending no MQA again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from abm.core.model import load_model
from abm.core.privacy import Identity, clear_key_pseudonym
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint
from abm.plumbing.consumer_lag import wait_caught_up
from abm.privacy.suppression import SuppressionList
from abm_cli.settings import Settings
from stream.rebuild import rebuild
from stream.topics import MQA, RAW, RESOLVED, engagement_changelog, engagement_group
from tests.support.factories import CHAMPION, DM, acts, replay
from tests.support.harness import (
    REPO,
    Record,
    WorkerProcess,
    create_topics,
    make_settings,
    read_topic,
    replay_sample,
    topic,
)
from tests.support.ops_tools import wait_group_stable

pytestmark = pytest.mark.integration


def latest(records: list[Record]) -> dict[bytes, Record]:
    """The changelog as a table: the last record per key, tombstones removed."""
    table: dict[bytes, Record] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert record.key is not None
        if record.value is None:
            table.pop(record.key, None)
        else:
            table[record.key] = record
    return table


def canonical(table: dict[bytes, Record]) -> dict[bytes, bytes]:
    return {key: AccountState.from_bytes(r.value).to_bytes() for key, r in table.items()}


def offline_states(resolved: list[Record]) -> dict[bytes, bytes]:
    """The pure core over touchpoints.resolved, per account in partition order, with the
    worker's `partition/offset` sources."""
    by_key: dict[bytes, list[Record]] = {}
    for record in sorted(resolved, key=lambda r: (r.partition, r.offset)):
        assert record.key is not None
        by_key.setdefault(record.key, []).append(record)
    states = {}
    for key, records in by_key.items():
        touchpoints = [Touchpoint.from_json(r.value) for r in records]
        state, _ = replay(
            touchpoints, load_model(), sources=[f"{r.partition}/{r.offset}" for r in records]
        )
        states[key] = state.to_bytes()
    return states


async def caught_up(settings: Settings) -> None:
    names = [topic(settings, RAW), topic(settings, RESOLVED)]
    await wait_caught_up(settings, engagement_group(settings.app_id), names, 150)


async def write_state(settings: Settings, key: bytes, value: bytes, partition: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            engagement_changelog(settings.app_id), key=key, value=value, partition=partition
        )
    finally:
        await producer.stop()


def wait_exit(worker: WorkerProcess, timeout_s: float = 120.0) -> int:
    assert worker.proc is not None
    deadline = time.monotonic() + timeout_s
    while worker.proc.poll() is None:
        assert time.monotonic() < deadline, f"the worker did not stop:\n{worker.log_tail()}"
        time.sleep(0.2)
    return worker.proc.returncode


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
async def test_an_unreadable_state_stops_the_worker_until_the_rebuild(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, store: str
) -> None:
    settings = make_settings(kafka_bootstrap, redis_url, tmp_path, table_store=store)
    reference = await replay_sample(settings)

    worker = WorkerProcess(settings, tmp_path / "worker-1.log")
    worker.start()
    try:
        await caught_up(settings)
        mqas = await read_topic(
            settings, MQA, until=len(reference.mqas), timeout_s=60, worker=worker
        )
    finally:
        worker.stop()
    changelog = engagement_changelog(settings.app_id)
    computed = latest(await read_topic(settings, changelog))
    assert len(computed) >= 100

    # a state of a version this engine cannot read, as a newer engine would leave it
    victim = sorted(computed)[0]
    future = orjson.dumps({"v": 99, "account": victim.decode()})
    await write_state(settings, victim, future, computed[victim].partition)
    refused = WorkerProcess(settings, tmp_path / "worker-2.log")
    refused.start()
    code = wait_exit(refused)
    log = refused.log_path.read_text()
    assert code == 3, log
    assert "account state version 99 is not supported" in log and "abm state rebuild" in log

    env = {**os.environ, **settings.to_env()}
    command = [sys.executable, "-m", "abm_cli", "state", "rebuild"]
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "records/s" in done.stderr and "partition 2/2" in done.stderr
    assert not list((settings.state_dir / "faust").rglob("engagement-*.db"))

    rebuilt = latest(await read_topic(settings, changelog))
    assert canonical(rebuilt) == canonical(computed)
    resolved = await read_topic(settings, RESOLVED)
    assert canonical(rebuilt) == offline_states(resolved)

    restarted = WorkerProcess(settings, tmp_path / "worker-3.log")
    restarted.start()
    try:
        await wait_group_stable(settings, engagement_group(settings.app_id), 1)
        await caught_up(settings)
        after = await read_topic(
            settings, MQA, until=len(mqas), timeout_s=30, settle_s=5, worker=restarted
        )
        assert restarted.alive(), restarted.log_tail()
    finally:
        restarted.stop()
    assert len(after) == len(mqas)  # no MQA sent again
    assert {r.json()["mqa_id"] for r in after} == {m["mqa_id"] for m in reference.mqas}


async def test_the_rebuild_leaves_out_suppressed_persons(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """A forgotten person's touchpoints are still in touchpoints.resolved: the rebuild must not
    bring them back into the states."""
    settings = make_settings(kafka_bootstrap, redis_url, tmp_path, partitions=1)
    await create_topics(settings)
    touchpoints = [
        *acts(DM, "/pricing", "Webinar Attended", step_ms=60_000),
        *acts(CHAMPION, "/pricing", step_ms=60_000),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for tp in touchpoints:
            await producer.send_and_wait(topic(settings, RESOLVED), tp.to_json(), key=b"acme")
    finally:
        await producer.stop()
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await SuppressionList(redis, settings.redis_prefix, settings.pseudonym_secret()).add(
            Identity("email", DM["contact"])
        )
    finally:
        await redis.aclose()

    report = await rebuild(settings, load_model(), tmp_path / "tables", progress=None)

    assert (report.touchpoints, report.suppressed) == (1, 2)
    [record] = await read_topic(settings, engagement_changelog(settings.app_id), until=1)
    state = AccountState.from_bytes(record.value)
    # the touchpoints named persons in the clear (schema 1's way): rebuilt, they are pseudonyms
    assert set(state.contacts) == {
        clear_key_pseudonym(CHAMPION["contact"], settings.pseudonym_secret())
    }
