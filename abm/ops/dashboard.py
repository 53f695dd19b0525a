"""The Grafana dashboard, as code: `abm ops dashboard` writes deploy/grafana/dashboards/abm.json.

Two rows: the **ABM view** (reach, the funnel per tier from target account to won opportunity,
MQA -> opportunity conversion, AE verdicts, engaged accounts and MQAs per tier, coverage, SLA met
and breached, follow-up time) and the **pipe view** (throughput, lag, event -> MQA latency, dead
letters, alert delivery, collector). Per-tier account gauges are summed over workers (each
reports the accounts of its partitions); directory counts and the group's consumer lag are the
same on every worker, so they are aggregated with max.

Every query uses only metrics of `abm.ops.catalog`; a test runs each of them against a real
Prometheus scraping the stack after a replay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

DATASOURCE: Final = {"type": "prometheus", "uid": "abm-prometheus"}
UID: Final = "abm-overview"
RATE: Final = "$__rate_interval"
RANGE: Final = "$__range"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"
    unit: str = "short"
    width: int = 8
    height: int = 8


def q(expr: str, legend: str = "") -> Query:
    return Query(" ".join(expr.split()), legend)


ABM_ROW: Final = (
    Panel(
        "Account reach per tier (30 days)",
        "Share of the directory's target accounts with at least one touchpoint in the 30 days "
        "before the engine's event-time reference.",
        (
            q(
                "sum by (tier) (abm_accounts_reached) / on (tier) "
                "clamp_min(max by (tier) (abm_target_accounts), 1)",
                "tier {{tier}}",
            ),
        ),
        kind="bargauge",
        unit="percentunit",
    ),
    Panel(
        "Target, reached and engaged accounts",
        "Engaged: at least one active stakeholder (a known contact with a scored touch in 30 "
        "days).",
        (
            q("max by (tier) (abm_target_accounts)", "target, tier {{tier}}"),
            q("sum by (tier) (abm_accounts_reached)", "reached, tier {{tier}}"),
            q("sum by (tier) (abm_accounts_engaged)", "engaged, tier {{tier}}"),
        ),
    ),
    Panel(
        "Funnel per tier",
        "Target accounts, reached and engaged now (event time); MQAs, opportunities the CRM "
        "webhook reported and opportunities won, over the dashboard's time range.",
        (
            q("max by (tier) (abm_target_accounts)", "target, tier {{tier}}"),
            q("sum by (tier) (abm_accounts_reached)", "reached, tier {{tier}}"),
            q("sum by (tier) (abm_accounts_engaged)", "engaged, tier {{tier}}"),
            q(f"sum by (tier) (increase(abm_mqa_total[{RANGE}]))", "MQA, tier {{tier}}"),
            q(
                f"sum by (tier) (increase(abm_opportunities_created_total[{RANGE}]))",
                "opportunity, tier {{tier}}",
            ),
            q(
                f"sum by (tier) (increase(abm_opportunities_won_total[{RANGE}]))",
                "won, tier {{tier}}",
            ),
        ),
        kind="bargauge",
        height=10,
    ),
    Panel(
        "MQA -> opportunity conversion",
        "MQAs whose account opened an opportunity within 90 days after them, as a share of the "
        "MQAs, over the dashboard's time range. A conversion is counted when the opportunity "
        "arrives, so the share of recent MQAs still grows for up to 90 days.",
        (
            q(
                f"sum by (tier) (increase(abm_mqa_converted_total[{RANGE}])) / on (tier) "
                f"clamp_min(sum by (tier) (increase(abm_mqa_total[{RANGE}])), 1)",
                "tier {{tier}}",
            ),
        ),
        kind="bargauge",
        unit="percentunit",
        height=10,
    ),
    Panel(
        "AE verdicts on MQA alerts",
        "Good lead / not a fit, from the alert's buttons and links, over the dashboard's time "
        "range: verdicts given minus those the same person changed.",
        (
            q(
                f"sum by (tier, verdict) (increase(abm_mqa_feedback_total[{RANGE}])) - "
                f"sum by (tier, verdict) (increase(abm_mqa_feedback_withdrawn_total[{RANGE}]))",
                "tier {{tier}} {{verdict}}",
            ),
        ),
        kind="bargauge",
        height=10,
    ),
    Panel(
        "MQAs per tier and rule (per hour)",
        "MQA events emitted, by the rule that fired (threshold or act now).",
        (q("sum by (tier, rule) (increase(abm_mqa_total[1h]))", "tier {{tier}} {{rule}}"),),
    ),
    Panel(
        "Accounts in an MQA episode",
        "Qualified accounts whose score is still above the hysteresis exit (60% of threshold).",
        (q("sum by (tier) (abm_accounts_in_mqa_episode)", "tier {{tier}}"),),
        kind="stat",
        width=6,
    ),
    Panel(
        "Buying-group coverage of engaged accounts",
        "Engaged accounts per coverage band (lower bound): how much of the buying group is active.",
        (
            q(
                "sum by (tier, coverage) (abm_engaged_accounts_by_coverage)",
                "tier {{tier}}, coverage >= {{coverage}}",
            ),
        ),
        kind="bargauge",
        width=6,
    ),
    Panel(
        "Newly engaged and surging accounts",
        "First engagements per day, and accounts whose engagement surges now.",
        (
            q(
                "sum by (tier) (increase(abm_accounts_first_engaged_total[1d]))",
                "new, tier {{tier}}",
            ),
            q("sum by (tier) (abm_accounts_surging)", "surging, tier {{tier}}"),
        ),
        width=6,
    ),
    Panel(
        "First engagement to MQA (median, event time)",
        "How long accounts take from their first scored touchpoint to qualifying.",
        (
            q(
                "histogram_quantile(0.5, sum by (tier, le) "
                f"(increase(abm_engaged_to_mqa_seconds_bucket[{RANGE}])))",
                "tier {{tier}}",
            ),
        ),
        kind="stat",
        unit="s",
        width=6,
    ),
    Panel(
        "Follow-up SLA: met and breached",
        "Follow-ups within the SLA (4 h tier 1, 24 h tier 2, 48 h tier 3, 30 min act now) and "
        "breaches, over the dashboard's time range.",
        (
            q(
                f"sum by (tier, outcome) (increase(abm_sla_outcomes_total[{RANGE}]))",
                "tier {{tier}} {{outcome}}",
            ),
            q(
                f"sum by (tier) (increase(abm_escalations_total[{RANGE}]))",
                "escalations, tier {{tier}}",
            ),
        ),
        kind="bargauge",
    ),
    Panel(
        "Follow-up time (median and p90)",
        "From the MQA to the first sales follow-up.",
        (
            q(
                "histogram_quantile(0.5, sum by (tier, le) "
                f"(increase(abm_followup_seconds_bucket[{RANGE}])))",
                "median, tier {{tier}}",
            ),
            q(
                "histogram_quantile(0.9, sum by (tier, le) "
                f"(increase(abm_followup_seconds_bucket[{RANGE}])))",
                "p90, tier {{tier}}",
            ),
        ),
        kind="bargauge",
        unit="s",
    ),
    Panel(
        "Account figures: event-time reference",
        "How far the event-time 'now' of the account figures is behind the wall clock (live: "
        "seconds; during a replay of history: the age of the replayed data).",
        (
            q("time() - max(abm_event_time_reference_timestamp_seconds)", "event-time delay"),
            q("time() - max(abm_account_scan_timestamp_seconds)", "since last recomputation"),
        ),
        kind="stat",
        unit="s",
    ),
)

PIPE_ROW: Final = (
    Panel(
        "Throughput",
        "Raw records in, valid touchpoints per channel, touchpoints applied to account state.",
        (
            q(f"sum(rate(abm_raw_messages_total[{RATE}]))", "raw in"),
            q(
                f"sum by (channel) (rate(abm_touchpoints_received_total[{RATE}]))",
                "touchpoints, {{channel}}",
            ),
            q(f"sum(rate(abm_touchpoints_scored_total[{RATE}]))", "applied"),
        ),
        unit="reqps",
    ),
    Panel(
        "Consumer lag",
        "Records of the worker group's input topics not yet committed.",
        (q("max by (topic) (abm_consumer_lag_records)", "{{topic}}"),),
    ),
    Panel(
        "Event -> MQA latency",
        "From the touchpoint entering Kafka to its MQA event being sent.",
        (
            q(
                "histogram_quantile(0.5, sum by (le) "
                f"(rate(abm_event_to_mqa_seconds_bucket[{RATE}])))",
                "median",
            ),
            q(
                "histogram_quantile(0.95, sum by (le) "
                f"(rate(abm_event_to_mqa_seconds_bucket[{RATE}])))",
                "p95",
            ),
            q(
                "histogram_quantile(0.99, sum by (le) "
                f"(rate(abm_event_to_mqa_seconds_bucket[{RATE}])))",
                "p99",
            ),
        ),
        unit="s",
    ),
    Panel(
        "Dead letters by stage and reason",
        "Bad input parked on the dead-letter topic with its reason.",
        (
            q(
                f"sum by (stage, reason) (increase(abm_dead_letters_total[{RATE}]))",
                "{{stage}}: {{reason}}",
            ),
        ),
    ),
    Panel(
        "Resolution",
        "Touchpoints resolved per step, and unresolved ones per reason.",
        (
            q(
                f"sum by (step) (rate(abm_touchpoints_resolved_total[{RATE}]))",
                "resolved by {{step}}",
            ),
            q(
                f"sum by (reason) (rate(abm_touchpoints_unresolved_total[{RATE}]))",
                "unresolved: {{reason}}",
            ),
        ),
        unit="reqps",
    ),
    Panel(
        "Unresolved share",
        "Share of valid touchpoints no account could be found for.",
        (
            q(
                f"sum(increase(abm_touchpoints_unresolved_total[{RANGE}])) / "
                f"clamp_min(sum(increase(abm_touchpoints_received_total[{RANGE}])), 1)",
                "unresolved",
            ),
        ),
        kind="stat",
        unit="percentunit",
    ),
    Panel(
        "Alert delivery",
        "Alert deliveries by channel and outcome (sent, duplicate, dead, unconfirmed, "
        "no_route), retries and dead-lettered alerts.",
        (
            q(
                f"sum by (channel, outcome) (increase(abm_alert_deliveries_total[{RATE}]))",
                "{{channel}} {{outcome}}",
            ),
            q(
                f"sum by (channel, reason) (increase(abm_alert_retries_total[{RATE}]))",
                "retry {{channel}}: {{reason}}",
            ),
            q(
                f"sum by (channel, reason) (increase(abm_alert_dead_letters_total[{RATE}]))",
                "dead {{channel}}: {{reason}}",
            ),
        ),
    ),
    Panel(
        "Alert latency (p95)",
        "Event -> alert accepted by Slack or SMTP, and the delivery itself (retries included).",
        (
            q(
                "histogram_quantile(0.95, sum by (channel, le) "
                f"(rate(abm_event_to_alert_seconds_bucket[{RATE}])))",
                "event -> alert, {{channel}}",
            ),
            q(
                "histogram_quantile(0.95, sum by (channel, le) "
                f"(rate(abm_alert_delivery_seconds_bucket[{RATE}])))",
                "delivery, {{channel}}",
            ),
        ),
        unit="s",
    ),
    Panel(
        "Collector",
        "Collector requests by endpoint and code, events by outcome, webhooks by provider.",
        (
            q(
                f"sum by (endpoint, code) (rate(abm_collector_requests_total[{RATE}]))",
                "{{endpoint}} {{code}}",
            ),
            q(
                f"sum by (type, outcome) (rate(abm_collector_events_total[{RATE}]))",
                "{{type}} {{outcome}}",
            ),
            q(
                f"sum by (provider, outcome) (rate(abm_webhook_requests_total[{RATE}]))",
                "webhook {{provider}} {{outcome}}",
            ),
            q(
                "histogram_quantile(0.95, sum by (endpoint, le) "
                f"(rate(abm_collector_request_seconds_bucket[{RATE}])))",
                "p95 {{endpoint}}",
            ),
        ),
    ),
    Panel(
        "Processes up",
        "1 when Prometheus can scrape the process.",
        (q('up{job=~"abm-.*"}', "{{job}} {{instance}}"),),
        kind="stat",
    ),
    Panel(
        "Duplicates, late and unknown touchpoints",
        "Repeated messageIds (counted once), touchpoints past the lateness horizon, unknown "
        "event names (scored 0).",
        (
            q(f"sum(increase(abm_touchpoints_duplicate_total[{RATE}]))", "duplicate"),
            q(f"sum(increase(abm_touchpoints_too_late_total[{RATE}]))", "too late"),
            q(f"sum(increase(abm_touchpoints_unknown_event_total[{RATE}]))", "unknown event"),
        ),
    ),
)

ROWS: Final = (("ABM view", ABM_ROW), ("Pipe view", PIPE_ROW))


def all_queries() -> list[Query]:
    return [query for _, panels in ROWS for panel in panels for query in panel.queries]


METRIC_NAME: Final = re.compile(r"\b(abm_[a-z0-9_]+|up)\b")


def metrics_used(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr))


def build() -> dict[str, Any]:
    """The dashboard JSON model (Grafana 10/11 schema)."""
    panels: list[dict[str, Any]] = []
    next_id = 1
    y = 0
    for title, row in ROWS:
        panels.append(
            {
                "type": "row",
                "id": next_id,
                "title": title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x = 0
        row_height = 0
        for panel in row:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panels.append(_panel(panel, next_id, x, y))
            next_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return {
        "uid": UID,
        "title": "ABM engine",
        "description": "Account reach, engagement, MQAs and follow-up per tier; pipeline health.",
        "tags": ["abm"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if panel.kind in ("stat", "bargauge"):
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
        }
    else:
        options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
    return {
        "type": panel.kind,
        "id": panel_id,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": options,
        "targets": [
            {
                "refId": chr(ord("A") + n),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend,
                "range": True,
            }
            for n, query in enumerate(panel.queries)
        ],
    }


def render() -> bytes:
    """The dashboard file's exact content."""
    return orjson.dumps(build(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
