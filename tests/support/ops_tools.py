"""Operations test tools: a real Prometheus (Debian's binary) scraping the stack, headless
Chromium for page screenshots, and /metrics parsing."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families

from abm.infra.process import free_port
from abm.ops.catalog import PROCESSES, Process
from abm_cli.settings import Settings
from tests.faults.processes import AbmProcess
from tests.faults.providers import SmtpServer

RUNNING = ("worker", "collector", "alerts")
"""The processes the operations tests start and check (tests/integration/ops/): every
dashboard query, scrape job, catalog entry and promtool check of theirs is covered."""

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"


def need(tool: str) -> str:
    """The path of a tool the operations tests need; fails (never skips) when it is missing."""
    path = shutil.which(tool)
    if path is None:
        raise AssertionError(f"`{tool}` is not installed: run ./dev.sh setup")
    return path


def http_get(url: str, accept: str = "*/*", timeout_s: float = 10.0) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET, also for error statuses."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def http_post(
    url: str, body: bytes, headers: Mapping[str, str], timeout_s: float = 30.0
) -> tuple[int, bytes]:
    """(status, body) of a POST, also for error statuses."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


async def group_state(settings: Settings, group_id: str) -> tuple[str, int]:
    """(state, member count) of a consumer group, e.g. ("Stable", 2)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group_id])
        _, _, state, _, _, members = response.groups[0][:6]
        return str(state), len(members)
    finally:
        await admin.close()


async def wait_group_stable(
    settings: Settings, group_id: str, members: int, timeout_s: float = 120.0
) -> None:
    """Wait until `members` consumers share the group and it is not rebalancing: records
    produced after that are processed once, not again by a worker that joins late (the
    engine is at-least-once, so a late rebalance repeats uncommitted records and counts them
    again)."""
    deadline = time.monotonic() + timeout_s
    last: tuple[str, int] | str = "no answer"
    while time.monotonic() < deadline:
        try:
            last = await group_state(settings, group_id)
        except KafkaError as exc:  # the coordinator is not elected yet
            last = repr(exc)
        if last == ("Stable", members):
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"group {group_id} not stable with {members} members: {last}")


def healthy(port: int) -> bool:
    """True when a process answers 200 on its /healthz."""
    try:
        return http_get(f"http://127.0.0.1:{port}/healthz", timeout_s=2)[0] == 200
    except OSError:
        return False


def scrape(port: int) -> str:
    status, _, body = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200, status
    return body.decode()


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample called `name` in a /metrics text (counters by their `_total` name)."""
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found.append((dict(sample.labels), float(sample.value)))
    return found


def by_label(texts: Iterable[str], name: str, label: str) -> dict[str, float]:
    """`name` summed over the given /metrics texts (workers), per value of `label`."""
    total: dict[str, float] = {}
    for text in texts:
        for labels, value in samples(text, name):
            total[labels[label]] = total.get(labels[label], 0.0) + value
    return total


def prometheus_config(targets: Mapping[str, Sequence[str]], scrape_s: float) -> dict[str, Any]:
    """The shipped deploy/prometheus/prometheus.yml with the jobs of the running processes only,
    pointed at `targets` (job -> host:port), scraping every `scrape_s` seconds."""
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    missing = set(targets) - set(jobs)
    assert not missing, f"jobs not in the shipped config: {missing}"
    config["global"] = {"scrape_interval": f"{scrape_s:g}s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS_DIR / rule) for rule in config["rule_files"]]
    config["scrape_configs"] = [
        {**jobs[job], "static_configs": [{"targets": list(hosts)}]}
        for job, hosts in targets.items()
    ]
    return config


class PrometheusServer:
    """Debian's `prometheus` binary on a free loopback port, in its own folder."""

    def __init__(self, home: Path, config: dict[str, Any]) -> None:
        self.home = home
        self.config = config
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        binary = need("prometheus")
        self.home.mkdir(parents=True, exist_ok=True)
        config_path = self.home / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config))
        log = (self.home / "prometheus.log").open("ab")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.home / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1d",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{self.log_tail()}")
            try:
                if http_get(f"{self.url}/-/ready", timeout_s=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"prometheus not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        status, _, body = http_get(f"{self.url}/api/v1/{path}?{query}")
        answer = orjson.loads(body)
        assert status == 200 and answer["status"] == "success", (path, params, answer)
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = (
            data["result"] if data["resultType"] == "vector" else [{"value": data["result"]}]
        )
        return result

    def log_tail(self, lines: int = 40) -> str:
        path = self.home / "prometheus.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def processes(names: Iterable[str]) -> list[Process]:
    wanted = set(names)
    return [p for p in PROCESSES if p.name in wanted]


PORT_ENV = {"collector": "ABM_COLLECTOR_PORT", "alerts": "ABM_ALERT_PORT"}
"""The setting that moves each non-worker process's HTTP port (the worker's is web_port)."""


class ServiceProcess(AbmProcess):
    """A non-worker process of the catalog (`abm collector`, `abm alerts`) as a child process
    with the test's settings, on a free port; stopped like the worker."""

    def __init__(self, process: Process, settings: Settings, log_path: Path) -> None:
        self.process = process
        self.port = free_port()
        super().__init__(settings, log_path, *process.command[1:],
                         env={PORT_ENV[process.name]: str(self.port)})  # fmt: skip


def busy_smtp_server(defer: int = 1) -> SmtpServer:
    """A local SMTP server (plain text on loopback) that defers the first `defer` messages with
    a 451 (a busy server, the client retries)."""
    return SmtpServer(port=free_port(), script=deque(["451 4.3.0 Busy, try again later"] * defer))


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium(args: Sequence[str], timeout_s: float = 120.0) -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium with a new, empty profile."""
    binary = need("chromium")
    with tempfile.TemporaryDirectory(prefix="abm-chromium-") as profile:
        return subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )


def screenshot(url: str, out: Path, width: int = 1280, height: int = 2000) -> None:
    result = chromium([f"--window-size={width},{height}", f"--screenshot={out}", url])
    assert out.is_file() and out.stat().st_size > 10_000, result.stderr.decode()[-2000:]


def rendered_dom(url: str) -> str:
    """The page's DOM after Chromium rendered it."""
    result = chromium(["--dump-dom", url])
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result.stdout.decode()


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
