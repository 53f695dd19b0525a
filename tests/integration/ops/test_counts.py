"""What the running stack produced and counted, against the in-memory reference and the
traffic of `stack.py`: the MQAs, the per-tier gauges summed over the workers, the workers'
pipeline counters, what the collector took and what the alert service alerted and followed up."""

from __future__ import annotations

from typing import Any

import pytest

from abm.core.model import load_model
from abm.core.reach import reference_ms, standing, summarize
from tests.integration.ops.stack import (
    ALERTED,
    COLLECTOR_BATCH,
    FOLLOWED_UP,
    Stack,
    alert_counts,
    collector_story,
)
from tests.support.ops_tools import by_label, samples, scrape
from tests.support.polling import until_blocking

pytestmark = pytest.mark.integration


def test_the_mqas_are_the_reference_ones(stack: Stack) -> None:
    assert sorted(m["mqa_id"] for m in stack.mqas) == sorted(
        m["mqa_id"] for m in stack.expected_mqas
    )
    rules = {m["account"]["id"]: m["rule"] for m in stack.mqas}
    assert rules == {"northwind": "threshold", "fabrikam": "threshold", "tailspin": "act_now"}


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
