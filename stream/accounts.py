"""Account figures and account pages, served from the engagement table itself.

- **Per-tier gauges** (`stream.metrics`): a timer recomputes reach, engagement, coverage bands
  and MQA episodes from the accounts this worker owns (`abm.core.reach`), plus the directory's
  target account counts. The figures are judged at the engine's event-time reference: the
  latest event time any worker has seen, shared through one Redis key
  (`{redis_prefix}:ops:{app_id}:event-clock-ms`, only ever raised), so every worker judges at
  the same moment whatever the partition assignment.
- **Consumer lag**: a timer asks Kafka how far the worker group is behind its input topics.
- **Pages**: `/accounts/{id}` (HTML for browsers, JSON for `Accept: application/json` or
  `?format=json`) is answered by the worker that owns the account's table partition: Faust's
  table routing forwards a request that reached another worker. `/accounts?tier=N&limit=M`
  lists the hottest accounts; the worker that gets the request asks every other worker for its
  part (`scope=local`) and merges them.

Nothing here keeps a second copy of the state that could drift: the index below only caches
the slim decoded form of each table value and checks it against the value on every use.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Final

import aiohttp
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from yarl import URL

from abm.core.account_view import account_view
from abm.core.directory_csv import TIERS
from abm.core.privacy import pseudonyms_in, reveal
from abm.core.reach import Standing, hottest, slim, standing, summarize
from abm.core.state import AccountState
from abm.core.timefmt import iso_ms, parse_iso_ms
from abm.directory.store import DirectoryStore
from abm.outcomes.verdicts import LABELS as VERDICT_LABELS
from abm.outcomes.verdicts import VerdictStore
from abm.plumbing.consumer_lag import group_lag
from abm.plumbing.redis_clients import open_directory, redis_client
from abm.settings import Settings
from stream import metrics, topics
from stream.web.templates.account import render_account
from stream.web.templates.account_list import render_account_list
from stream.web.templates.base import CSP, account_href
from stream.web.templates.message import render_message

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 500
_YIELD_EVERY: Final = 500
"""Accounts decoded between two yields to the event loop during a scan."""


# KEYS[1] the shared clock; ARGV[1] this worker's latest event time (ms). Raises, never lowers.
_RAISE_CLOCK: Final = """
local current = tonumber(redis.call('GET', KEYS[1]))
local mine = tonumber(ARGV[1])
if current == nil or current < mine then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return tostring(current)
"""


def clock_key(settings: Settings) -> str:
    return f"{settings.redis_prefix}:ops:{settings.app_id}:event-clock-ms"


async def shared_reference(redis: aioredis.Redis, key: str, local_ms: int | None) -> int | None:
    """The engine-wide event-time reference after offering this worker's latest event time."""
    if local_ms is None:
        raw = await redis.get(key)
        return int(raw) if raw is not None else None
    reply = await redis.eval(_RAISE_CLOCK, 1, key, str(local_ms))
    return int(reply)


class AccountIndex:
    """The slim state (`abm.core.reach.slim`) of every account this worker owns.

    A cache of the table, never a copy: each use walks the table, keeps an entry only while the
    stored bytes are equal to the ones it was decoded from, and leaves out accounts whose table
    partition belongs to another worker (the in-memory store keeps rows of partitions that moved
    away until the next recovery).
    """

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self._cache: dict[bytes, tuple[bytes, AccountState]] = {}
        self.reference_ms: int | None = None
        """The latest event time among the owned accounts at the last refresh."""

    def owns(self) -> Callable[[bytes], bool] | None:
        """A predicate "this worker owns the key", or None before the first assignment."""
        app = self.pipe.app
        table_name = self.pipe.engagement_table.name
        if not app.router.table_metadata(table_name):
            return None
        me = _ident(URL(str(app.conf.canonical_url)))

        def owned(key: bytes) -> bool:
            try:
                return _ident(app.router.key_store(table_name, key)) == me
            except KeyError:
                return False

        return owned

    async def refresh(self) -> list[AccountState] | None:
        """Slim states of the owned accounts; None while partitions are not assigned yet."""
        owned = self.owns()
        if owned is None:
            return None
        rows = list(self.pipe.engagement_table.items())
        states: list[AccountState] = []
        fresh: dict[bytes, tuple[bytes, AccountState]] = {}
        decoded = 0
        for key, value in rows:
            if not value or not owned(key):
                continue
            cached = self._cache.get(key)
            if cached is not None and cached[0] == value:
                state = cached[1]
            else:
                try:
                    state = slim(AccountState.from_bytes(value))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("account %r: state cannot be read: %s", key, exc)
                    continue
                decoded += 1
                if decoded % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            fresh[key] = (value, state)
            states.append(state)
        self._cache = fresh
        local = max((s.clock_ms for s in states), default=None)
        if local is not None:
            self.reference_ms = max(local, self.reference_ms or 0)
        return states

    def standings(self, states: list[AccountState], at_ms: int | None) -> list[Standing]:
        model = self.pipe.model
        return [standing(s, model, at_ms) for s in states]


def register(pipe: Pipeline) -> AccountIndex:
    """Timers for the account gauges and the consumer lag, and the account pages."""
    app = pipe.app
    settings = pipe.settings
    index = AccountIndex(pipe)
    clients: list[tuple[DirectoryStore, aioredis.Redis]] = []

    async def stores() -> tuple[DirectoryStore, aioredis.Redis]:
        if not clients:
            clients.append((await open_directory(settings), redis_client(settings)))
        return clients[0]

    async def account_figures() -> None:
        started = time.monotonic()
        try:
            directory, redis = await stores()
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

    # Faust's timer decorator is untyped; applied as calls, the functions keep their types.
    app.timer(interval=settings.account_metrics_interval_s)(account_figures)
    app.timer(interval=settings.lag_interval_s)(consumer_lag)

    table = pipe.engagement_table

    @app.page("/accounts/{account_id:.+}")
    @app.table_route(table=table, match_info="account_id")
    async def account_page(web: Any, request: Any, account_id: str) -> Any:
        wants_json = _wants_json(request)
        raw = table.get(account_id.encode())
        if not raw:
            metrics.ACCOUNT_REQUESTS.labels(endpoint="account", code="404").inc()
            message = (
                f"No engagement state for account {account_id!r}: no touchpoint of it has been "
                "resolved yet, or it is not a target account."
            )
            if wants_json:
                return _json(web, {"error": message}, 404)
            return web.html(render_message("Unknown account", message), status=404)
        try:
            at_ms = _at_param(request)
        except ValueError as exc:
            metrics.ACCOUNT_REQUESTS.labels(endpoint="account", code="400").inc()
            return _json(web, {"error": str(exc)}, 400)
        state = AccountState.from_bytes(raw)
        directory, redis = await stores()
        view = account_view(state, pipe.model, at_ms or index.reference_ms)
        view = reveal(view, await directory.names_of(pseudonyms_in(view)))  # names at the edge
        await _add_verdicts(view, VerdictStore(redis, settings.redis_prefix))
        metrics.ACCOUNT_REQUESTS.labels(endpoint="account", code="200").inc()
        if wants_json:
            return _json(web, view, 200)
        return web.html(render_account(view), headers={"Content-Security-Policy": CSP})

    @app.page("/accounts")
    async def account_list(web: Any, request: Any) -> Any:
        try:
            tier, limit, at_ms = _list_params(request)
        except ValueError as exc:
            metrics.ACCOUNT_REQUESTS.labels(endpoint="accounts", code="400").inc()
            return _json(web, {"error": str(exc)}, 400)
        states = await index.refresh()
        reference = at_ms or index.reference_ms
        local = [] if states is None else hottest(index.standings(states, reference), tier, limit)
        payload: dict[str, Any] = {
            "tier": tier,
            "limit": limit,
            "as_of": iso_ms(reference) if reference else None,
            "accounts": [_row(s) for s in local],
            "workers": 1,
            "missing_workers": [] if states is not None else [str(app.conf.canonical_url)],
        }
        if request.query.get("scope") != "local":
            payload = await _gather(pipe, payload, tier, limit, reference)
        metrics.ACCOUNT_REQUESTS.labels(endpoint="accounts", code="200").inc()
        if _wants_json(request) or request.query.get("scope") == "local":
            return _json(web, payload, 200)
        return web.html(render_account_list(payload), headers={"Content-Security-Policy": CSP})

    return index


async def _add_verdicts(view: dict[str, Any], store: VerdictStore) -> None:
    """The AE verdicts of each MQA of the page (`verdicts`), from the alert service's store;
    when Redis does not answer, the page is served without them (`verdicts_error`)."""
    history = view["mqa_history"]
    try:
        found = await store.of_mqas(m["mqa_id"] for m in history)
    except (RedisError, OSError) as exc:
        log.warning("AE verdicts could not be read: %r", exc)
        view["verdicts_error"] = "the AE verdicts could not be read (Redis)"
        found = {}
    for entry in history:
        entry["verdicts"] = [
            {"verdict": v.verdict, "label": VERDICT_LABELS[v.verdict], "source": v.source,
             "by": v.by, "at": iso_ms(v.at_ms)}
            for v in found.get(entry["mqa_id"], [])
            if v.verdict in VERDICT_LABELS
        ]  # fmt: skip


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


async def _gather(
    pipe: Pipeline,
    payload: dict[str, Any],
    tier: int | None,
    limit: int,
    reference_ms: int | None,
) -> dict[str, Any]:
    """Merge the other workers' hottest accounts into this worker's; every worker judges its
    accounts at this worker's event-time reference."""
    app = pipe.app
    me = _ident(URL(str(app.conf.canonical_url)))
    peers = [
        URL(url)
        for url in app.router.table_metadata(pipe.engagement_table.name)
        if _ident(URL(url)) != me
    ]
    if not peers:
        return payload
    query = {"scope": "local", "limit": str(limit)}
    if tier is not None:
        query["tier"] = str(tier)
    if reference_ms is not None:
        query["at"] = str(reference_ms)
    timeout = aiohttp.ClientTimeout(total=pipe.settings.peer_timeout_s)

    async def ask(peer: URL) -> dict[str, Any] | None:
        try:
            async with app.http_client.get(
                peer.with_path("/accounts").with_query(query),
                headers={"Accept": "application/json"},
                timeout=timeout,
            ) as response:
                if response.status != 200:
                    return None
                answer: dict[str, Any] = orjson.loads(await response.read())
                return answer
        except Exception as exc:  # connection, timeout, aiohttp client and JSON errors
            log.warning("account list: no answer from %s: %s", peer, exc)
            return None

    answers = await asyncio.gather(*(ask(peer) for peer in peers))
    rows = list(payload["accounts"])
    missing = list(payload["missing_workers"])
    as_of = payload["as_of"]
    for peer, answer in zip(peers, answers, strict=True):
        if answer is None:
            missing.append(str(peer))
            continue
        rows.extend(answer["accounts"])
        missing.extend(answer.get("missing_workers", []))
        if answer.get("as_of") and (as_of is None or answer["as_of"] > as_of):
            as_of = answer["as_of"]
    rows.sort(key=lambda r: (-round(r["heat"], 6), r["account_id"]))
    return {
        **payload,
        "as_of": as_of,
        "accounts": rows[:limit],
        "workers": 1 + len(peers),
        "missing_workers": missing,
    }


def _row(s: Standing) -> dict[str, Any]:
    row = asdict(s)
    row["heat"] = round(s.heat, 4)
    row["score"] = round(s.score, 2)
    row["last_touch"] = iso_ms(s.last_touch_ms)
    row["href"] = account_href(s.account_id)
    return row


def _wants_json(request: Any) -> bool:
    if request.query.get("format") == "json":
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _json(web: Any, value: Any, status: int) -> Any:
    return web.bytes(orjson.dumps(value), content_type="application/json", status=status)


def _at_param(request: Any) -> int | None:
    """`?at=` as an ISO time or epoch ms: judge the account at that event time (never before
    its own clock)."""
    text = request.query.get("at")
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        return parse_iso_ms(text)
    except ValueError:
        raise ValueError(f"at={text!r}: give an ISO-8601 time or epoch milliseconds") from None


def _list_params(request: Any) -> tuple[int | None, int, int | None]:
    query = request.query
    tier: int | None = None
    if query.get("tier"):
        if not query["tier"].isdigit() or int(query["tier"]) not in TIERS:
            raise ValueError(f"tier={query['tier']!r}: one of {', '.join(map(str, TIERS))}")
        tier = int(query["tier"])
    limit = DEFAULT_LIMIT
    if query.get("limit"):
        if not query["limit"].isdigit() or not 1 <= int(query["limit"]) <= MAX_LIMIT:
            raise ValueError(f"limit={query['limit']!r}: a number from 1 to {MAX_LIMIT}")
        limit = int(query["limit"])
    return tier, limit, _at_param(request)


def _ident(url: URL) -> tuple[str, int]:
    """(host, port) of a worker URL, as Faust's router compares them."""
    return (url.host or url.path or "", int(url.port or 80))
