"""The backtest figure compares like with like: the pass and the plain loop find the same MQAs
on the same touchpoints, and the candidate is the bundled model with lower thresholds."""

from __future__ import annotations

from abm.core.model import load_model
from bench.backtest import backtest_pass, candidate_model, plain_loop, resolved


def test_the_pass_and_the_plain_loop_find_the_same_mqas() -> None:
    touchpoints = resolved(accounts=60, days=30)
    model = load_model()

    ids = plain_loop(touchpoints, model)

    assert ids  # the data has MQAs to compare
    assert backtest_pass(touchpoints, model) == ids


def test_the_candidate_has_thresholds_a_fifth_lower() -> None:
    base, candidate = load_model(), candidate_model()

    assert [candidate.threshold(t) for t in (1, 2, 3)] == [56.0, 80.0, 120.0]
    assert candidate.version == f"{base.version}-thresholds-0.8"
