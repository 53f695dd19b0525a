"""The CRM's opportunity webhook of the alert service (`POST /crm/opportunity`) on the real
broker and Redis: authenticated like the activity webhook, checked like a row of
`abm outcomes load` (every error names the field), stored where the load stores, idempotent."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, cast

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from abm.directory.store import DirectoryStore
from abm.infra.process import free_port
from abm.outcomes.store import MQA_HORIZON_DAYS, MQAS_PER_ACCOUNT, OutcomeStore
from abm_cli.settings import Settings
from tests.support.alert_service import (
    Clock,
    alerts_caught_up,
    metric,
    produce_mqas,
    running,
)
from tests.support.alerting import mqa_event
from tests.support.factories import T0, account, opportunity
from tests.support.harness import make_settings

pytestmark = pytest.mark.integration

TOKEN = "test-crm-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DISCOVERY = {"account_id": "acme", "opportunity_id": "006A", "created_at": "2026-03-02T09:00:00Z",
             "stage": "Discovery", "amount": 10000}  # fmt: skip


def webhook_settings(kafka: str, redis: str, tmp: Path, **overrides: Any) -> Settings:
    return make_settings(kafka, redis, tmp, alert_channels="console", alert_port=free_port(),
                         **{"crm_webhook_token": TOKEN, **overrides})  # fmt: skip


async def test_opportunities_are_checked_like_the_csv_stored_with_the_loaded_ones_and_idempotent(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, client: aioredis.Redis
) -> None:
    settings = webhook_settings(kafka_bootstrap, redis_url, tmp_path)
    await DirectoryStore(client, settings.redis_prefix, cache_ttl=0).load([account("acme")])
    outcomes = OutcomeStore(client, settings.redis_prefix)
    await outcomes.load([opportunity("006-loaded", created_ms=T0 - 86_400_000)])
    url = f"http://127.0.0.1:{settings.alert_port}/crm/opportunity"
    async with running(settings, Clock(T0)), aiohttp.ClientSession() as http:
        refused = await http.post(url, json=DISCOVERY)
        wrong = await http.post(url, json=DISCOVERY, headers={"Authorization": "Bearer nope"})
        assert (refused.status, wrong.status) == (401, 401)

        invalid = await http.post(url, headers=AUTH, json={**DISCOVERY, "account_id": "ghost",
                                  "amount": "$1,000"})  # fmt: skip
        assert invalid.status == 400
        answer = await invalid.json()
        assert [e["field"] for e in answer["errors"]] == ["account_id", "amount"]
        assert "no account `ghost` in the directory" in answer["error"]
        assert "`$1,000` is not a plain number >= 0" in answer["error"]
        not_json = await http.post(url, headers=AUTH, data=b"{")
        assert not_json.status == 400 and (await not_json.json())["error"] == "body: not JSON"

        created = await http.post(url, headers=AUTH, json=DISCOVERY)
        again = await http.post(url, headers=AUTH, json=DISCOVERY)
        won = {**DISCOVERY, "stage": "Closed Won", "closed_at": "2026-04-01", "outcome": "won"}
        updated = await http.post(url, headers=AUTH, json=won)
        results = [(await r.json())["result"] for r in (created, again, updated)]
        assert [r.status for r in (created, again, updated)] == [200, 200, 200]
        assert results == ["created", "unchanged", "updated"]

    stored = {o.opportunity_id: o for o in await outcomes.all()}
    assert sorted(stored) == ["006-loaded", "006A"]
    assert stored["006A"].outcome == "won" and stored["006A"].stage == "Closed Won"
    assert stored["006A"].created_ms == T0 and stored["006A"].amount == 10_000.0


async def test_the_live_funnel_counts_new_and_won_opportunities_and_converted_mqas_once(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, client: aioredis.Redis
) -> None:
    settings = webhook_settings(kafka_bootstrap, redis_url, tmp_path)
    await DirectoryStore(client, settings.redis_prefix, cache_ttl=0).load(
        [account("acme", tier=2), account("globex", domains=("globex.com",), tier=2)]
    )
    converting = mqa_event("acme", tier=2, at_ms=T0)  # an opportunity 10 days later converts it
    too_early = mqa_event("globex", tier=2, at_ms=T0)  # its opportunity came 100 days later
    url = f"http://127.0.0.1:{settings.alert_port}/crm/opportunity"

    def counts() -> tuple[float, float, float]:
        return (metric("abm_opportunities_created_total", tier="2"),
                metric("abm_opportunities_won_total", tier="2"),
                metric("abm_mqa_converted_total", tier="2", rule="threshold"))  # fmt: skip

    before = counts()
    async with running(settings, Clock(T0)), aiohttp.ClientSession() as http:
        await produce_mqas(settings, [converting, too_early])
        await alerts_caught_up(settings)
        opened = {**DISCOVERY, "created_at": "2026-03-12T09:00:00Z"}
        late = {**DISCOVERY, "account_id": "globex", "opportunity_id": "006G",
                "created_at": "2026-06-10T09:00:00Z"}  # fmt: skip
        second = {**opened, "opportunity_id": "006B"}  # the MQA converted already
        won = {**opened, "stage": "Closed Won", "closed_at": "2026-04-01", "outcome": "won"}
        for body in (opened, opened, late, second, won, won):
            answer = await http.post(url, headers=AUTH, json=body)
            assert answer.status == 200, await answer.text()

    created, won_count, converted = (a - b for a, b in zip(counts(), before, strict=True))
    assert (created, won_count, converted) == (3, 1, 1)


async def test_without_a_token_the_opportunity_webhook_is_off(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = webhook_settings(kafka_bootstrap, redis_url, tmp_path, crm_webhook_token=None)
    url = f"http://127.0.0.1:{settings.alert_port}/crm/opportunity"
    async with running(settings, Clock(T0)), aiohttp.ClientSession() as http:
        answer = await http.post(url, headers=AUTH, json=DISCOVERY)
        assert answer.status == 404


async def test_the_mqas_remembered_for_conversion_are_bounded_per_account(
    redis_url: str, client: aioredis.Redis
) -> None:
    store = OutcomeStore(client, f"t-{uuid.uuid4().hex}")
    day = 86_400_000
    await store.remember_mqa("acme", "ancient", T0 - (MQA_HORIZON_DAYS + 40) * day, 1, "threshold")
    for n in range(MQAS_PER_ACCOUNT + 5):
        await store.remember_mqa("acme", f"m{n:02}", T0 - 40 * day + n * day, 1, "threshold")
    await store.remember_mqa("acme", "m24", T0 - 16 * day, 1, "threshold")  # again: no change

    key = f"{store.index_key.removesuffix('opps')}mqas:acme"
    kept = [orjson.loads(cast(bytes, m))["id"] for m in await client.zrange(key, 0, -1)]
    assert kept == [f"m{n:02}" for n in range(5, MQAS_PER_ACCOUNT + 5)]
    assert 0 < await client.ttl(key) <= MQA_HORIZON_DAYS * 86_400
    converted = await store.convert(opportunity("o-1", created_ms=T0))
    # the MQAs of the 90 days before: all kept ones; each is marked once
    assert len(converted) == MQAS_PER_ACCOUNT
    assert await store.convert(opportunity("o-2", created_ms=T0)) == []
