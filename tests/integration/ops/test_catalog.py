"""Each running process of the stack against its catalog entry (abm/ops/catalog.py): its
/metrics passes `promtool check metrics` and exposes exactly the catalog's metrics, and it
answers the health check the compose file gives it."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.ops.stack import Stack
from tests.support.ops_tools import http_get, need, processes, scrape

pytestmark = pytest.mark.integration


def test_every_running_process_metrics_pass_promtool(stack: Stack) -> None:
    for name, port in stack.metrics_ports():
        text = scrape(port)
        result = subprocess.run(
            [need("promtool"), "check", "metrics"], input=text.encode(), capture_output=True,
            check=False,
        )  # fmt: skip
        output = (result.stdout + result.stderr).decode()
        assert result.returncode == 0 and not output.strip(), f"{name}:{port}: {output}"


def test_every_running_process_answers_its_compose_health_check(stack: Stack) -> None:
    for name, port in stack.metrics_ports():
        [process] = processes([name])
        status, _, body = http_get(f"http://127.0.0.1:{port}{process.health_path}")
        assert status == 200, (name, body[:300])


def test_every_running_process_exposes_exactly_its_catalog(stack: Stack) -> None:
    for name, port in stack.metrics_ports():
        [process] = processes([name])
        exposed = {
            line.split()[2] for line in scrape(port).splitlines() if line.startswith("# TYPE abm_")
        }
        assert exposed == set(process.metrics), name
