"""Every topic of the engine: its name, key and value schema. Nothing else names a topic.

Names are `{prefix}.{suffix}` with the prefix from settings (default `abm`), so several
installations, or tests, share one cluster without touching each other. The Faust changelog of
the engagement table is the exception: Faust names it `{app_id}-{table}-changelog`.

| topic | key | value |
|---|---|---|
| touchpoints.raw | `account:<id>`, else `user:<id>` / `anon:<id>` | Segment message, JSON |
| touchpoints.resolved | account id | internal touchpoint, JSON (`abm.core.touchpoint`) |
| touchpoints.unresolved | routing key | the raw Segment message; headers say why |
| deadletter | the raw key | the raw bytes as received; headers say why |
| mqa | account id | MQA event with explanation, JSON (`abm.core.explain`) |
| sales.activity | account id | a sales follow-up, JSON (`alerting.activity`) |
| alerts.deadletter | account id | an undeliverable alert or MQA record, JSON (`alerting.service`) |
| privacy.erasure | erasure id | contact pseudonyms of a forgotten person (`abm.core.erasure`) |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from abm.core.resolution import routing_key
from abm.core.segment import SegmentMessage
from abm.settings import CommonSettings

# Kafka headers we write (bytes values, UTF-8).
HEADER_REASON: Final = "abm-reason"
"""Dead letters and unresolved touchpoints: the reason code (a metric label value)."""
HEADER_DETAIL: Final = "abm-detail"
"""Human explanation: which field and why."""
HEADER_SOURCE: Final = "abm-source"
"""`topic/partition/offset` of the record that was dead-lettered."""
HEADER_INGEST_MS: Final = "abm-ingest-ms"
"""When the touchpoint entered Kafka (broker timestamp of the raw record), epoch ms, carried to
the MQA so latency can be measured without putting wall-clock times in deterministic content."""
HEADER_EMITTED_MS: Final = "abm-emitted-ms"
"""Wall-clock time the engagement step emitted an MQA event, epoch ms."""


@dataclass(frozen=True)
class TopicSpec:
    suffix: str
    key: str
    value: str
    compacted: bool = False
    retention_ms: int | None = None
    """Fixed retention (ms); None: the settings' (see `retention_ms`) or the broker's default."""

    def name(self, prefix: str) -> str:
        return f"{prefix}.{self.suffix}"


RAW: Final = TopicSpec(
    "touchpoints.raw",
    key="routing key: the account when the producer can attribute the message, else the person",
    value="Segment message (track, page, identify, group) as JSON bytes",
)
RESOLVED: Final = TopicSpec(
    "touchpoints.resolved",
    key="account id",
    value="internal touchpoint JSON (abm.core.touchpoint.Touchpoint)",
)
UNRESOLVED: Final = TopicSpec(
    "touchpoints.unresolved",
    key="routing key",
    value="the raw Segment message; headers abm-reason, abm-detail",
    retention_ms=30 * 86_400_000,
)
DEAD_LETTER: Final = TopicSpec(
    "deadletter",
    key="the raw record's key",
    value="the raw bytes as received; headers abm-reason, abm-detail, abm-source",
    retention_ms=30 * 86_400_000,
)
MQA: Final = TopicSpec(
    "mqa",
    key="account id",
    value="MQA event JSON with its explanation (abm.core.explain.build_mqa_event)",
)

SALES_ACTIVITY: Final = TopicSpec(
    "sales.activity",
    key="account id",
    value="sales activity JSON (alerting.activity.SalesActivity): a follow-up of an MQA",
)
ALERTS_DEAD_LETTER: Final = TopicSpec(
    "alerts.deadletter",
    key="account id",
    value="undeliverable alert JSON (alerting.service): MQA id, channel, reason, the event; "
    "or an MQA record that cannot be alerted (reason not_json / invalid_mqa, key the record's); "
    "headers abm-reason, abm-detail",
    retention_ms=30 * 86_400_000,
)

PRIVACY_ERASURE: Final = TopicSpec(
    "privacy.erasure",
    key="erasure id",
    value="erasure command JSON (abm.core.erasure.ErasureCommand): the contact pseudonyms of a "
    "forgotten person, never the identity; written to every partition, so that each worker "
    "scrubs the accounts of the partitions it owns",
    retention_ms=30 * 86_400_000,
)

ALL_TOPICS: Final = (
    RAW,
    RESOLVED,
    UNRESOLVED,
    DEAD_LETTER,
    MQA,
    SALES_ACTIVITY,
    ALERTS_DEAD_LETTER,
    PRIVACY_ERASURE,
)

ENGAGEMENT_TABLE: Final = "engagement"
"""Faust table name: per-account state, changelog `{app_id}-engagement-changelog`."""


DAY_MS: Final = 86_400_000


def retention_ms(spec: TopicSpec, settings: CommonSettings) -> int | None:
    """How long the topic keeps a record (ms): from the settings for the two topics whose
    retention is a policy (touchpoints.raw holds identities in the clear: short;
    touchpoints.resolved is the history of rebuilds and backtests: long), else the spec's fixed
    one, else None (the broker's default)."""
    if spec is RAW:
        return round(settings.raw_retention_days * DAY_MS)
    if spec is RESOLVED:
        return round(settings.resolved_retention_days * DAY_MS)
    return spec.retention_ms


def topic_configs(spec: TopicSpec, settings: CommonSettings) -> dict[str, str]:
    """The topic configs the engine manages for `spec` (set at creation, and on existing topics
    by `abm topics configure`); every other config is left to the broker's defaults."""
    configs: dict[str, str] = {}
    if spec.compacted:
        configs["cleanup.policy"] = "compact"
    retention = retention_ms(spec, settings)
    if retention is not None:
        configs["retention.ms"] = str(retention)
    return configs


def changelog_configs(settings: CommonSettings) -> dict[str, str]:
    """Configs of the engagement table's changelog beyond Faust's own (compaction): a replaced
    account state is compacted away within `max.compaction.lag.ms`, which also rolls the open
    segment (the log cleaner never touches an open one), instead of whenever the segment
    happens to roll and the dirty ratio is reached."""
    return {"max.compaction.lag.ms": str(round(settings.changelog_compaction_max_lag_s * 1000))}


def engagement_changelog(app_id: str) -> str:
    """The engagement table's changelog, named by Faust: compacted, key account id, value the
    stored `abm.core.state.AccountState` (a tombstone deletes the account). Partition p holds
    the accounts of partition p of touchpoints.resolved (the table is co-partitioned)."""
    return f"{app_id}-{ENGAGEMENT_TABLE}-changelog"


def engagement_group(app_id: str) -> str:
    """The consumer group whose offsets on touchpoints.resolved say what the engagement table
    has applied: Faust's app id (one group for all the worker's agents)."""
    return app_id


def raw_key(message: SegmentMessage | None, account_id: str | None, fallback: str) -> bytes:
    """Key of a raw record (see `abm.core.resolution.routing_key`); `fallback` (e.g. a line
    number) for bytes that cannot be parsed at all."""
    if message is None:
        return fallback.encode()
    return routing_key(message, account_id).encode()


def account_key(account_id: str) -> bytes:
    return account_id.encode()


def header_text(
    headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None, name: str
) -> str | None:
    """The value of header `name` of a Kafka record (pairs as aiokafka gives them, or a mapping
    as Faust may), decoded as UTF-8 (bad bytes replaced), or None when it is not there."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key == name:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None
