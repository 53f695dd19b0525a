"""Prometheus metrics of the alert service (`/metrics` on `ABM_ALERT_PORT`).

Labels are small fixed sets (channel, outcome, reason, kind, tier); never an account, a person,
an e-mail address or a Slack id.
"""

from __future__ import annotations

from typing import Final, get_args

from prometheus_client import Counter, Histogram

from abm.core.directory_csv import TIERS
from abm.ops import exposition
from abm.outcomes.verdicts import VERDICTS
from alerting.activity import KINDS
from alerting.content import RULE_LABELS
from alerting.sla import Outcome

exposition.configure()

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

DELIVERIES = Counter(
    "abm_alert_deliveries_total",
    "Alert deliveries by channel, kind (mqa, escalation) and outcome: sent, duplicate (already "
    "delivered, skipped), dead (dead-lettered), unconfirmed (crashed mid-send, not resent), "
    "no_route.",
    ["channel", "kind", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "abm_alert_delivery_seconds",
    "From claiming a delivery to the provider accepting it, retries included.",
    ["channel"],
    buckets=_LATENCY_BUCKETS,
)
EVENT_TO_ALERT = Histogram(
    "abm_event_to_alert_seconds",
    "From the touchpoint entering Kafka (abm-ingest-ms) to its MQA alert being accepted.",
    ["channel"],
    buckets=_LATENCY_BUCKETS,
)
RETRIES = Counter(
    "abm_alert_retries_total", "Delivery attempts that are retried, by reason.",
    ["channel", "reason"],
)  # fmt: skip
DEAD_LETTERS = Counter(
    "abm_alert_dead_letters_total", "Alerts sent to the alerts dead-letter topic, by reason.",
    ["channel", "reason"],
)  # fmt: skip
MQAS_RECEIVED = Counter(
    "abm_alert_mqa_records_total",
    "MQA records consumed, by whether the MQA id was new to this service or a repeat.",
    ["repeat"],
)
MQAS_INVALID = Counter(
    "abm_alert_mqa_invalid_total", "MQA records that cannot be alerted (not JSON, missing field)."
)
SLA_OUTCOMES = Counter(
    "abm_sla_outcomes_total", "Follow-up SLAs met or breached, by tier.", ["tier", "outcome"]
)
ESCALATIONS = Counter(
    "abm_escalations_total", "Follow-up SLA escalations delivered, by tier.", ["tier"]
)
FOLLOWUP_SECONDS = Histogram(
    "abm_followup_seconds",
    "From the start of the follow-up window (the MQA) to the first follow-up, by tier.",
    ["tier"],
    buckets=(60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 8 * 3600.0, 86_400.0,
             2 * 86_400.0, 4 * 86_400.0, 7 * 86_400.0),
)  # fmt: skip
ACTIVITIES = Counter("abm_sales_activities_total", "Sales activities consumed, by kind.", ["kind"])
ACTIVITY_REJECTED = Counter(
    "abm_sales_activities_rejected_total", "Sales activity records that break the schema."
)
FEEDBACK = Counter(
    "abm_mqa_feedback_total",
    "AE verdicts on MQA alerts (good, not_a_fit), by tier and rule: each verdict a person gives "
    "an MQA, once (a repeated click is not counted; a changed verdict counts the new one here "
    "and the old one in abm_mqa_feedback_withdrawn_total).",
    ["tier", "rule", "verdict"],
)
FEEDBACK_WITHDRAWN = Counter(
    "abm_mqa_feedback_withdrawn_total",
    "AE verdicts replaced by the same person's other verdict on the MQA, by the verdict "
    "withdrawn; current verdicts = abm_mqa_feedback_total - this.",
    ["tier", "rule", "verdict"],
)
OPPORTUNITIES_CREATED = Counter(
    "abm_opportunities_created_total",
    "Opportunities the CRM webhook reported for the first time, by the account's tier.",
    ["tier"],
)
OPPORTUNITIES_WON = Counter(
    "abm_opportunities_won_total",
    "Opportunities the CRM webhook reported won (the first time it says won), by tier.",
    ["tier"],
)
MQA_CONVERTED = Counter(
    "abm_mqa_converted_total",
    "MQAs whose account opened an opportunity at most 90 days after them (counted once per "
    "MQA, when the CRM webhook reports the opportunity), by tier and rule.",
    ["tier", "rule"],
)


SLA_OUTCOME_VALUES: Final = get_args(Outcome)
"""`met`, `breached`: the `outcome` label of `abm_sla_outcomes_total`."""


def start_series() -> None:
    """A 0 series for every value these labels can take, when the service starts: "no breach
    on tier 2 yet" is then a 0 on the dashboard and `increase()` sees the first one, instead of
    a series that does not exist. Only fixed, known sets (tiers, SLA outcomes, activity kinds,
    MQA rules, verdicts);
    channels and reasons appear with their first event."""
    for tier in map(str, TIERS):
        for outcome in SLA_OUTCOME_VALUES:
            SLA_OUTCOMES.labels(tier=tier, outcome=outcome)
        ESCALATIONS.labels(tier=tier)
        FOLLOWUP_SECONDS.labels(tier=tier)
    for repeat in ("false", "true"):
        MQAS_RECEIVED.labels(repeat=repeat)
    for kind in KINDS:
        ACTIVITIES.labels(kind=kind)
    for tier in map(str, TIERS):
        OPPORTUNITIES_CREATED.labels(tier=tier)
        OPPORTUNITIES_WON.labels(tier=tier)
        for rule in RULE_LABELS:
            MQA_CONVERTED.labels(tier=tier, rule=rule)
            for verdict in VERDICTS:
                FEEDBACK.labels(tier=tier, rule=rule, verdict=verdict)
                FEEDBACK_WITHDRAWN.labels(tier=tier, rule=rule, verdict=verdict)
