"""The stack the operations tests share (started once for the folder by `conftest.py`): what is
sent, the running stack as the tests see it, and what the alert service must have counted.

The traffic: most touchpoints are produced straight into the raw topic, one account's and the
noise go through the collector's /v1/batch (plus a webhook handshake). The MQAs reach the alert
service, which alerts on the console and by e-mail (a local SMTP server that defers the first
message: a retry; one account has no owner e-mail: a `no_route` dead letter). Two sales
activities with explicit times close two follow-up SLAs: one met, one breached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from abm.core.offline import OfflineResult
from abm.core.timefmt import iso_ms
from abm_cli.settings import Settings
from tests.faults.providers import SmtpServer
from tests.support.factories import DAY, T0, account, contact_record, segment_message
from tests.support.harness import WorkerProcess
from tests.support.ops_tools import PrometheusServer, ServiceProcess, samples, scrape
from tests.support.stories import Story, buying_group, lone_reader, page_view

WEEK = T0 + 30 * DAY
XSS_NAME = 'Evil <script>alert("name")</script> Corp'
XSS_TITLE = "<img src=x onerror=alert(1)>"
XSS_PATH = '/pricing/"><script>alert(2)</script>'


# --- the traffic ------------------------------------------------------------------------------


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


COLLECTOR_BATCH = 100
"""Messages per /v1/batch request."""


# --- the running stack ------------------------------------------------------------------------


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
    reference: OfflineResult

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


# --- what the alert service counted -----------------------------------------------------------


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
