"""Workers of the two roles (`abm worker --role resolution` and `--role engagement`) in one
consumer group on the real broker: together they give exactly the MQAs of the in-memory
reference, also when either of them is killed with -9 mid-stream and started again; the
account pages are served by the worker that holds the accounts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from abm.infra.process import free_port
from abm_cli.settings import Settings
from stream.topics import MQA
from tests.faults.processes import AbmProcess
from tests.integration.test_recovery import by_id, resolved_count
from tests.support.harness import (
    make_settings,
    read_topic,
    replay_sample,
)

pytestmark = pytest.mark.integration

ROLES = ("resolution", "engagement")


def role_worker(settings: Settings, role: str, log: Path) -> AbmProcess:
    """`abm worker --role ROLE` with its own web port and state folder."""
    own = settings.model_copy(
        update={"web_port": free_port(), "state_dir": log.parent / "state" / log.stem}
    )
    return AbmProcess(own, log, "worker", "--role", role)


async def status(port: int, path: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status


@pytest.mark.parametrize("killed", [None, *ROLES])
async def test_one_worker_per_role_gives_the_reference_mqas(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, killed: str | None
) -> None:
    settings = make_settings(kafka_bootstrap, redis_url, tmp_path, partitions=4)
    reference = await replay_sample(settings)
    workers = {role: role_worker(settings, role, tmp_path / f"{role}-1.log") for role in ROLES}
    try:
        # the resolution worker leads the group (the first to join): the leader, which has
        # no table, tells every member who holds which changelog partition
        workers["resolution"].start()
        deadline = time.monotonic() + 60
        while await resolved_count(settings) == 0:
            assert workers["resolution"].alive(), workers["resolution"].log_tail()
            assert time.monotonic() < deadline, workers["resolution"].log_tail()
            await asyncio.sleep(0.05)
        workers["engagement"].start()
        if killed is not None:
            target = int(reference.touchpoints * 0.4)
            deadline = time.monotonic() + 120
            while await resolved_count(settings) < target:
                for worker in workers.values():
                    assert worker.alive(), worker.log_tail()
                assert time.monotonic() < deadline, workers["resolution"].log_tail()
                await asyncio.sleep(0.05)
            workers[killed].kill()
            workers[killed] = role_worker(settings, killed, tmp_path / f"{killed}-2.log")
            workers[killed].start()
        records = await read_topic(
            settings,
            MQA,
            until=len(reference.mqas),
            timeout_s=150,
            settle_s=5,
            worker=workers["engagement"],
        )
        for worker in workers.values():
            assert worker.alive(), worker.log_tail()
        assert len(reference.mqas) >= 5
        assert by_id([r.json() for r in records]) == by_id(reference.mqas)
        if killed is None:
            assert len(records) == len(reference.mqas)  # nothing sent twice without a crash
            account = reference.mqas[0]["account"]
            assert isinstance(account, dict)
            account_id = account["id"]
            ports = {role: w.settings.web_port for role, w in workers.items()}
            assert await status(ports["engagement"], f"/accounts/{account_id}") == 200
            assert await status(ports["resolution"], f"/accounts/{account_id}") == 404
            assert await status(ports["resolution"], "/metrics") == 200
    finally:
        for worker in workers.values():
            worker.stop()
