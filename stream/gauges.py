"""Timers that set the worker's gauges (`stream.metrics`).

- **Account figures**: reach, engagement, coverage bands and MQA episodes per tier, from the
  accounts this worker owns (`stream.web.index`, `abm.core.reach`; a worker of the `resolution`
  role owns none and has no such timer), plus the directory's target
  account counts, every `ABM_ACCOUNT_METRICS_INTERVAL_S`. The figures are judged at the engine's
  event-time reference (`stream.event_clock`), which this timer also keeps on the index for the
  account pages.
- **Consumer lag**: how far the worker group is behind its input topics, every
  `ABM_LAG_INTERVAL_S`.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from abm.core.directory_csv import TIERS
from abm.core.reach import summarize
from abm.plumbing.consumer_lag import group_lag
from abm.plumbing.redis_clients import SharedStores
from stream import metrics, topics
from stream.event_clock import clock_key, shared_reference
from stream.web.index import AccountIndex

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)


def register(pipe: Pipeline, index: AccountIndex | None, stores: SharedStores) -> None:
    """The consumer-lag timer, and the account-figures timer when the worker holds accounts
    (`index`; None in a worker of the `resolution` role)."""
    settings = pipe.settings
    inputs = [pipe.topic_name(topics.RAW), pipe.topic_name(topics.RESOLVED)]

    async def consumer_lag() -> None:
        try:
            lag = await group_lag(settings, settings.app_id, inputs)
        except Exception as exc:
            metrics.LAG_ERRORS.inc()
            log.warning("consumer lag probe failed: %s", exc)
            return
        for topic, records in lag.items():
            metrics.CONSUMER_LAG.labels(topic=topic).set(records)

    if index is not None:
        _register_account_figures(pipe, index, stores)
    # Faust's timer decorator is untyped; applied as a call, the function keeps its type.
    pipe.app.timer(interval=settings.lag_interval_s)(consumer_lag)


def _register_account_figures(pipe: Pipeline, index: AccountIndex, stores: SharedStores) -> None:
    settings = pipe.settings

    async def account_figures() -> None:
        started = time.monotonic()
        try:
            directory, redis = await stores.get()
            targets = await directory.target_accounts_by_tier()
            for tier, count in targets.items():
                metrics.TARGET_ACCOUNTS.labels(tier=str(tier)).set(count)
            states = await index.refresh()
            if states is None:
                return
            shared = await shared_reference(redis, clock_key(settings), index.reference_ms)
            if shared is not None:
                index.reference_ms = max(shared, index.reference_ms or 0)
            publish(summarize(index.standings(states, index.reference_ms), TIERS))
            if index.reference_ms is not None:
                metrics.EVENT_TIME_REFERENCE.set(index.reference_ms / 1000)
        except Exception:
            metrics.ACCOUNT_SCAN_ERRORS.inc()
            log.exception("account figures could not be computed")
            return
        metrics.ACCOUNT_SCAN_SECONDS.set(time.monotonic() - started)
        metrics.ACCOUNT_SCAN_TIMESTAMP.set(time.time())

    pipe.app.timer(interval=settings.account_metrics_interval_s)(account_figures)


def publish(summaries: dict[int, Any]) -> None:
    """Set the per-tier gauges from `abm.core.reach.summarize`."""
    for tier, s in summaries.items():
        label = str(tier)
        metrics.ACCOUNTS_TRACKED.labels(tier=label).set(s.tracked)
        metrics.ACCOUNTS_REACHED.labels(tier=label).set(s.reached)
        metrics.ACCOUNTS_ENGAGED.labels(tier=label).set(s.engaged)
        metrics.ACCOUNTS_IN_EPISODE.labels(tier=label).set(s.in_episode)
        metrics.ACCOUNTS_SURGING.labels(tier=label).set(s.surging)
        for band, count in s.coverage.items():
            metrics.ENGAGED_BY_COVERAGE.labels(tier=label, coverage=band).set(count)
