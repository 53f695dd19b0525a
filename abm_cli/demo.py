"""`abm demo`: the engine on the bundled sample, end to end, on the local stack.

Loads the sample directory, starts a worker, replays the sample's touchpoints (times moved so the
latest is now), runs the alert service (`abm alerts`, console channel) which prints every MQA
alert as it arrives, and ends with a summary: throughput, MQAs by rule and tier, what was
dead-lettered or left unresolved; then one stakeholder of the first MQA is forgotten
(`abm privacy forget`) and the demo shows their account's page no longer names them; last the
backtest of the model on the sample against the sample's opportunities (conversion, lead time,
pipeline). Each run uses its own topics and
consumer group, so it can be repeated and never mixes with a real installation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from abm.backtest.sample import sample_backtest_lines
from abm.core.directory_csv import parse_accounts, parse_contacts
from abm.core.model import load_model
from abm.core.mqa_event import MqaEvent
from abm.core.privacy import Identity
from abm.infra.process import InfraError, free_port
from abm.infra.stack import Stack
from abm.plumbing.consumer_lag import wait_caught_up
from abm.plumbing.redis_clients import open_directory
from abm.plumbing.topics_admin import ensure_topics
from abm.privacy.forget import forget
from abm_cli.settings import Settings
from alerting.service import AlertService
from producers.replay import replay
from stream.topics import MQA, RAW, RESOLVED

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "samples"


@dataclass
class DemoSummary:
    sent: int = 0
    skipped_lines: int = 0
    seconds_to_caught_up: float = 0.0
    mqas: list[MqaEvent] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    privacy: list[str] = field(default_factory=list)
    """What the erasure step printed."""

    @property
    def throughput(self) -> float:
        return self.sent / self.seconds_to_caught_up if self.seconds_to_caught_up else 0.0


def demo_settings(settings: Settings) -> Settings:
    run = time.strftime("%Y%m%d-%H%M%S")
    return settings.model_copy(
        update={
            "app_id": f"abm-demo-{run}",
            "topic_prefix": f"abm-demo-{run}",
            "redis_prefix": "abm-demo",
            "web_port": free_port(),
        }
    )


def run_demo(base: Settings, keep_running: bool = False, sample_dir: Path = SAMPLE_DIR) -> int:
    model = load_model(base.scoring_model)  # a broken model stops here, with the key named
    Stack(base).up()
    settings = demo_settings(base)
    out = sys.stdout
    out.write(f"demo run {settings.app_id}: topics {settings.topic_prefix}.*\n")
    accounts = parse_accounts(sample_dir / "accounts.csv")
    contacts = parse_contacts(
        sample_dir / "contacts.csv", known_account_ids={a.account_id for a in accounts}
    )
    asyncio.run(_load(settings, accounts, contacts))
    out.write(f"directory: {len(accounts)} accounts, {len(contacts)} contacts\n")
    worker = _start_worker(settings)
    try:
        summary = asyncio.run(_run(settings, worker, sample_dir / "touchpoints.jsonl"))
        summary.metrics = _scrape(settings.web_port)
    finally:
        if not keep_running:
            _stop(worker)
    _print_summary(summary, settings)
    sys.stdout.write("\n".join(sample_backtest_lines(model, sample_dir)) + "\n")
    if keep_running:
        out.write(f"worker still running (pid {worker.pid}); metrics on "
                  f"http://127.0.0.1:{settings.web_port}/metrics\n")  # fmt: skip
    return 0 if summary.mqas else 1


async def _load(settings: Settings, accounts: list[Any], contacts: list[Any]) -> None:
    await ensure_topics(settings)
    store = await open_directory(settings)
    try:
        await store.load(accounts, contacts)
    finally:
        await store.close()


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    log_dir = settings.state_dir / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"{settings.app_id}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "abm_cli", "worker"],
        env={**os.environ, **settings.to_env()},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


async def _run(settings: Settings, worker: subprocess.Popen[bytes], sample: Path) -> DemoSummary:
    summary = DemoSummary()
    await _wait_worker_ready(settings, worker)
    # the alert service, console channel, in this process: it prints each MQA alert once.
    # The Kafka client logs its group-coordinator retries on a fresh broker as errors: noise here.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    alert_settings = settings.model_copy(update={"alert_channels": "console", "alert_port": 0})
    service = AlertService(alert_settings, out=sys.stdout, on_alert=summary.mqas.append)
    alerts = asyncio.create_task(service.run())
    report = await replay(settings, sample, shift_to_now=True, progress=True)
    summary.sent, summary.skipped_lines = report.sent, len(report.bad_lines)
    for bad in report.bad_lines:
        sys.stdout.write(f"{sample.name}:{bad.line}: skipped: {bad.why}\n")
    start = time.monotonic() - report.seconds
    caught_up = await wait_caught_up(
        settings,
        settings.app_id,
        [RAW.name(settings.topic_prefix), RESOLVED.name(settings.topic_prefix)],
        timeout_s=300,
    )
    summary.seconds_to_caught_up = caught_up - start
    # every MQA is alerted once the alert service has committed the whole MQA topic
    try:
        await wait_caught_up(settings, f"{settings.app_id}-alerts",
                             [MQA.name(settings.topic_prefix)], timeout_s=120)  # fmt: skip
    finally:
        service.stopping.set()
        with contextlib.suppress(asyncio.CancelledError):
            await alerts
    summary.privacy = await _forget_one(settings, summary.mqas)
    return summary


async def _forget_one(settings: Settings, mqas: list[MqaEvent]) -> list[str]:
    """Forget a stakeholder the first MQA names (by e-mail), and show the account's page
    before and after the worker applied the erasure."""
    named = [
        (event.account.id, row.contact)
        for event in mqas
        for row in event.top_contacts
        if "@" in row.contact
    ]
    if not named:
        return ["  (no MQA names a stakeholder by e-mail: nothing to forget)"]
    account_id, email = named[0]
    before = email.encode() in _page(settings, account_id)
    redis = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        report = await forget(settings, redis, Identity.parse("email", email))
    finally:
        await redis.aclose()
    deadline = time.monotonic() + 30
    while email.encode() in _page(settings, account_id) and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    gone = email.encode() not in _page(settings, account_id)
    return [
        f"  forgotten            : {email} (abm privacy forget; erasure {report.erasure_id})",
        f"  account page         : /accounts/{account_id} named them before: {before}; "
        f"after the workers' erasure: {not gone}",
    ]


def _page(settings: Settings, account_id: str) -> bytes:
    """The account's page as JSON, as the worker serves it."""
    url = f"http://127.0.0.1:{settings.web_port}/accounts/{account_id}"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body: bytes = response.read()
    return body


async def _wait_worker_ready(
    settings: Settings, worker: subprocess.Popen[bytes], timeout_s: float = 90.0
) -> None:
    """The worker is ready when its web server answers (it starts after the app is set up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            log = settings.state_dir / "demo" / f"{settings.app_id}.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise InfraError(f"the worker exited during start-up:\n{tail}")
        if _scrape(settings.web_port, quiet=True):
            return
        await asyncio.sleep(0.3)
    raise InfraError(f"the worker did not start within {timeout_s:.0f} s")


def _scrape(port: int, quiet: bool = False) -> dict[str, float]:
    """Our own counters from the worker's /metrics, summed over labels."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        if quiet:
            return {}
        raise
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("abm_") and not line.startswith("#"):
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0]
            values[name] = values.get(name, 0.0) + float(value)
    return values


def _alerts_sent() -> float:
    """Console alerts the in-process alert service delivered (its own metric)."""
    from prometheus_client import REGISTRY

    labels = {"channel": "console", "kind": "mqa", "outcome": "sent"}
    return REGISTRY.get_sample_value("abm_alert_deliveries_total", labels) or 0.0


def _print_summary(summary: DemoSummary, settings: Settings) -> None:
    m = summary.metrics
    rules = Counter(e.rule for e in summary.mqas)
    tiers = Counter(e.account.tier for e in summary.mqas)
    lines = [
        "",
        "== Summary ==",
        f"  touchpoints replayed : {summary.sent} ({summary.skipped_lines} bad lines skipped)",
        f"  throughput           : {summary.throughput:,.0f} touchpoints/s "
        f"(replay start to everything processed: {summary.seconds_to_caught_up:.1f} s)",
        f"  resolved             : {m.get('abm_touchpoints_resolved_total', 0):.0f}"
        f" | unresolved (parked): {m.get('abm_touchpoints_unresolved_total', 0):.0f}"
        f" | dead-lettered: {m.get('abm_dead_letters_total', 0):.0f}",
        f"  MQAs                 : {len(summary.mqas)} "
        f"(threshold {rules.get('threshold', 0)}, act now {rules.get('act_now', 0)}; "
        + ", ".join(f"tier {t}: {n}" for t, n in sorted(tiers.items()))
        + ")",
        f"  alerts (console)     : {_alerts_sent():.0f} delivered by the alert service, "
        "one per MQA",
        f"  see them again       : ABM_TOPIC_PREFIX={settings.topic_prefix} "
        "abm mqa tail --from-beginning",
        "",
        "== Privacy: a stakeholder asks to be forgotten ==",
        *summary.privacy,
    ]
    sys.stdout.write("\n".join(lines) + "\n")
