"""Figure: the backtest's speed. Each model's pass (`abm.core.backtest.run_model`, what
`abm backtest` runs, with its progress callback moving a bar) against a plain loop over
`abm.core.engagement.apply` with the same model on the same touchpoints, measured in the same
run. Goal: each pass at 0.9x or more of the plain loop's touchpoints per second.

The touchpoints are simulated traffic (`--accounts`, `--days`, seed 7) resolved once by the
offline reference, as `abm backtest --from FILE.jsonl` resolves raw messages. Two models: the
bundled one (the baseline) and a candidate with every tier threshold 20% lower. In one process
the plain loop and the pass alternate, round after round (which goes first alternates too),
after a garbage collection each, so both see the same machine; each figure is the best round.
The plain loop and the pass must find the same MQA ids.
"""

from __future__ import annotations

import argparse
import gc
import io
import time
from collections.abc import Callable, Sequence
from functools import partial
from importlib import resources
from typing import Any

import orjson
import yaml

from abm.core.backtest import run_model
from abm.core.engagement import apply
from abm.core.model import ScoringModel, load_model, parse_model
from abm.core.offline import InMemoryDirectory, resolve_offline
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint
from bench.common import line, say
from producers.simulator import SimConfig, Simulator

GOAL = 0.9


def candidate_model() -> ScoringModel:
    """The bundled model with every tier threshold 20% lower (a plausible what-if)."""
    text = resources.files("abm.core").joinpath("default_model.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    for tier in data["tiers"].values():
        tier["threshold"] = round(tier["threshold"] * 0.8, 2)
    data["version"] = f"{data['version']}-thresholds-0.8"
    return parse_model(data, "bench-candidate")


def plain_loop(touchpoints: Sequence[Touchpoint], model: ScoringModel) -> list[str]:
    """The reference: apply every touchpoint with one state per account; the new MQAs' ids."""
    states: dict[str, AccountState] = {}
    found: list[str] = []
    for touchpoint in touchpoints:
        account_id = touchpoint.account.account_id
        outcome = apply(states.get(account_id), touchpoint, model)
        states[account_id] = outcome.state
        if outcome.new_mqa and outcome.mqa is not None:
            found.append(outcome.mqa["mqa_id"])
    return found


def timed(work: Callable[[], list[str]]) -> tuple[float, list[str]]:
    """Seconds of one call (after a garbage collection) and its MQA ids."""
    gc.collect()
    started = time.perf_counter()
    ids = work()
    return time.perf_counter() - started, ids


def backtest_pass(touchpoints: Sequence[Touchpoint], model: ScoringModel) -> list[str]:
    """The pass as `abm backtest` runs it: counting from the start, a progress bar moved by
    its callback (written to a buffer, not a terminal)."""
    from tqdm import tqdm

    bar = tqdm(total=len(touchpoints), file=io.StringIO(), mininterval=0.1)

    def advance(done: int) -> None:
        bar.update(done - bar.n)

    try:
        return [m.mqa_id for m in run_model(touchpoints, model, 0, advance)]
    finally:
        bar.close()


def resolved(accounts: int, days: int) -> list[Touchpoint]:
    simulator = Simulator(SimConfig(accounts=accounts, days=days, seed=7))
    lines = [m.encode() if isinstance(m, str) else orjson.dumps(m) for m in simulator.messages()]
    records = simulator.records()
    return resolve_offline(lines, InMemoryDirectory.of(*records)).resolved


def run(accounts: int, days: int, rounds: int) -> dict[str, float]:
    started = time.monotonic()
    touchpoints = resolved(accounts, days)
    say(f"backtest data: {len(touchpoints):,} touchpoints ({time.monotonic() - started:.1f} s)")
    base = load_model()
    models = {"baseline (bundled)": base, "candidate (thresholds x0.8)": candidate_model()}
    best: dict[str, dict[str, float]] = {name: {"plain": 1e9, "pass": 1e9} for name in models}
    same = True
    mqas: dict[str, int] = {}
    for number in range(rounds):
        say(f"backtest round {number + 1}/{rounds}")
        for name, model in models.items():
            plain = partial(plain_loop, touchpoints, model)
            pass_ = partial(backtest_pass, touchpoints, model)
            if number % 2 == 0:
                plain_s, plain_ids = timed(plain)
                pass_s, pass_ids = timed(pass_)
            else:  # the other one first, so that neither always runs second
                pass_s, pass_ids = timed(pass_)
                plain_s, plain_ids = timed(plain)
            same = same and plain_ids == pass_ids
            mqas[name] = len(pass_ids)
            best[name]["plain"] = min(best[name]["plain"], plain_s)
            best[name]["pass"] = min(best[name]["pass"], pass_s)
    print(
        f"backtest speed ({len(touchpoints):,} resolved touchpoints of {accounts} simulated "
        f"accounts over {days} days, best of {rounds} rounds, one process)"
    )
    figures: dict[str, float] = {}
    for name, times in best.items():
        ratio = times["plain"] / times["pass"]
        figures[name] = ratio
        print(line(f"{name}: plain loop over apply", f"{len(touchpoints) / times['plain']:,.0f} "
                   "touchpoints/s"))  # fmt: skip
        print(line(f"{name}: backtest pass", f"{len(touchpoints) / times['pass']:,.0f} "
                   f"touchpoints/s ({mqas[name]} MQAs)"))  # fmt: skip
        print(line(f"{name}: pass / plain loop", f"{ratio:.3f}x (goal >= {GOAL}x)"))
    print(line("same MQA ids in the pass and the plain loop", f"{same}"))
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench backtest", description=__doc__)
    parser.add_argument("--accounts", type=int, default=2000, help="simulated accounts")
    parser.add_argument("--days", type=int, default=90, help="days of simulated traffic")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per model")
    args = parser.parse_args(argv)
    run(args.accounts, args.days, args.rounds)


if __name__ == "__main__":
    main()
