"""Prometheus metrics of the collector process (served on its /metrics).

Labels are small fixed sets (endpoint, HTTP code, message type, outcome, provider); never an
account, a person, an e-mail or a write key.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from abm.ops import exposition
from abm.privacy.metrics import SUPPRESSED as SUPPRESSED
from producers.ingest import CLAMP_ANCIENT, CLAMP_FUTURE

exposition.configure()

REQUESTS = Counter(
    "abm_collector_requests_total",
    "Collector HTTP requests, by endpoint and response code.",
    ["endpoint", "code"],
)
EVENTS = Counter(
    "abm_collector_events_total",
    "Events received by the collector, by message type and outcome: accepted (acknowledged by "
    "Kafka), duplicate (messageId seen before, not produced again), rejected (refused with its "
    "request: too large, not JSON, bad key), unavailable (answered 503, to be retried).",
    ["type", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "abm_collector_request_seconds",
    "Time from a request's arrival to its answer, by endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0),
)
TIMES_CLAMPED = Counter(
    "abm_collector_timestamps_clamped_total",
    "Event times replaced by the receive time: in the future, or before 2000.",
    ["why"],
)
KAFKA_READY = Gauge(
    "abm_collector_kafka_ready",
    "1 while the collector is connected to Kafka and no record is overdue for its ack.",
)
PRODUCER_RENEWALS = Counter(
    "abm_collector_producer_renewals_total",
    "Kafka producers replaced because the broker lost their sequence numbers (after an outage): "
    "each is a few seconds of 503 answers, which the SDKs retry.",
)
WEBHOOKS = Counter(
    "abm_webhook_requests_total",
    "Webhook requests, by provider and outcome (accepted, duplicate, ignored, handshake, "
    "bad_signature, stale, invalid, unavailable, not_configured).",
    ["provider", "outcome"],
)


SUPPRESSED_STAGE = "collector"


def start_series() -> None:
    """A 0 series for each reason an event time can be clamped, when the collector starts (a
    fixed set), so the first clamp shows in `increase()` instead of creating the series."""
    for why in (CLAMP_FUTURE, CLAMP_ANCIENT):
        TIMES_CLAMPED.labels(why=why)
    SUPPRESSED.labels(stage=SUPPRESSED_STAGE)
