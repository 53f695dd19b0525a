"""`abm collector` as users run it: a separate process, configured by environment variables,
taking a gzip batch, reporting health, and stopping cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support.collector import (
    collector_settings,
    post,
    prepare_services,
    read_all,
)
from tests.support.harness import REPO

pytestmark = pytest.mark.integration


async def test_abm_collector_process(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> None:
    settings = collector_settings(kafka_bootstrap, redis_url, tmp_path)
    await prepare_services(settings)
    url = f"http://127.0.0.1:{settings.collector_port}"
    log = (tmp_path / "collector.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "abm_cli", "collector"], cwd=REPO, stdout=log,
        stderr=subprocess.STDOUT, env={**os.environ, **settings.to_env()},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while True:
                assert proc.poll() is None, (tmp_path / "collector.log").read_text()
                assert time.monotonic() < deadline, "the collector did not become healthy"
                try:
                    async with session.get(f"{url}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        message = {
            "type": "page",
            "userId": "u-cli",
            "messageId": "cli-1",
            "properties": {"path": "/pricing"},
            "context": {"traits": {"email": "dana@acme.com"}},
        }
        status, doc, _ = await post(f"{url}/v1/batch", {"batch": [message]}, gzipped=True)
        assert (status, doc) == (200, {"success": True})
        (record,) = [r for r in await read_all(settings) if b"cli-1" in r.value]
        assert record.key == b"account:acme"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
