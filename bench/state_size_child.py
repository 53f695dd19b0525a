"""One side of the `state-size` figure: the stored account states a core makes of the benchmark
data. Run as a script with the core to measure first on PYTHONPATH (see `bench/core_loop_child`).

    PYTHONPATH=CORE_ROOT python bench/state_size_child.py TOUCHPOINTS_JSONL

Prints one JSON line: the core's path, the stored size of every account's final state (bytes),
and the MQA ids.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import abm
from abm.core.engagement import apply
from abm.core.model import load_model
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint


def main(argv: list[str]) -> None:
    model = load_model()
    states: dict[str, AccountState] = {}
    mqas: list[str] = []
    for line in Path(argv[0]).read_bytes().splitlines():
        touchpoint = Touchpoint.from_json(line)
        key = touchpoint.account.account_id
        outcome = apply(states.get(key), touchpoint, model)
        states[key] = outcome.state
        if outcome.new_mqa and outcome.mqa is not None:
            mqas.append(outcome.mqa["mqa_id"])
    sizes = sorted(len(state.to_bytes()) for state in states.values())
    core = str(Path(abm.__file__).resolve().parent)
    print(json.dumps({"core": core, "sizes": sizes, "mqas": mqas}))


if __name__ == "__main__":
    main(sys.argv[1:])
