"""`abm backtest --from topic` on the real broker and Redis of the test run: it reads
touchpoints.resolved and the opportunities stored by `abm outcomes load`, and finds what the
pure core finds on the same touchpoints."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from abm.core.touchpoint import Touchpoint
from abm.outcomes.verdicts import Verdict, VerdictStore
from abm_cli.main import app
from abm_cli.settings import Settings, get_settings
from stream.topics import RESOLVED
from tests.support.factories import (
    DAY,
    TECH,
    account,
    acts,
    at,
    default_model,
    mqas,
    qualifying_group,
    replay,
)
from tests.support.harness import REPO, create_topics, make_settings, topic

pytestmark = pytest.mark.integration

ACCOUNTS = """id,name,domains,tier,icp_fit,lifecycle,owner_email
acme,Acme,acme.com,1,80,prospect,ae@seller.io
globex,Globex,globex.com,1,80,prospect,ae@seller.io
"""
OPPORTUNITIES = """account_id,opportunity_id,created_at,stage,amount,closed_at,outcome
acme,o-acme,2026-03-12T09:00:00Z,Discovery,40000,,
globex,o-globex,2026-03-20T09:00:00Z,Closed Won,9000,2026-04-01,won
"""


async def produce_resolved(settings: Settings, touchpoints: list[Touchpoint]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for tp in touchpoints:
            await producer.send_and_wait(
                topic(settings, RESOLVED), key=tp.account.account_id.encode(), value=tp.to_json()
            )
    finally:
        await producer.stop()


def test_backtest_from_the_resolved_topic_with_stored_outcomes(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(kafka_bootstrap, redis_url, tmp_path)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    acme, globex = account("acme"), account("globex", name="Globex")
    touchpoints = qualifying_group(at(), acme) + acts(
        TECH, "/blog/a", "/blog/b", at_ms=at(days=1), step_ms=DAY, account_record=globex
    )
    asyncio.run(create_topics(settings))
    asyncio.run(produce_resolved(settings, touchpoints))
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    (tmp_path / "opportunities.csv").write_text(OPPORTUNITIES)
    strict = tmp_path / "strict.yaml"
    text = (REPO / "abm" / "core" / "default_model.yaml").read_text()
    strict.write_text(
        text.replace("threshold: 70,", "threshold: 700,").replace(
            'version: "2026.11-default"', 'version: "strict"'
        )
    )
    # an AE judged the live MQA of acme (the baseline model finds the same one, same id)
    [acme_mqa] = mqas(replay(qualifying_group(at(), acme))[1])
    asyncio.run(judge(settings, acme_mqa["mqa_id"]))
    runner = CliRunner()
    try:
        assert (
            runner.invoke(app, ["directory", "load", str(tmp_path / "accounts.csv")]).exit_code == 0
        )
        loaded = runner.invoke(app, ["outcomes", "load", str(tmp_path / "opportunities.csv")])
        assert loaded.exit_code == 0, loaded.output

        result = runner.invoke(
            app,
            ["backtest", "--model", str(strict), "--from", "topic", "--out", str(tmp_path / "r"),
             "--no-progress"],
        )  # fmt: skip
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    figures = orjson.loads((tmp_path / "r" / "report.json").read_bytes())
    assert figures["touchpoints"] == len(touchpoints)
    assert figures["source"] == f"topic {topic(settings, RESOLVED)}"
    baseline, candidate = figures["models"]["baseline"], figures["models"]["candidate"]
    assert baseline["version"] == default_model().version
    assert (baseline["mqas"], candidate["mqas"]) == (1, 0)
    assert baseline["outcomes"]["lead_days"] == [10.0]
    assert (baseline["outcomes"]["opportunities_found"], baseline["outcomes"]["recall"]) == (1, 0.5)
    assert baseline["outcomes"]["pipeline_amount"] == 40000.0
    assert [r["account_id"] for r in figures["differences"]["only_baseline"]["listed"]] == ["acme"]
    assert f"report: {tmp_path / 'r' / 'report.html'}" in result.output
    assert (tmp_path / "r" / "report.html").read_text().count("<svg") == 2
    assert figures["verdicts"]["mqas_with_verdicts"] == 1
    assert figures["verdicts"]["models"]["baseline"]["mqas_judged_good"] == 1
    assert figures["verdicts"]["models"]["baseline"]["good_converted"] == 1
    assert figures["verdicts"]["models"]["candidate"]["mqas_judged"] == 0
    assert re.search(r"AE verdicts good / not a fit\s+1 / 0\s+0 / 0", result.output)


async def judge(settings: Settings, mqa_id: str) -> None:
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        verdict = Verdict(mqa_id, "acme", "email", "good", at(), None, "email_link", 1, "threshold")
        await VerdictStore(client, settings.redis_prefix).record(verdict)
    finally:
        await client.aclose()
