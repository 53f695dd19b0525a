"""The demo's closing backtest on the bundled sample: the shipped model's conversion figures."""

from __future__ import annotations

from pathlib import Path

from abm.backtest.sample import sample_backtest_lines
from abm.core.backtest import ModelRun, Window, compare, figures_of
from tests.support.factories import T0, at, default_model, opportunity

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def test_the_demo_ends_with_the_shipped_models_conversion_on_the_sample() -> None:
    lines = sample_backtest_lines(default_model(), SAMPLES)

    assert lines[1] == (
        f"== Backtest of the model {default_model().version} on the sample, against its "
        "opportunities =="
    )
    assert lines[2] == (
        "  MQAs                 : 16, 16 followed by an opportunity within 90 days (100%)"
    )
    assert lines[3] == (
        "  opportunities        : 16 of 26 had an MQA before they opened (62%); 10 missed"
    )
    assert lines[4] == "  median lead time     : 15.53 days from MQA to opportunity"


def test_one_models_figures_are_those_compare_gives_it() -> None:
    run = ModelRun("baseline", "b.yaml", "v1", [], 0.0)
    window = Window(at(days=-30), T0, at(days=20))
    opportunities = [opportunity(created_ms=at(days=3))]

    assert (
        figures_of(run, opportunities, window)
        == compare(
            run,
            ModelRun("candidate", "c.yaml", "v2", [], 0.0),
            opportunities,
            window,
            touchpoints=0,
        )["models"]["baseline"]
    )
