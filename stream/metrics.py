"""Prometheus metrics of the stream worker.

Conventions: prefix `abm_`, base units (`_seconds`), counters end in `_total`, and labels never
carry an account, contact or e-mail (only small fixed sets: reason, step, class, tier, rule,
channel, coverage band, topic). The list with one line each: docs/operations.md.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge, Histogram

from abm.ops import exposition
from abm.privacy.metrics import SUPPRESSED as SUPPRESSED

exposition.configure()

RAW_RECEIVED = Counter(
    "abm_raw_messages_total", "Raw messages consumed from the raw touchpoint topic."
)
RECEIVED = Counter(
    "abm_touchpoints_received_total",
    "Valid track/page messages entering resolution, by channel (abm.core.marketing_channel).",
    ["channel"],
)
RESOLVED = Counter(
    "abm_touchpoints_resolved_total",
    "Touchpoints resolved to an account, by the resolution step that found it and channel.",
    ["step", "channel"],
)
UNRESOLVED = Counter(
    "abm_touchpoints_unresolved_total",
    "Touchpoints parked on the unresolved topic, by reason and channel.",
    ["reason", "channel"],
)
DEAD_LETTERS = Counter(
    "abm_dead_letters_total",
    "Records sent to the dead-letter topic, by stage, reason and channel (as far as the "
    "record still tells, else unknown).",
    ["stage", "reason", "channel"],
)
ERASURES = Counter(
    "abm_erasures_total",
    "Erasure commands (abm privacy forget) applied, one per partition of the input they reach.",
)
ACCOUNTS_SCRUBBED = Counter(
    "abm_accounts_scrubbed_total",
    "Account states an erasure removed a person from (written to the table at once).",
)
IGNORED = Counter(
    "abm_messages_ignored_total", "Well-formed messages that carry no account signal.", ["type"]
)
DIRECTORY_UPDATES = Counter(
    "abm_directory_links_learned_total", "Person links learned from identify/group calls.", ["type"]
)
DIRECTORY_RETRIES = Counter(
    "abm_directory_retries_total", "Directory (Redis) calls retried after an error."
)
SCORED = Counter(
    "abm_touchpoints_scored_total",
    "Touchpoints applied to account state, by signal class.",
    ["signal_class"],
)
DUPLICATES = Counter(
    "abm_touchpoints_duplicate_total", "Touchpoints whose messageId was already counted."
)
TOO_LATE = Counter(
    "abm_touchpoints_too_late_total",
    "Touchpoints further behind their account's clock than the lateness horizon.",
)
UNKNOWN_EVENTS = Counter(
    "abm_touchpoints_unknown_event_total",
    "Track events whose name the scoring model does not know.",
)
FIRST_ENGAGEMENTS = Counter(
    "abm_accounts_first_engaged_total", "Accounts engaged for the first time, by tier.", ["tier"]
)
MQAS = Counter("abm_mqa_total", "MQA events emitted, by tier and rule.", ["tier", "rule"])
MQA_REEMITTED = Counter(
    "abm_mqa_reemitted_total", "MQA events sent again because their trigger was redelivered."
)
LEFT_QUALIFIED = Counter(
    "abm_accounts_left_qualified_total",
    "Accounts whose score fell under the hysteresis exit, by tier.",
    ["tier"],
)
ENGAGEMENT_BATCHES = Counter(
    "abm_engagement_batches_total",
    "Batches of resolved touchpoints the engagement agent applied (touchpoints per batch: "
    "abm_touchpoints_scored_total and the other outcomes over this).",
)
FLUSHES = Counter(
    "abm_engagement_flushes_total",
    "Writes of the engagement agent's changed account states to the table (every "
    "ABM_ENGAGEMENT_FLUSH_INTERVAL_S, after ABM_ENGAGEMENT_FLUSH_IDLE_S without input, or "
    "when the state cache is full).",
)
STATE_WRITES = Counter(
    "abm_engagement_state_writes_total",
    "Account states written to the engagement table, one changelog record each: at most one "
    "per account per flush.",
)
STATE_CACHE_ACCOUNTS = Gauge(
    "abm_engagement_cache_accounts",
    "Decoded account states the engagement agent keeps between batches (bounded by "
    "ABM_ENGAGEMENT_CACHE_ACCOUNTS).",
)
EVENT_TO_MQA = Histogram(
    "abm_event_to_mqa_seconds",
    "From the touchpoint entering Kafka to its MQA event being sent.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
ENGAGED_TO_MQA = Histogram(
    "abm_engaged_to_mqa_seconds",
    "Event time from an account's first engagement to its MQA, by tier.",
    ["tier"],
    buckets=tuple(d * 86_400.0 for d in (1, 3, 7, 14, 21, 30, 45, 60, 90, 180)),
)

# --- per-tier account figures, recomputed from the engagement table (stream/gauges.py) -------
# Every worker reports the accounts of the partitions it owns: sum them over workers. The
# target account counts come from the directory and are the same on every worker: take max.

TARGET_ACCOUNTS = Gauge(
    "abm_target_accounts", "Target accounts in the directory, by tier.", ["tier"]
)
ACCOUNTS_TRACKED = Gauge(
    "abm_accounts_tracked",
    "Accounts with engagement state (a resolved touchpoint, ever) on this worker, by tier.",
    ["tier"],
)
ACCOUNTS_REACHED = Gauge(
    "abm_accounts_reached",
    "Accounts with a touchpoint in the 30 days before the event-time reference, by tier.",
    ["tier"],
)
ACCOUNTS_ENGAGED = Gauge(
    "abm_accounts_engaged",
    "Accounts with at least one active stakeholder at the event-time reference, by tier.",
    ["tier"],
)
ACCOUNTS_IN_EPISODE = Gauge(
    "abm_accounts_in_mqa_episode",
    "Accounts qualified and not yet under the hysteresis exit score, by tier.",
    ["tier"],
)
ACCOUNTS_SURGING = Gauge(
    "abm_accounts_surging", "Accounts whose engagement surges (the surge rule), by tier.", ["tier"]
)
ENGAGED_BY_COVERAGE = Gauge(
    "abm_engaged_accounts_by_coverage",
    "Engaged accounts by buying-group coverage band (lower bound: 0, 0.25, 0.5, 0.75, 1), by tier.",
    ["tier", "coverage"],
)
EVENT_TIME_REFERENCE = Gauge(
    "abm_event_time_reference_timestamp_seconds",
    "The event-time 'now' of the account figures: the latest event time among this worker's "
    "accounts (Unix seconds).",
)
ACCOUNT_SCAN_SECONDS = Gauge(
    "abm_account_scan_duration_seconds",
    "Wall time the last recomputation of the account figures took.",
)
ACCOUNT_SCAN_TIMESTAMP = Gauge(
    "abm_account_scan_timestamp_seconds",
    "Wall-clock time the account figures were last recomputed (Unix seconds).",
)
ACCOUNT_SCAN_ERRORS = Counter(
    "abm_account_scan_errors_total",
    "Recomputations of the account figures that failed (the gauges keep their last values).",
)

# --- consumer lag -----------------------------------------------------------------------------

CONSUMER_LAG = Gauge(
    "abm_consumer_lag_records",
    "Records of the worker group's input topics not yet committed, by topic. The whole group's "
    "lag, so every worker reports the same figure: take max over workers, not sum.",
    ["topic"],
)
LAG_ERRORS = Counter(
    "abm_consumer_lag_errors_total", "Consumer lag probes that failed (the gauge keeps its value)."
)

# --- account pages ----------------------------------------------------------------------------

ACCOUNT_REQUESTS = Counter(
    "abm_account_requests_total",
    "Account page and API requests served by this worker, by endpoint and HTTP status code.",
    ["endpoint", "code"],
)


@functools.lru_cache(maxsize=1024)
def child(metric: Counter, *label_values: str) -> Counter:
    """`metric.labels(*label_values)`, looked up once: `labels()` takes a lock and builds a key
    on every call, which the agents would do for every touchpoint. Only for labels whose values
    the model fixes (channels, signal classes, resolution steps), never an account or a person;
    1,024 children at most."""
    return metric.labels(*label_values)
