"""The hottest accounts across workers: the worker that gets `/accounts` asks every other worker
for its part (`scope=local`) and merges the answers into its own.

Every worker judges its accounts at the asking worker's event-time reference (`at`), so the
rows compare. A worker that does not answer within `ABM_PEER_TIMEOUT_S` is named in
`missing_workers` instead of failing the page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from yarl import URL

from stream.web.index import ident

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)


async def gather(
    pipe: Pipeline,
    payload: dict[str, Any],
    tier: int | None,
    limit: int,
    reference_ms: int | None,
) -> dict[str, Any]:
    """Merge the other workers' hottest accounts into this worker's; every worker judges its
    accounts at this worker's event-time reference (epoch ms)."""
    app = pipe.app
    me = ident(URL(str(app.conf.canonical_url)))
    peers = [
        URL(url)
        for url in app.router.table_metadata(pipe.engagement_table.name)
        if ident(URL(url)) != me
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
    return merge(payload, peers, answers, limit)


def merge(
    payload: dict[str, Any],
    peers: Sequence[URL],
    answers: Sequence[dict[str, Any] | None],
    limit: int,
) -> dict[str, Any]:
    """This worker's payload with the peers' answers (None: no answer) merged in: the `limit`
    hottest rows (heat rounded to 6 places, ties by account id), the latest `as_of`, and the
    workers that did not answer, or whose own peers did not, in `missing_workers`."""
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
