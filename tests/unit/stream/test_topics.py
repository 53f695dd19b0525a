"""The topics' managed configs, from the settings; reading the engine's record headers."""

from __future__ import annotations

from abm_cli.settings import Settings
from stream.topics import (
    ALERTS_DEAD_LETTER,
    MQA,
    RAW,
    RESOLVED,
    changelog_configs,
    header_text,
    retention_ms,
    topic_configs,
)

DAY_MS = 86_400_000


def test_raw_touchpoints_keep_a_week_and_resolved_ones_400_days_by_default() -> None:
    settings = Settings()
    assert retention_ms(RAW, settings) == 7 * DAY_MS
    assert retention_ms(RESOLVED, settings) == 400 * DAY_MS


def test_the_retention_of_raw_and_resolved_touchpoints_comes_from_the_settings() -> None:
    settings = Settings(raw_retention_days=1.5, resolved_retention_days=90)
    assert topic_configs(RAW, settings) == {"retention.ms": str(DAY_MS * 3 // 2)}
    assert topic_configs(RESOLVED, settings) == {"retention.ms": str(90 * DAY_MS)}


def test_other_topics_keep_their_fixed_retention_or_the_brokers() -> None:
    settings = Settings(raw_retention_days=1, resolved_retention_days=1)
    assert topic_configs(ALERTS_DEAD_LETTER, settings) == {"retention.ms": str(30 * DAY_MS)}
    assert topic_configs(MQA, settings) == {}


def test_the_changelog_drops_a_replaced_state_within_a_day_by_default() -> None:
    assert changelog_configs(Settings()) == {"max.compaction.lag.ms": str(DAY_MS)}


def test_a_header_is_read_from_pairs_or_a_mapping_and_decoded() -> None:
    pairs = [("abm-reason", b"bad_json"), ("abm-ingest-ms", b"1772442000000")]
    assert header_text(pairs, "abm-ingest-ms") == "1772442000000"
    assert header_text(dict(pairs), "abm-reason") == "bad_json"
    assert header_text([("abm-detail", b"caf\xe9")], "abm-detail") == "caf\ufffd"
    assert header_text(pairs, "abm-source") is None
    assert header_text(None, "abm-reason") is None and header_text([], "abm-reason") is None
