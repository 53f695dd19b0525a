"""Prometheus metrics of the stream worker.

Conventions: prefix `abm_`, base units (`_seconds`), counters end in `_total`, and labels never
carry an account, contact or e-mail (only small fixed sets: reason, step, class, tier, rule).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RAW_RECEIVED = Counter(
    "abm_raw_messages_total", "Raw messages consumed from the raw touchpoint topic."
)
RESOLVED = Counter(
    "abm_touchpoints_resolved_total",
    "Touchpoints resolved to an account, by the resolution step that found it.",
    ["step"],
)
UNRESOLVED = Counter(
    "abm_touchpoints_unresolved_total",
    "Touchpoints parked on the unresolved topic, by reason.",
    ["reason"],
)
DEAD_LETTERS = Counter(
    "abm_dead_letters_total",
    "Records sent to the dead-letter topic, by stage and reason.",
    ["stage", "reason"],
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
