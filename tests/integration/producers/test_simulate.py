"""`abm simulate --to collector|kafka`: the simulated traffic arrives in the raw topic, keyed by
account wherever the directory can tell, with the deliberately broken lines refused (collector)
or skipped (kafka)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from abm_cli.settings import Settings
from producers.simulator import SimConfig, Simulator
from tests.support.collector import (
    WRITE_KEY,
    collector_settings,
    read_all,
    running_collector,
)
from tests.support.harness import REPO, create_topics

pytestmark = pytest.mark.integration

CONFIG = SimConfig(accounts=12, days=30, seed=3)


async def abm(settings: Settings, *args: str) -> str:
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "abm_cli", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, text
    return text


def expected_lines() -> tuple[list[dict[str, object]], int]:
    """The simulator's JSON messages, and how many lines are not even JSON."""
    messages = Simulator(CONFIG).messages()
    return [m for m in messages if isinstance(m, dict)], sum(isinstance(m, str) for m in messages)


def check_keys(records: list[dict[str, object]], keys: list[bytes | None]) -> None:
    accounts = {a.account_id for a in Simulator(CONFIG).records()[0]}
    by_account = Counter(
        k.decode().split(":", 1)[1] for k in keys if k and k.startswith(b"account:")
    )
    assert set(by_account) <= accounts
    assert sum(by_account.values()) > len(records) * 0.7  # most traffic is attributable


async def test_simulate_to_the_collector(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = collector_settings(kafka_bootstrap, redis_url, tmp_path)
    await create_topics(settings)
    messages, broken = expected_lines()
    async with running_collector(settings) as running:
        out = await abm(
            settings, "simulate", "--out", str(tmp_path / "sim"), "--accounts", "12",
            "--days", "30", "--seed", "3", "--to", "collector", "--collector-url", running.url,
            "--write-key", WRITE_KEY, "--batch-size", "50", "--no-progress",
        )  # fmt: skip
        records = await read_all(settings)
    assert f"posted {len(messages)} messages" in out
    assert f"{broken} refused" in out
    assert len(records) == len(messages)
    assert {orjson.loads(r.value).get("messageId") for r in records} >= {
        m["messageId"] for m in messages if isinstance(m.get("messageId"), str)
    }
    check_keys([r.json() for r in records], [r.key for r in records])


async def test_simulate_to_kafka(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> None:
    settings = collector_settings(kafka_bootstrap, redis_url, tmp_path)
    await create_topics(settings)
    messages, broken = expected_lines()
    out = await abm(
        settings, "simulate", "--out", str(tmp_path / "sim"), "--accounts", "12", "--days", "30",
        "--seed", "3", "--to", "kafka", "--rate", "100000", "--no-progress",
    )  # fmt: skip
    assert f"produced {len(messages)} messages" in out
    assert f"skipped {broken} lines" in out
    records = await read_all(settings)
    assert Counter(r.value for r in records) == Counter(orjson.dumps(m) for m in messages)
    check_keys([r.json() for r in records], [r.key for r in records])
