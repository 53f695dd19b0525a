"""`abm outcomes load` against the real Redis of the test run: validated against the stored
directory, stored all or nothing, read back by the backtest."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from abm.core.opportunities import Opportunity
from abm.outcomes.store import OutcomeStore
from abm_cli.main import app
from abm_cli.settings import get_settings
from tests.support.factories import at

pytestmark = pytest.mark.integration

ACCOUNTS = """id,name,domains,tier,icp_fit,lifecycle,owner_email
acme,Acme,acme.com,1,80,prospect,ae@seller.io
beta,Beta,beta.nl,2,60,prospect,ae@seller.io
"""
HEADER = "account_id,opportunity_id,created_at,stage,amount,closed_at,outcome\n"


@pytest.fixture
def prefix(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    prefix = f"t{uuid.uuid4().hex}"
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("ABM_REDIS_PREFIX", prefix)
    get_settings.cache_clear()
    yield prefix
    get_settings.cache_clear()


def stored(redis_url: str, prefix: str) -> list[Opportunity]:
    async def read() -> list[Opportunity]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await OutcomeStore(client, prefix).all()
        finally:
            await client.aclose()

    return asyncio.run(read())


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_validates_against_the_directory_and_stores_all_or_nothing(
    prefix: str, redis_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    loaded = runner.invoke(app, ["directory", "load", str(write(tmp_path, "a.csv", ACCOUNTS))])
    assert loaded.exit_code == 0, loaded.output

    bad = write(
        tmp_path,
        "bad.csv",
        HEADER + "acme,o-1,2026-03-02,New,100,,\nghost,o-2,2026-03-02,New,100,,\n",
    )
    refused = runner.invoke(app, ["outcomes", "load", str(bad)])

    assert refused.exit_code == 2
    assert f"{bad}:3: field `account_id`: no account `ghost` in the directory" in refused.output
    assert "1 error(s); nothing was loaded" in refused.output
    assert stored(redis_url, prefix) == []

    good = write(
        tmp_path,
        "good.csv",
        HEADER
        + "acme,o-1,2026-03-02T09:00:00Z,New,100,,\n"
        + "beta,o-2,2026-03-03T09:00:00Z,Closed Won,250.5,2026-03-12T09:00:00Z,won\n",
    )
    first = runner.invoke(app, ["outcomes", "load", str(good)])
    assert first.exit_code == 0, first.output
    assert "loaded 2 opportunities (0 replaced); 2 stored" in first.output

    again = write(
        tmp_path, "again.csv", HEADER + "acme,o-1,2026-03-02T09:00:00Z,Lost,90,2026-03-05,lost\n"
    )
    second = runner.invoke(app, ["outcomes", "load", str(again)])
    assert second.exit_code == 0, second.output
    assert "loaded 1 opportunities (1 replaced); 2 stored" in second.output

    assert stored(redis_url, prefix) == [
        Opportunity("o-1", "acme", at(), "Lost", 90.0, at(days=3, hours=-9), "lost"),
        Opportunity("o-2", "beta", at(days=1), "Closed Won", 250.5, at(days=10), "won"),
    ]
