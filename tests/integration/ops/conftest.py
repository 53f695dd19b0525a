"""The stack of the operations tests, started once for this folder: two workers, the collector,
the alert service, a local SMTP server and a real Prometheus scraping them, on the real broker and
Redis. The fixture runs the steps below in order; what is sent is in `stack.py`."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, OfflineResult, run_offline
from abm.infra.process import free_port
from abm.ops.catalog import WORKER
from abm.plumbing.consumer_lag import wait_caught_up
from abm_cli.settings import Settings
from alerting.activity import SalesActivity
from alerting.service import produce_activity
from stream.topics import MQA, RAW, RESOLVED
from tests.faults.providers import SmtpServer
from tests.integration.ops.stack import (
    ALERTED,
    COLLECTOR_BATCH,
    FOLLOWED_UP,
    Stack,
    alert_counts,
    collector_story,
    ops_story,
    too_late,
)
from tests.support.factories import DAY, HOUR
from tests.support.harness import (
    WorkerProcess,
    create_topics,
    load_directory,
    make_settings,
    produce_raw,
    read_topic,
)
from tests.support.ops_tools import (
    RUNNING,
    PrometheusServer,
    ServiceProcess,
    busy_smtp_server,
    healthy,
    http_get,
    http_post,
    processes,
    prometheus_config,
    scrape,
    wait_group_stable,
)
from tests.support.polling import until
from tests.support.stories import Story, malformed

LINKEDIN_SECRET = "ops-test-linkedin-secret"


@pytest.fixture(scope="package")
async def stack(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("ops")
    settings = make_settings(
        kafka_bootstrap, redis_url, tmp, partitions=4, account_metrics_interval_s=1.0,
        lag_interval_s=1.0,
    )  # fmt: skip
    direct = ops_story()
    via_collector = collector_story()
    story = direct + via_collector
    await create_topics(settings)
    await load_directory(settings, story.accounts, story.contacts)
    running = Running.of(settings, tmp)
    try:
        await running.start()
        raw = await send_traffic(running, direct, via_collector)
        reference = run_offline(raw, InMemoryDirectory.of(story.accounts, story.contacts),
                                load_model())  # fmt: skip
        mqas = await processed(running, reference)
        await alerted_and_followed_up(running, mqas)
        for process in running.every_process():
            assert process.alive(), process.log_tail()
        yield Stack(
            settings=settings,
            workers=running.workers,
            others=running.others,
            prometheus=running.prometheus,
            smtp=running.smtp,
            story=story,
            expected_mqas=reference.mqas,
            mqas=mqas,
            reference=reference,
        )
    finally:
        running.stop()


# --- the processes ----------------------------------------------------------------------------


@dataclass
class Running:
    """The processes of the stack: two workers, the others of `RUNNING` (the collector and the
    alert service), the SMTP server the alerts go to and Prometheus scraping every process."""

    settings: Settings
    workers: list[WorkerProcess]
    others: dict[str, ServiceProcess]
    smtp: SmtpServer
    prometheus: PrometheusServer

    @classmethod
    def of(cls, settings: Settings, tmp: Path) -> Running:
        workers = [
            WorkerProcess(settings, tmp / "worker-1.log"),
            WorkerProcess(
                settings.model_copy(update={"web_port": free_port(), "state_dir": tmp / "state-2"}),
                tmp / "worker-2.log",
            ),
        ]
        smtp = busy_smtp_server(defer=1)
        own = service_settings(settings, smtp)
        others = {
            process.name: ServiceProcess(process, own[process.name], tmp / f"{process.name}.log")
            for process in processes(RUNNING)
            if process is not WORKER
        }
        targets = {WORKER.job: [f"127.0.0.1:{w.settings.web_port}" for w in workers]}
        targets.update({o.process.job: [f"127.0.0.1:{o.port}"] for o in others.values()})
        prometheus = PrometheusServer(tmp / "prometheus", prometheus_config(targets, scrape_s=1))
        return cls(settings, workers, others, smtp, prometheus)

    def every_process(self) -> list[WorkerProcess | ServiceProcess]:
        return [*self.workers, *self.others.values()]

    async def start(self) -> None:
        """Start everything; traffic may start once both workers are in the consumer group (a
        worker joining late would repeat uncommitted records and count them twice)."""
        self.smtp.start()
        for process in self.every_process():
            process.start()
        self.prometheus.start()
        await wait_group_stable(self.settings, self.settings.app_id, members=len(self.workers))

    def stop(self) -> None:
        """Stop everything, then print each process's log tail (shown when a test failed)."""
        self.prometheus.stop()
        for other in self.others.values():
            other.stop()
        for worker in self.workers:
            worker.stop()
        self.smtp.stop()
        for process in self.every_process():
            print(f"{process.log_path.name} tail:\n{process.log_tail(30)}")
        print(f"prometheus log tail:\n{self.prometheus.log_tail(20)}")


def service_settings(settings: Settings, smtp: SmtpServer) -> dict[str, Settings]:
    """The settings of each non-worker process: the collector with a LinkedIn webhook secret,
    the alert service on the console and by e-mail through the local SMTP server, with short
    retry delays."""
    return {
        "collector": settings.model_copy(
            update={"webhook_linkedin_secret": SecretStr(LINKEDIN_SECRET)}
        ),
        "alerts": settings.model_copy(
            update={
                "alert_channels": "console,email",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "smtp_starttls": False,
                "alert_backoff_s": 0.05,
                "alert_backoff_max_s": 0.5,
            }
        ),
    }


# --- the traffic ------------------------------------------------------------------------------


async def send_traffic(running: Running, direct: Story, via_collector: Story) -> list[bytes]:
    """Malformed records around `direct` straight into the raw topic, then `via_collector`
    through the collector's /v1/batch, a LinkedIn webhook handshake, and a touchpoint too late
    to count. Everything that reached the raw topic, in order, as bytes (for the reference)."""
    settings = running.settings
    bad = malformed()
    sent = [*bad[:4], *direct.messages, *bad[4:]]
    await produce_raw(settings, sent)
    collector = running.others["collector"]
    await until(lambda: healthy(collector.port) or AssertionError(collector.log_tail()),
                "the collector's /healthz", timeout_s=120)  # fmt: skip
    post_to_collector(settings, collector.port, via_collector.messages)
    challenge = "890e4665-4dfe-4ab1-b689-ed553bceeed1"  # LinkedIn's form: a UUID
    status, _, body = http_get(
        f"http://127.0.0.1:{collector.port}/webhooks/linkedin?challengeCode={challenge}"
    )
    assert status == 200, body[:300]
    await produce_raw(settings, too_late())
    return [m if isinstance(m, bytes) else orjson.dumps(m)
            for m in [*sent, *via_collector.messages, *too_late()]]  # fmt: skip


def post_to_collector(settings: Settings, port: int, messages: list[dict[str, Any] | bytes]) -> int:
    """Send `messages` in order through the collector's /v1/batch (HTTP Basic: the write key);
    the number of requests."""
    key = settings.write_keys()[0]
    auth = base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {auth}"}
    requests = 0
    for start in range(0, len(messages), COLLECTOR_BATCH):
        batch = messages[start : start + COLLECTOR_BATCH]
        assert all(isinstance(m, dict) for m in batch)
        status, body = http_post(f"http://127.0.0.1:{port}/v1/batch",
                                 orjson.dumps({"batch": batch}), headers)  # fmt: skip
        assert status == 200, body[:500]
        requests += 1
    return requests


async def processed(running: Running, reference: OfflineResult) -> list[dict[str, Any]]:
    """The MQAs the workers wrote (as many as the reference has), once every input record is
    processed and committed: the table then holds the final states."""
    settings = running.settings
    records = await read_topic(
        settings, MQA, until=len(reference.mqas), timeout_s=120, settle_s=2,
        worker=running.workers[0],
    )  # fmt: skip
    await wait_caught_up(
        settings, settings.app_id, [RAW.name(settings.topic_prefix),
                                    RESOLVED.name(settings.topic_prefix)], timeout_s=120,
    )  # fmt: skip
    return [r.json() for r in records]


# --- the alerts and their follow-ups ----------------------------------------------------------


async def alerted_and_followed_up(running: Running, mqas: list[dict[str, Any]]) -> None:
    """Wait until the alert service counted `ALERTED`; then send the sales activities of
    `follow_ups` and wait until it counted `FOLLOWED_UP`."""
    alerts = running.others["alerts"]

    def counted(expected: dict[str, Any]) -> dict[str, Any] | AssertionError:
        if not alerts.alive():
            return AssertionError(alerts.log_tail())
        got = alert_counts(scrape_or_nothing(alerts.port))
        got = {k: got[k] for k in expected}
        return got if got == expected else AssertionError(got)

    await until(lambda: counted(ALERTED), "the alerts", timeout_s=120)
    for activity in follow_ups(mqas):
        await produce_activity(running.settings, activity)
    await until(lambda: counted(FOLLOWED_UP), "the follow-ups", timeout_s=120)


def follow_ups(mqas: list[dict[str, Any]]) -> list[SalesActivity]:
    """Northwind (tier 2) gets a meeting an hour after it qualified: in time. Fabrikam (tier 1)
    gets a call a week from now: late. (An MQA that reaches the alert service after its due time
    gets a full window from its arrival, now: 4 h for tier 1, so a week from now is late.)"""
    by_account = {m["account"]["id"]: m for m in mqas}
    now_ms = int(time.time() * 1000)
    return [
        SalesActivity(activity_id="ops-meeting", account_id="northwind", kind="meeting",
                      at_ms=by_account["northwind"]["qualified_at_ms"] + HOUR,
                      by="ae@vendor.example", source="test"),
        SalesActivity(activity_id="ops-call", account_id="fabrikam", kind="call",
                      at_ms=now_ms + 7 * DAY, by="ae@vendor.example", source="test"),
    ]  # fmt: skip


def scrape_or_nothing(port: int) -> str:
    """/metrics, or "" while the process does not answer yet."""
    try:
        return scrape(port)
    except (OSError, AssertionError):
        return ""
