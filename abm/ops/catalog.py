"""Every process of the stack and the Prometheus metrics it exposes on `/metrics`.

One place that says which process exports which metric, with one line each: the dashboard and
the alert rules may only use metrics listed here, the tests check each running process's
`/metrics` against its list (and its metrics module), and docs/operations.md lists them all.

Names follow the Prometheus conventions: prefix `abm_`, base units (`_seconds`), counters end in
`_total`, histograms are listed by their base name, and no label ever carries an account, a
contact or an e-mail address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Process:
    name: str
    """Service name in docker-compose.yml."""
    job: str
    """Prometheus job name (deploy/prometheus/prometheus.yml)."""
    command: tuple[str, ...]
    port: int
    """Default HTTP port of its /metrics."""
    health_path: str
    """What the compose healthcheck asks for: 200 when the process is up."""
    metrics_module: str
    """The module that defines its metrics."""
    metrics: dict[str, str]
    """Exposed name (counters with `_total`, histograms by base name) -> one line."""


WORKER: Final = Process(
    name="worker",
    job="abm-worker",
    command=("abm", "worker"),
    port=6066,
    health_path="/metrics",
    metrics_module="stream.metrics",
    metrics={
        "abm_raw_messages_total": "raw records consumed from touchpoints.raw",
        "abm_touchpoints_received_total": "valid track/page messages entering resolution {channel}",
        "abm_touchpoints_resolved_total": "touchpoints resolved to an account {step, channel}",
        "abm_touchpoints_unresolved_total": "touchpoints parked as unresolved {reason, channel}",
        "abm_dead_letters_total": "records dead-lettered {stage, reason, channel}",
        "abm_messages_ignored_total": "well-formed messages without account signal {type}",
        "abm_suppressed_total": "messages of suppressed persons dropped {stage}",
        "abm_erasures_total": "erasure commands applied (one per input partition)",
        "abm_accounts_scrubbed_total": "account states a person was erased from",
        "abm_directory_links_learned_total": "person links learned from identify/group {type}",
        "abm_directory_retries_total": "directory (Redis) calls retried",
        "abm_touchpoints_scored_total": "touchpoints applied to account state {signal_class}",
        "abm_touchpoints_duplicate_total": "touchpoints whose messageId was already counted",
        "abm_touchpoints_too_late_total": "touchpoints behind the lateness horizon",
        "abm_touchpoints_unknown_event_total": "track events the scoring model does not know",
        "abm_accounts_first_engaged_total": "accounts engaged for the first time {tier}",
        "abm_mqa_total": "MQA events emitted {tier, rule}",
        "abm_mqa_reemitted_total": "MQA events re-sent after a redelivered trigger",
        "abm_accounts_left_qualified_total": "accounts that fell under the hysteresis exit {tier}",
        "abm_engagement_batches_total": "batches of touchpoints the engagement agent applied",
        "abm_engagement_flushes_total": "writes of the changed account states to the table",
        "abm_engagement_state_writes_total": "account states written to the engagement table",
        "abm_engagement_cache_accounts": "decoded account states cached between batches",
        "abm_event_to_mqa_seconds": "histogram: touchpoint entering Kafka -> MQA sent",
        "abm_engaged_to_mqa_seconds": "histogram: first engagement -> MQA, event time {tier}",
        "abm_target_accounts": "target accounts in the directory {tier}",
        "abm_accounts_tracked": "accounts with engagement state, this worker's partitions {tier}",
        "abm_accounts_reached": "accounts with a touchpoint in 30 days (event time) {tier}",
        "abm_accounts_engaged": "accounts with an active stakeholder (event time) {tier}",
        "abm_accounts_in_mqa_episode": "accounts qualified and above the exit score {tier}",
        "abm_accounts_surging": "accounts whose engagement surges {tier}",
        "abm_engaged_accounts_by_coverage": "engaged accounts per buying-group coverage band "
        "{tier, coverage}",
        "abm_event_time_reference_timestamp_seconds": "event-time 'now' of the account figures",
        "abm_account_scan_duration_seconds": "time the last account figure recomputation took",
        "abm_account_scan_timestamp_seconds": "when the account figures were last recomputed",
        "abm_account_scan_errors_total": "account figure recomputations that failed",
        "abm_consumer_lag_records": "records of the worker group's input not yet committed {topic}",
        "abm_consumer_lag_errors_total": "consumer lag probes that failed",
        "abm_account_requests_total": "account page and API requests {endpoint, code}",
    },
)

COLLECTOR: Final = Process(
    name="collector",
    job="abm-collector",
    command=("abm", "collector"),
    port=8088,
    health_path="/healthz",
    metrics_module="producers.metrics",
    metrics={
        "abm_collector_requests_total": "collector HTTP requests {endpoint, code}",
        "abm_collector_events_total": "events received by the collector {type, outcome}",
        "abm_collector_request_seconds": "histogram: collector request duration {endpoint}",
        "abm_collector_timestamps_clamped_total": "event times set to the receive time {why}",
        "abm_collector_kafka_ready": "1 while connected to Kafka and no ack is overdue",
        "abm_collector_producer_renewals_total": "producers replaced, their sequence lost",
        "abm_webhook_requests_total": "provider webhook requests {provider, outcome}",
        "abm_suppressed_total": "events of suppressed persons dropped {stage}",
    },
)

ALERTS: Final = Process(
    name="alerts",
    job="abm-alerts",
    command=("abm", "alerts"),
    port=8089,
    health_path="/healthz",
    metrics_module="alerting.metrics",
    metrics={
        "abm_alert_deliveries_total": "alert deliveries {channel, kind, outcome}",
        "abm_alert_delivery_seconds": "histogram: claim -> provider accepted {channel}",
        "abm_event_to_alert_seconds": "histogram: touchpoint entering Kafka -> alert accepted "
        "{channel}",
        "abm_alert_retries_total": "alert delivery attempts retried {channel, reason}",
        "abm_alert_dead_letters_total": "alerts dead-lettered {channel, reason}",
        "abm_alert_mqa_records_total": "MQA records consumed, new or repeated id {repeat}",
        "abm_alert_mqa_invalid_total": "MQA records that cannot be alerted",
        "abm_sla_outcomes_total": "follow-up SLAs met or breached {tier, outcome}",
        "abm_escalations_total": "follow-up SLA escalations delivered {tier}",
        "abm_followup_seconds": "histogram: MQA -> first follow-up {tier}",
        "abm_sales_activities_total": "sales activities consumed {kind}",
        "abm_sales_activities_rejected_total": "sales activity records that break the schema",
        "abm_mqa_feedback_total": "AE verdicts on MQA alerts, once per person {tier, rule, "
        "verdict}",
        "abm_mqa_feedback_withdrawn_total": "AE verdicts replaced by the person's other verdict "
        "{tier, rule, verdict}",
        "abm_opportunities_created_total": "opportunities the CRM webhook reported first {tier}",
        "abm_opportunities_won_total": "opportunities the CRM webhook reported won {tier}",
        "abm_mqa_converted_total": "MQAs followed by an opportunity within 90 days {tier, rule}",
    },
)

PROCESSES: Final = (WORKER, COLLECTOR, ALERTS)
STANDARD: Final = frozenset({"up"})
"""Series Prometheus itself adds for every scrape target."""


def process_of(metric: str) -> Process | None:
    """The process that exports `metric` (a histogram's `_bucket`/`_sum`/`_count` included)."""
    for process in PROCESSES:
        for name in process.metrics:
            if metric == name or metric in (f"{name}_bucket", f"{name}_sum", f"{name}_count"):
                return process
    return None
