"""The demo's closing backtest: the shipped model on the bundled sample, against the sample's
simulated opportunities, in memory (about a second; the same figures `abm backtest` reports)."""

from __future__ import annotations

import time
from pathlib import Path

from abm.backtest.sources import read_raw_jsonl
from abm.core.backtest import ModelRun, figures_of, in_window, run_model, window_of
from abm.core.model import ScoringModel
from abm.core.opportunities import parse_opportunities

SINCE_DAYS = 90
WARMUP_DAYS = 30
CONVERSION_DAYS = 90


def sample_backtest_lines(model: ScoringModel, sample_dir: Path) -> list[str]:
    """The lines the demo ends with: the model's MQAs on the sample and what became of them."""
    touchpoints = read_raw_jsonl(
        sample_dir / "touchpoints.jsonl", sample_dir / "accounts.csv", sample_dir / "contacts.csv"
    ).items
    opportunities = parse_opportunities(sample_dir / "opportunities.csv", None)
    window = window_of(touchpoints, SINCE_DAYS, WARMUP_DAYS)
    replayed = in_window(touchpoints, window)
    started = time.perf_counter()
    mqas = run_model(replayed, model, window.start_ms)
    run = ModelRun("shipped", "live", model.version, mqas, time.perf_counter() - started)
    figures = figures_of(run, opportunities, window, conversion_days=CONVERSION_DAYS)
    out = figures["outcomes"]
    counted = out["opportunities_found"] + out["opportunities_missed"]
    lead = "-" if out["median_lead_days"] is None else f"{out['median_lead_days']:g} days"
    precision = "-" if out["precision"] is None else f"{out['precision']:.0%}"
    recall = "-" if out["recall"] is None else f"{out['recall']:.0%}"
    return [
        "",
        f"== Backtest of the model {model.version} on the sample, against its opportunities ==",
        f"  MQAs                 : {figures['mqas']}, {out['converted']} followed by an "
        f"opportunity within {CONVERSION_DAYS} days ({precision})",
        f"  opportunities        : {out['opportunities_found']} of {counted} had an MQA before "
        f"they opened ({recall}); {out['opportunities_missed']} missed",
        f"  median lead time     : {lead} from MQA to opportunity",
        f"  pipeline / won       : {out['pipeline_amount']:,.0f} / {out['won_amount']:,.0f} "
        "behind MQAs",
        "  try another model    : abm backtest --model my-model.yaml --from "
        "samples/touchpoints.jsonl --outcomes samples/opportunities.csv",
    ]
