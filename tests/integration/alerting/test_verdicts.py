"""The AE's verdict on an MQA alert through the service, the real broker and Redis: the Slack
buttons (signed as Acknowledge is) and the e-mail's signed links store one verdict per person
and MQA, counted once (a repeat is not counted, a change counts the new verdict and withdraws
the old one); the store is bounded; the account page shows the verdicts."""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from abm.core.account_view import account_view
from abm.infra.process import free_port
from abm.outcomes.verdicts import MAX_GIVERS, VERDICT_TTL_S, Verdict, VerdictStore
from alerting.signing import verdict_url
from stream.web.routes import add_verdicts
from stream.web.templates.account import render_account
from tests.support.alert_service import (
    SIGNING_SECRET,
    Clock,
    alerts_caught_up,
    block_action,
    metric,
    produce_mqas,
    running,
    signed,
)
from tests.support.alerting import mqa_event
from tests.support.factories import MINUTE, T0, account, default_model, qualifying_group, replay
from tests.support.harness import make_settings

pytestmark = pytest.mark.integration

ACK_SECRET = "test-ack-secret"


def counted(verdict: str, name: str = "abm_mqa_feedback_total") -> float:
    return metric(name, tier="2", rule="threshold", verdict=verdict)


async def test_verdicts_from_slack_and_e_mail_are_stored_and_counted_once_per_person(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, client: aioredis.Redis
) -> None:
    settings = make_settings(
        kafka_bootstrap, redis_url, tmp_path, alert_channels="console",
        slack_signing_secret=SIGNING_SECRET, alert_ack_secret=ACK_SECRET, alert_port=free_port(),
    )  # fmt: skip
    event = mqa_event("judged", tier=2)
    mqa_id = event["mqa_id"]
    base = f"http://127.0.0.1:{settings.alert_port}"
    before = {v: (counted(v), counted(v, "abm_mqa_feedback_withdrawn_total"))
              for v in ("good", "not_a_fit")}  # fmt: skip
    async with running(settings, Clock(T0 + MINUTE)), aiohttp.ClientSession() as http:
        await produce_mqas(settings, [event])
        await alerts_caught_up(settings)
        slack = f"{base}/slack/interactions"
        good = block_action(mqa_id, "abm_verdict_good")
        forged = await http.post(slack, data=good, headers=signed(good, "wrong"))
        assert forged.status == 401
        for _ in range(3):  # a repeated click
            answer = await http.post(slack, data=good, headers=signed(good))
            assert answer.status == 200
        unfit = block_action(mqa_id, "abm_verdict_not_a_fit")
        assert (await http.post(slack, data=unfit, headers=signed(unfit))).status == 200
        other = block_action(mqa_id, "abm_verdict_good", user="U0MGR")
        assert (await http.post(slack, data=other, headers=signed(other))).status == 200

        # the e-mail links: a GET only shows the confirm button; the POST records
        link = verdict_url(base, ACK_SECRET, mqa_id, "judged", "good")
        page = await http.get(link)
        assert page.status == 200 and "<form method=post" in await page.text()
        assert (await http.get(link.replace("v=good", "v=not_a_fit"))).status == 403
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
        done = await http.post(f"{base}/verdict", data=query)
        assert done.status == 200 and "Good lead" in await done.text()
        assert (await http.post(f"{base}/verdict", data=query)).status == 200  # repeated
        unknown = verdict_url(base, ACK_SECRET, "mqa_unknown", "judged", "good")
        unknown_query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(unknown).query))
        assert (await http.post(f"{base}/verdict", data=unknown_query)).status == 404

    stored = (await VerdictStore(client, settings.redis_prefix).of_mqas([mqa_id]))[mqa_id]
    assert sorted((v.giver, v.verdict, v.source) for v in stored) == [
        ("email", "good", "email_link"),
        ("slack:U0AE", "not_a_fit", "slack"),
        ("slack:U0MGR", "good", "slack"),
    ]
    assert {(v.tier, v.rule, v.account_id) for v in stored} == {(2, "threshold", "judged")}
    # U0AE: good, then changed to not a fit; U0MGR: good; the e-mail: good (once)
    assert counted("good") == before["good"][0] + 3
    assert counted("not_a_fit") == before["not_a_fit"][0] + 1
    assert counted("good", "abm_mqa_feedback_withdrawn_total") == before["good"][1] + 1
    assert counted("not_a_fit", "abm_mqa_feedback_withdrawn_total") == before["not_a_fit"][1]


async def test_the_verdict_store_is_bounded_per_mqa_and_expires(
    redis_url: str, client: aioredis.Redis
) -> None:
    store = VerdictStore(client, f"t-{time.time_ns()}")

    def verdict(giver: str, which: str = "good") -> Verdict:
        return Verdict("mqa_1", "acme", giver, which, T0, None, "slack", 1, "threshold")

    results = [(await store.record(verdict(f"slack:U{n}"))).result for n in range(MAX_GIVERS)]
    assert results == ["new"] * MAX_GIVERS
    assert (await store.record(verdict("slack:ULATE"))).result == "full"
    changed = await store.record(verdict("slack:U0", "not_a_fit"))  # a known giver may change
    assert (changed.result, changed.previous) == ("changed", "good")
    assert len((await store.of_mqas(["mqa_1"]))["mqa_1"]) == MAX_GIVERS
    assert 0 < await client.ttl(store.key("mqa_1")) <= VERDICT_TTL_S
    assert list(await store.all()) == ["mqa_1"]


async def test_the_account_page_shows_the_verdicts_of_its_mqas(
    redis_url: str, client: aioredis.Redis
) -> None:
    record = account("acme")
    state, _ = replay(qualifying_group(T0, record))
    view = account_view(state, default_model(), T0 + MINUTE)
    [entry] = view["mqa_history"]
    store = VerdictStore(client, f"t-{time.time_ns()}")
    await store.record(Verdict(entry["mqa_id"], "acme", "slack:U0AE", "good", T0 + MINUTE,
                               "U0AE", "slack", 1, "threshold"))  # fmt: skip

    await add_verdicts(view, store)

    assert view["mqa_history"][0]["verdicts"] == [
        {"verdict": "good", "label": "Good lead", "source": "slack", "by": "U0AE",
         "at": "2026-03-02T09:01:00.000Z"}
    ]  # fmt: skip
    html = render_account(view)
    assert "AE verdict" in html and "Good lead" in html and "Slack U0AE" in html
