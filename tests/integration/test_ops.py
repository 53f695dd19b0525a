"""Operations on the real broker and Redis, with every process of the stack running: two
workers, the collector and the alert service. /metrics of each (promtool, the catalog), the
per-tier gauges against the in-memory reference, what the collector and the alert service
counted, a real Prometheus scraping the stack and running every dashboard query and alert rule,
and the account pages served from the table by two workers (table routing, the hottest-accounts
list gathered across workers, HTML escaping, a headless Chromium rendering).

The traffic: most touchpoints are produced straight into the raw topic, one account's and the
noise go through the collector's /v1/batch (plus a webhook handshake). The MQAs reach the alert
service, which alerts on the console and by e-mail (a local SMTP server that defers the first
message: a retry; one account has no owner e-mail: a `no_route` dead letter). Two sales
activities with explicit times close two follow-up SLAs: one met, one breached.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, run_offline
from abm.core.privacy import clear_key_pseudonym, pseudonyms_in, reveal
from abm.core.reach import hottest, reference_ms, standing, summarize
from abm.core.timefmt import iso_ms
from abm.infra.process import free_port
from abm.ops import dashboard
from abm.ops.catalog import STANDARD, WORKER, process_of
from abm.plumbing.consumer_lag import wait_caught_up
from abm.settings import Settings
from alerting.activity import SalesActivity
from alerting.service import produce_activity
from stream.topics import MQA, RAW, RESOLVED
from tests.faults.providers import SmtpServer
from tests.support.factories import DAY, HOUR, T0, account, contact_record, segment_message
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
    by_label,
    healthy,
    http_get,
    http_post,
    need,
    png_size,
    processes,
    prometheus_config,
    rendered_dom,
    samples,
    scrape,
    screenshot,
    wait_group_stable,
)
from tests.support.polling import until, until_blocking
from tests.support.stories import Story, buying_group, lone_reader, malformed, page_view

pytestmark = pytest.mark.integration

WEEK = T0 + 30 * DAY
XSS_NAME = 'Evil <script>alert("name")</script> Corp'
XSS_TITLE = "<img src=x onerror=alert(1)>"
XSS_PATH = '/pricing/"><script>alert(2)</script>'


def act_now(account_id: str, at_ms: int) -> Story:
    """A decision maker of a fit prospect requests a demo: an act-now MQA (tier 3). The account
    has an owner on Slack but no owner e-mail (its e-mail alert has no route)."""
    domain = f"{account_id}.example"
    record = account(account_id, name=f"{account_id.title()} BV", domains=(domain,), tier=3,
                     icp_fit=70, owner_email=None)  # fmt: skip
    person = contact_record(f"cio@{domain}", account_id=account_id, title="CIO",
                            role="decision_maker", seniority="c_level")  # fmt: skip
    message = segment_message(
        "track", messageId=f"{account_id}-demo", timestamp=iso_ms(at_ms), userId=f"{account_id}-u",
        anonymousId=None, event="Demo Requested", context={"traits": {"email": person.email}},
    )  # fmt: skip
    return Story([record], [person], [message])


def markup(account_id: str, at_ms: int) -> Story:
    """An account whose name, contact title and page URL carry HTML."""
    domain = f"{account_id}.example"
    record = account(account_id, name=XSS_NAME, domains=(domain,), tier=1)
    person = contact_record(f"x@{domain}", account_id=account_id, title=XSS_TITLE,
                            role="champion", seniority="manager")  # fmt: skip
    return Story([record], [person], [page_view(person.email, "x-u", XSS_PATH, at_ms, "xss-1")])


def noise(at_ms: int) -> list[dict[str, Any] | bytes]:
    """Unresolved touchpoints (free mail, unknown domain) and an unknown event name."""
    return [
        page_view("someone@gmail.com", "g-u", "/pricing", at_ms, "noise-free-mail"),
        page_view("a@unknown-co.example", "n-u", "/pricing", at_ms, "noise-unknown-domain"),
        segment_message(
            "track", messageId="noise-unknown-event", timestamp=iso_ms(at_ms), userId="c-u",
            anonymousId=None, event="Custom Thing Happened",
            context={"traits": {"email": "reader@contoso.example"}},
        ),
    ]  # fmt: skip


def ops_story() -> Story:
    """Produced straight into the raw topic."""
    story = (
        buying_group("northwind", WEEK, tier=2)
        + buying_group("fabrikam", WEEK + DAY, tier=1, copies=2)
        + act_now("tailspin", WEEK + 2 * DAY)
        + markup("evil", WEEK + DAY)
    )
    return story.sorted()


def collector_story() -> Story:
    """Sent through the collector, after the rest (one account's touchpoints stay in order)."""
    story = lone_reader("contoso", WEEK)
    story.messages.extend(noise(WEEK + 3 * DAY))
    return story.sorted()


def too_late() -> list[dict[str, Any] | bytes]:
    """Sent after everything else: 60 days behind northwind's clock (past the horizon)."""
    return [page_view("p0@northwind.example", "northwind-u0", "/pricing", WEEK - 60 * DAY, "late")]


@dataclass
class Stack:
    settings: Settings
    workers: list[WorkerProcess]
    others: dict[str, ServiceProcess]
    prometheus: PrometheusServer
    smtp: SmtpServer
    story: Story
    expected_mqas: list[dict[str, Any]]
    mqas: list[dict[str, Any]]
    reference: Any

    @property
    def ports(self) -> list[int]:
        return [w.settings.web_port for w in self.workers]

    def metrics_ports(self) -> list[tuple[str, int]]:
        """(process name, port) of every running process's /metrics."""
        return [("worker", p) for p in self.ports] + [
            (name, o.port) for name, o in self.others.items()
        ]

    def url(self, worker: int, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[worker]}{path}"

    def scrape(self, name: str) -> str:
        """/metrics of the collector or the alert service."""
        return scrape(self.others[name].port)


COLLECTOR_BATCH = 100
"""Messages per /v1/batch request."""
LINKEDIN_SECRET = "ops-test-linkedin-secret"


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


def alert_counts(text: str) -> dict[str, Any]:
    """What the alert service counted, by the labels the tests check."""

    def by(name: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {tuple(ls[label] for label in labels): v for ls, v in samples(text, name) if v}

    deliveries = by("abm_alert_deliveries_total", "channel", "kind", "outcome")
    return {
        # the MQA topic is at-least-once: a repeated record is skipped (repeat, duplicate)
        "mqas": {k: v for k, v in by("abm_alert_mqa_records_total", "repeat").items()
                 if k == ("false",)},
        "deliveries": {k: v for k, v in deliveries.items() if k[2] != "duplicate"},
        "dead letters": by("abm_alert_dead_letters_total", "channel", "reason"),
        "retries": by("abm_alert_retries_total", "channel", "reason"),
        "sla": by("abm_sla_outcomes_total", "tier", "outcome"),
        "follow-ups": by("abm_followup_seconds_count", "tier"),
        "activities": by("abm_sales_activities_total", "kind"),
    }  # fmt: skip


ALERTED = {
    "mqas": {("false",): 3.0},
    "deliveries": {("console", "mqa", "sent"): 3.0, ("email", "mqa", "sent"): 2.0,
                   ("email", "mqa", "no_route"): 1.0},
    "dead letters": {("email", "no_route"): 1.0},
    "retries": {("email", "server_busy"): 1.0},
}  # fmt: skip
"""Three MQAs, each alerted once on the console; by e-mail the two with an owner address (the
first attempt deferred by the server and retried), the act-now one dead-lettered (no route)."""
FOLLOWED_UP = {
    "sla": {("2", "met"): 1.0, ("1", "breached"): 1.0},
    "follow-ups": {("2",): 1.0, ("1",): 1.0},
    "activities": {("meeting",): 1.0, ("call",): 1.0},
}


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


@pytest.fixture(scope="module")
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
    bad = malformed()
    await create_topics(settings)
    await load_directory(settings, story.accounts, story.contacts)
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
    try:
        smtp.start()
        for worker in workers:
            worker.start()
        for other in others.values():
            other.start()
        prometheus.start()
        await wait_group_stable(settings, settings.app_id, members=len(workers))
        sent = [*bad[:4], *direct.messages, *bad[4:]]
        await produce_raw(settings, sent)
        collector = others["collector"]
        await until(lambda: healthy(collector.port) or AssertionError(collector.log_tail()),
                    "the collector's /healthz", timeout_s=120)  # fmt: skip
        post_to_collector(settings, collector.port, via_collector.messages)
        challenge = "890e4665-4dfe-4ab1-b689-ed553bceeed1"  # LinkedIn's form: a UUID
        status, _, body = http_get(
            f"http://127.0.0.1:{collector.port}/webhooks/linkedin?challengeCode={challenge}"
        )
        assert status == 200, body[:300]
        await produce_raw(settings, too_late())
        model = load_model()
        raw = [m if isinstance(m, bytes) else orjson.dumps(m)
               for m in [*sent, *via_collector.messages, *too_late()]]  # fmt: skip
        reference = run_offline(raw, InMemoryDirectory.of(story.accounts, story.contacts), model)
        records = await read_topic(
            settings, MQA, until=len(reference.mqas), timeout_s=120, settle_s=2,
            worker=workers[0],
        )  # fmt: skip
        # every input record processed and committed: the table holds the final states
        await wait_caught_up(
            settings, settings.app_id, [RAW.name(settings.topic_prefix),
                                        RESOLVED.name(settings.topic_prefix)], timeout_s=120,
        )  # fmt: skip
        mqas = [r.json() for r in records]
        alerts = others["alerts"]

        def counted(expected: dict[str, Any]) -> dict[str, Any] | AssertionError:
            if not alerts.alive():
                return AssertionError(alerts.log_tail())
            got = alert_counts(stack_scrape(alerts.port))
            got = {k: got[k] for k in expected}
            return got if got == expected else AssertionError(got)

        await until(lambda: counted(ALERTED), "the alerts", timeout_s=120)
        for activity in follow_ups(mqas):
            await produce_activity(settings, activity)
        await until(lambda: counted(FOLLOWED_UP), "the follow-ups", timeout_s=120)
        for process in [*workers, *others.values()]:
            assert process.alive(), process.log_tail()
        yield Stack(
            settings=settings,
            workers=workers,
            others=others,
            prometheus=prometheus,
            smtp=smtp,
            story=story,
            expected_mqas=reference.mqas,
            mqas=mqas,
            reference=reference,
        )
    finally:
        prometheus.stop()
        for other in others.values():
            other.stop()
        for worker in workers:
            worker.stop()
        smtp.stop()
        for process in [*workers, *others.values()]:
            print(f"{process.log_path.name} tail:\n{process.log_tail(30)}")
        print(f"prometheus log tail:\n{prometheus.log_tail(20)}")


def stack_scrape(port: int) -> str:
    """/metrics, or "" while the process does not answer yet."""
    try:
        return scrape(port)
    except (OSError, AssertionError):
        return ""


def test_the_mqas_are_the_reference_ones(stack: Stack) -> None:
    assert sorted(m["mqa_id"] for m in stack.mqas) == sorted(
        m["mqa_id"] for m in stack.expected_mqas
    )
    rules = {m["account"]["id"]: m["rule"] for m in stack.mqas}
    assert rules == {"northwind": "threshold", "fabrikam": "threshold", "tailspin": "act_now"}


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


def expected_figures(stack: Stack) -> dict[str, Any]:
    model = load_model()
    states = list(stack.reference.states.values())
    at = reference_ms(states)
    summaries = summarize([standing(s, model, at) for s in states], (1, 2, 3))
    return {
        "abm_accounts_tracked": {str(t): float(s.tracked) for t, s in summaries.items()},
        "abm_accounts_reached": {str(t): float(s.reached) for t, s in summaries.items()},
        "abm_accounts_engaged": {str(t): float(s.engaged) for t, s in summaries.items()},
        "abm_accounts_in_mqa_episode": {str(t): float(s.in_episode) for t, s in summaries.items()},
    }


def test_per_tier_gauges_summed_over_workers_match_the_reference(stack: Stack) -> None:
    expected = expected_figures(stack)
    # tailspin's act-now MQA scored 60 (capped), under the exit score 90 of tier 3: its episode
    # is over by the hysteresis rule, as the engine will decide at its next touchpoint
    assert expected["abm_accounts_in_mqa_episode"] == {"1": 1.0, "2": 1.0, "3": 0.0}

    def figures() -> dict[str, Any] | AssertionError:
        texts = [scrape(port) for port in stack.ports]
        got = {name: by_label(texts, name, "tier") for name in expected}
        return got if got == expected else AssertionError(got)

    until_blocking(figures, "the account gauges")
    texts = [scrape(port) for port in stack.ports]
    targets = [dict((labels["tier"], v) for labels, v in samples(t, "abm_target_accounts"))
               for t in texts]  # fmt: skip
    tiers = [str(a.tier) for a in stack.story.accounts]
    assert all(t == {str(n): float(tiers.count(str(n))) for n in (1, 2, 3)} for t in targets)
    coverage = by_label(texts, "abm_engaged_accounts_by_coverage", "coverage")
    assert sum(coverage.values()) == sum(expected["abm_accounts_engaged"].values())


def test_worker_metrics_count_channels_dead_letters_and_late_touchpoints(stack: Stack) -> None:
    # page messages with a missing messageId, a numeric userId, a bad timestamp: still "web"
    expected = {
        "dead letters by channel": {"unknown": 5.0, "web": 3.0},
        "unresolved by reason": {"free_mail": 1.0, "unknown_domain": 1.0},
        "unknown events": {"other": 1.0},
        "too late": 1.0,
        "duplicates": 20.0,  # fabrikam's 20 page views, each sent twice
    }

    def counted() -> dict[str, Any] | AssertionError:
        texts = [scrape(port) for port in stack.ports]
        received = by_label(texts, "abm_touchpoints_received_total", "channel")
        got = {
            "dead letters by channel": by_label(texts, "abm_dead_letters_total", "channel"),
            "unresolved by reason": by_label(texts, "abm_touchpoints_unresolved_total", "reason"),
            "unknown events": {k: v for k, v in received.items() if k == "other"},
            "too late": sum(
                v for t in texts for _, v in samples(t, "abm_touchpoints_too_late_total")
            ),
            "duplicates": sum(
                v for t in texts for _, v in samples(t, "abm_touchpoints_duplicate_total")
            ),
        }
        return got if got == expected and received.get("web", 0) > 0 else AssertionError(got)

    until_blocking(counted, "the pipeline counters")


def test_the_collector_counted_what_it_took(stack: Stack) -> None:
    text = stack.scrape("collector")
    events = {
        (ls["type"], ls["outcome"]): v for ls, v in samples(text, "abm_collector_events_total")
    }
    pages = sum(
        1 for m in collector_story().messages if isinstance(m, dict) and m["type"] == "page"
    )
    assert events == {("page", "accepted"): float(pages), ("track", "accepted"): 1.0}
    requests = {(ls["endpoint"], ls["code"]): v
                for ls, v in samples(text, "abm_collector_requests_total")}  # fmt: skip
    batches = -(-len(collector_story().messages) // COLLECTOR_BATCH)
    assert requests == {("batch", "200"): float(batches)}
    webhooks = {(ls["provider"], ls["outcome"]): v
                for ls, v in samples(text, "abm_webhook_requests_total")}  # fmt: skip
    assert webhooks == {("linkedin", "handshake"): 1.0}
    assert samples(text, "abm_collector_kafka_ready") == [({}, 1.0)]


def test_the_alert_service_alerted_each_mqa_once_and_closed_two_slas(stack: Stack) -> None:
    counts = alert_counts(stack.scrape("alerts"))
    assert {k: counts[k] for k in ALERTED} == ALERTED
    assert {k: counts[k] for k in FOLLOWED_UP} == FOLLOWED_UP
    emailed = sorted(str(m["X-ABM-Alert-Id"]).removesuffix(":email") for m in stack.smtp.inbox)
    owned = sorted(m["mqa_id"] for m in stack.mqas if m["account"]["id"] != "tailspin")
    assert emailed == owned
    # the console channel printed every alert into the service's output
    output = stack.others["alerts"].log_path.read_text(errors="replace")
    for mqa in stack.mqas:
        assert mqa["account"]["name"] in output, mqa["account"]["id"]


def substitute(expr: str) -> str:
    """Grafana's interval variables, as the dashboard would resolve them on a short range."""
    return expr.replace(dashboard.RATE, "1m").replace(dashboard.RANGE, "1h")


def test_every_dashboard_query_of_the_running_processes_returns_data(stack: Stack) -> None:
    queries = dashboard.all_queries()
    ours = []
    for query in queries:
        owners = [
            process_of(name) for name in dashboard.metrics_used(query.expr) if name not in STANDARD
        ]
        assert None not in owners, f"{query.expr}: a metric no process exports"
        if all(owner is not None and owner.name in RUNNING for owner in owners):
            ours.append(substitute(query.expr))
    assert len(ours) == len(queries), "every process of the dashboard runs"

    def empty() -> list[str] | AssertionError:
        missing = [expr for expr in ours if not stack.prometheus.query(expr)]
        return AssertionError(missing) if missing else ["all returned data"]

    until_blocking(empty, "data for every dashboard query", timeout_s=90, poll_s=1)


def test_the_alert_rules_load_and_evaluate(stack: Stack) -> None:
    def healthy() -> list[str] | AssertionError:
        groups = stack.prometheus.api("rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        bad = [f"{r['name']}: {r.get('lastError')}" for r in rules if r["health"] != "ok"]
        if len(rules) < 6 or bad:
            return AssertionError(bad or rules)
        return [r["name"] for r in rules]

    names = until_blocking(healthy, "healthy alert rules", timeout_s=30)
    assert {"AbmConsumerLagGrowing", "AbmDeadLettersSpiking", "AbmAlertDeliveryFailing",
            "AbmSlaBreached"} <= set(names)  # fmt: skip


def account_json(stack: Stack, worker: int, account_id: str) -> dict[str, Any]:
    status, content_type, body = http_get(
        stack.url(worker, f"/accounts/{account_id}"), accept="application/json"
    )
    assert status == 200, body[:500]
    assert content_type.startswith("application/json")
    answer: dict[str, Any] = orjson.loads(body)
    return answer


def account_requests(stack: Stack) -> list[float]:
    return [
        sum(
            v
            for labels, v in samples(scrape(port), "abm_account_requests_total")
            if labels == {"endpoint": "account", "code": "200"}
        )
        for port in stack.ports
    ]


def test_every_worker_answers_for_every_account_via_table_routing(stack: Stack) -> None:
    ids = sorted(a.account_id for a in stack.story.accounts)
    before = account_requests(stack)
    views = {i: [account_json(stack, w, i) for w in (0, 1)] for i in ids}
    after = account_requests(stack)
    for account_id, (first, second) in views.items():
        assert first == second, account_id
        assert first["account"]["id"] == account_id
    served = [b - a for a, b in zip(before, after, strict=True)]
    # each account is served by its owner only, whichever worker was asked
    assert sum(served) == 2 * len(ids) and all(n % 2 == 0 for n in served), served


def test_the_account_json_explains_the_mqa(stack: Stack) -> None:
    view = account_json(stack, 0, "northwind")
    [mqa] = [m for m in stack.mqas if m["account"]["id"] == "northwind"]
    assert view["mqa_history"][0]["mqa_id"] == mqa["mqa_id"]
    # the topic names persons by pseudonym; the page by the e-mails the directory gives them
    assert "@northwind.example" not in orjson.dumps(mqa).decode()
    secret = stack.settings.pseudonym_secret()
    names = {clear_key_pseudonym(c.email, secret): c.email for c in stack.story.contacts}
    assert view["mqa_history"][0]["event"] == reveal(mqa, names)
    assert not pseudonyms_in(view)
    assert view["threshold"] == 100 and view["coverage"] == 1.0
    assert {s["role"] for s in view["stakeholders"]} >= {"decision_maker", "champion"}
    assert len(view["timeline"]) == 20 and view["timeline"][0]["at"] >= view["timeline"][-1]["at"]
    assert len(view["score_history"]["points"]) == 90
    assert max(p["score"] for p in view["score_history"]["points"]) >= 100


def test_the_hottest_accounts_are_gathered_from_every_worker(stack: Stack) -> None:
    lists = []
    for worker in (0, 1):
        status, _, body = http_get(stack.url(worker, "/accounts?limit=10"), "application/json")
        assert status == 200, body[:300]
        lists.append(orjson.loads(body))
    assert lists[0]["accounts"] == lists[1]["accounts"]
    for payload in lists:
        assert payload["workers"] == 2 and payload["missing_workers"] == []
    model = load_model()
    states = list(stack.reference.states.values())
    at = reference_ms(states)
    expected = hottest([standing(s, model, at) for s in states], None, 10)
    assert [a["account_id"] for a in lists[0]["accounts"]] == [s.account_id for s in expected]
    status, _, body = http_get(stack.url(1, "/accounts?tier=2"), "application/json")
    assert [a["account_id"] for a in orjson.loads(body)["accounts"]] == ["northwind"]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/accounts/nobody-here", 404), ("/accounts?tier=9", 400), ("/accounts?limit=0", 400)],
)
def test_bad_requests_are_answered_clearly(stack: Stack, path: str, status: int) -> None:
    code, _, body = http_get(stack.url(0, path), "application/json")
    assert code == status
    assert orjson.loads(body)["error"]


@pytest.mark.parametrize("worker", [0, 1])
def test_the_account_page_escapes_everything_from_the_data(stack: Stack, worker: int) -> None:
    status, content_type, body = http_get(stack.url(worker, "/accounts/evil"), "text/html")
    page = body.decode()
    assert status == 200 and content_type.startswith("text/html")
    assert "<script" not in page and "<img" not in page
    assert "Evil &lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt; Corp" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_account_page_renders_in_chromium(stack: Stack, tmp_path: Path) -> None:
    url = stack.url(1, "/accounts/northwind")
    dom = rendered_dom(url)
    [mqa] = [m for m in stack.mqas if m["account"]["id"] == "northwind"]
    for text in (
        "Northwind BV",
        "in MQA episode",
        "Buying-group coverage 100%",
        "decision maker",
        "p0@northwind.example",
        "Touchpoint timeline",
        "pricing page",
        "Score, last 90 days",
        "<polyline",
        "threshold 100",
        "MQA history",
        mqa["mqa_id"],
        html.escape(mqa["summary"], quote=False),  # names nobody: a threshold MQA
    ):
        assert text in dom, text
    shot = tmp_path / "account-page.png"
    screenshot(url, shot, height=2300)
    width, height = png_size(shot)
    assert (width, height) == (1280, 2300)
    target = os.environ.get("ABM_SCREENSHOT_OUT")
    if target:
        shutil.copyfile(shot, target)
