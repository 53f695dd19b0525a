"""The HTTP routes of the account pages (docs/operations.md, "Account pages and API").

- `/accounts/{id}`: HTML for browsers, JSON for `Accept: application/json` or `?format=json`;
  answered by the worker that owns the account's table partition (Faust's table routing
  forwards a request that reached another worker). The persons of the state are keyed
  pseudonyms: the page names them from the directory (`abm.core.privacy.reveal`) here, at the
  edge, and adds the AE verdicts of its MQAs.
- `/accounts?tier=N&limit=M[&at=...]`: the hottest accounts; without `scope=local` the other
  workers' parts are gathered (`stream.web.gather`).

Every answer is counted in `abm_account_requests_total` by endpoint and status code; the HTML
answers carry the templates' Content-Security-Policy.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Final

import orjson
from redis.exceptions import RedisError

from abm.core.account_view import account_view
from abm.core.directory_csv import TIERS
from abm.core.privacy import pseudonyms_in, reveal
from abm.core.reach import Standing, hottest
from abm.core.state import AccountState
from abm.core.timefmt import iso_ms, parse_iso_ms
from abm.outcomes.verdicts import LABELS as VERDICT_LABELS
from abm.outcomes.verdicts import VerdictStore
from abm.plumbing.redis_clients import SharedStores
from stream import metrics
from stream.web.gather import gather
from stream.web.index import AccountIndex
from stream.web.templates.account import render_account
from stream.web.templates.account_list import render_account_list
from stream.web.templates.base import CSP, account_href
from stream.web.templates.message import render_message

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 500


def register(pipe: Pipeline, index: AccountIndex, stores: SharedStores) -> None:
    """`/accounts/{id}` and `/accounts` on the worker's web server."""
    app = pipe.app
    settings = pipe.settings
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
        directory, redis = await stores.get()
        view = account_view(state, pipe.model, at_ms or index.reference_ms)
        view = reveal(view, await directory.names_of(pseudonyms_in(view)))  # names at the edge
        await add_verdicts(view, VerdictStore(redis, settings.redis_prefix))
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
            payload = await gather(pipe, payload, tier, limit, reference)
        metrics.ACCOUNT_REQUESTS.labels(endpoint="accounts", code="200").inc()
        if _wants_json(request) or request.query.get("scope") == "local":
            return _json(web, payload, 200)
        return web.html(render_account_list(payload), headers={"Content-Security-Policy": CSP})


async def add_verdicts(view: dict[str, Any], store: VerdictStore) -> None:
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
