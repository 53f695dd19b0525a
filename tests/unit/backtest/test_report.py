"""The report page and the printed summary: self-contained, and saying what the figures say."""

from __future__ import annotations

import re
from typing import Any

import pytest

from abm.backtest.cli import parse_days, summary_lines
from abm.backtest.html import render
from abm.core.backtest import BacktestMqa, ModelRun, Window, compare
from tests.support.factories import T0, at, opportunity


def report(
    with_outcomes: bool = True, verdicts: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    acme = BacktestMqa(
        "acme", "Acme <BV>", 1, "threshold", at(days=1), "m1", "Acme: score 80 >= 70"
    )
    baseline = ModelRun("baseline", "live (the bundled model)", "v1", [acme], 0.1)
    candidate = ModelRun("candidate", "candidate.yaml", "v2", [], 0.1)
    opportunities = [opportunity(account_id="acme", created_ms=at(days=5), amount=2500.0)]
    return compare(
        baseline,
        candidate,
        opportunities if with_outcomes else None,
        Window(at(days=-30), T0, at(days=20)),
        touchpoints=12,
        verdicts=verdicts,
    )


def test_the_page_is_self_contained_with_both_charts() -> None:
    page = render(report())

    assert page.count("<svg") == 2
    assert not re.search(r"<script|<link|src=|href=|url\(|@import", page)
    assert "Acme &lt;BV&gt;" in page  # names are escaped
    assert "Only under baseline: 1 account(s)" in page
    assert "No AE verdicts in this report: they were not read." in page


def test_the_ae_verdicts_are_shown_per_model_with_the_summary_line() -> None:
    figures = report(verdicts={"m1": ["good", "not_a_fit", "good"]})
    page = render(figures)

    assert "1 live MQA(s) have a verdict" in page
    assert re.search(r"verdicts: good lead</td><td>2</td><td>0</td>", page)
    assert re.search(r"MQAs judged good</td><td>1</td><td>0</td>", page)
    assert re.search(r"of those converted</td><td>1</td><td>0</td>", page)
    assert any(re.match(r"AE verdicts good / not a fit\s+2 / 1\s+0 / 0$", line)
               for line in summary_lines(figures))  # fmt: skip


def test_without_outcomes_the_page_says_so_and_has_one_chart() -> None:
    page = render(report(with_outcomes=False))

    assert page.count("<svg") == 1
    assert "No opportunities are loaded" in page


def test_the_summary_puts_both_models_side_by_side() -> None:
    lines = summary_lines(report())

    assert lines[0].startswith("12 touchpoints from ?; MQAs counted 2026-03-02 .. 2026-03-22")
    assert "baseline (v1)" in lines[1] and "candidate (v2)" in lines[1]
    assert re.match(r"MQAs\s+1\s+0$", lines[2])
    assert re.match(r"converted within 90 d\s+1 \(100%\)\s+0 \(-\)$", lines[3])
    assert re.match(r"opportunities found\s+1 of 1 \(100%\)\s+0 of 1 \(0%\)$", lines[4])
    assert re.match(r"median lead time\s+4 d\s+-$", lines[5])


@pytest.mark.parametrize(
    ("text", "days"), [("90d", 90.0), ("12w", 84.0), ("36h", 1.5), (" 7 D ", 7.0)]
)
def test_durations(text: str, days: float) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["90", "0d", "-3d", "3 months", ""])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration like 90d, 12w or 36h"):
        parse_days(text)
