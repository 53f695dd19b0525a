"""The backtest report of the docs' walk-through (docs/backtest.md) rendered by headless
Chromium: the sample, the bundled model against one with ten times the thresholds, the sample's
opportunities, and AE verdicts on some live MQAs in the test run's Redis. The screenshot is
docs/backtest-report.png (`ABM_BACKTEST_SCREENSHOT_OUT=docs/backtest-report.png` writes it)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from abm.backtest.sources import read_raw_jsonl
from abm.core.backtest import in_window, run_model, window_of
from abm.outcomes.verdicts import Verdict, VerdictStore
from abm_cli.main import app
from abm_cli.settings import Settings, get_settings
from tests.support.factories import default_model
from tests.support.harness import REPO, make_settings
from tests.support.ops_tools import png_size, rendered_dom, screenshot

pytestmark = pytest.mark.integration

SAMPLES = REPO / "samples"
DOCS_SHOT = REPO / "docs" / "backtest-report.png"
WIDTH, HEIGHT = 1280, 2600


def thresholds_x10(out: Path) -> Path:
    """The walk-through's candidate: the bundled model with every tier threshold ten times."""
    text = (REPO / "abm" / "core" / "default_model.yaml").read_text()
    text = re.sub(r"threshold: (\d+),", r"threshold: \g<1>0,", text)
    text = re.sub(r"^version: .*$", 'version: "thresholds-x10"', text, flags=re.M)
    out.write_text(text)
    return out


async def judge_live_mqas(settings: Settings) -> int:
    """Verdicts on the MQAs the live (bundled) model makes on the sample: the first four judged
    good, the fifth not a fit. The number of MQAs judged."""
    touchpoints = read_raw_jsonl(
        SAMPLES / "touchpoints.jsonl", SAMPLES / "accounts.csv", SAMPLES / "contacts.csv"
    )
    window = window_of(touchpoints.items, 90, 30)
    live = run_model(in_window(touchpoints.items, window), default_model(), window.start_ms)
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        store = VerdictStore(client, settings.redis_prefix)
        for n, mqa in enumerate(live[:5]):
            verdict = "good" if n < 4 else "not_a_fit"
            await store.record(Verdict(mqa.mqa_id, mqa.account_id, "email", verdict, mqa.at_ms,
                                       None, "email_link", mqa.tier, mqa.rule))  # fmt: skip
    finally:
        await client.aclose()
    return min(5, len(live))


def test_the_walk_through_report_renders_in_chromium(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = os.environ.get("ABM_BACKTEST_SCREENSHOT_OUT")
    keep = Path(target).resolve() if target else None  # before the chdir below
    settings = make_settings(kafka_bootstrap, redis_url, tmp_path)
    assert asyncio.run(judge_live_mqas(settings)) == 5
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # the page names the model as given: thresholds-x10.yaml
    monkeypatch.delenv("ABM_SCORING_MODEL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, [
            "backtest", "--model", thresholds_x10(Path("thresholds-x10.yaml")).name,
            "--from", str(SAMPLES / "touchpoints.jsonl"),
            "--outcomes", str(SAMPLES / "opportunities.csv"),
            "--out", str(tmp_path / "backtest"), "--no-progress",
        ])  # fmt: skip
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert re.search(r"AE verdicts good / not a fit\s+4 / 1\s+0 / 0", result.output)

    url = (tmp_path / "backtest" / "report.html").as_uri()
    dom = rendered_dom(url)
    for text in (
        "Backtest of the MQA rule",
        "Summary",
        "MQAs per week",
        "Lead time from MQA to opportunity",
        "Accounts that qualify under one model only",
        "Opportunities no MQA preceded (missed)",
        "5 live MQA(s) have a verdict",
        "2026.11-default",
        "thresholds-x10",
    ):
        assert text in dom, text
    assert dom.count("<svg") == 2

    shot = tmp_path / "backtest-report.png"
    screenshot(url, shot, width=WIDTH, height=HEIGHT)
    assert png_size(shot) == (WIDTH, HEIGHT)
    if keep is not None:
        shutil.copyfile(shot, keep)


def test_the_docs_show_the_report_screenshot() -> None:
    assert png_size(DOCS_SHOT) == (WIDTH, HEIGHT), (
        "regenerate it: ABM_BACKTEST_SCREENSHOT_OUT=docs/backtest-report.png "
        ".venv/bin/python -m pytest tests/integration/backtest/test_report_page.py"
    )
    assert "![backtest report](backtest-report.png)" in (REPO / "docs" / "backtest.md").read_text()
