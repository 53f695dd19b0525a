"""Figure: how big an account's stored state is on the benchmark data, today's core against the
core at a pinned commit (before the state had bounds), in the same run.

The simulator's 3,000 accounts and 60 days (raw messages and the directory) go through each
core in a subprocess (`bench/state_size_child.py`, the baseline core extracted from the
repository's history like `core-loop`'s), which resolves and applies them with its own code
(`run_offline`: a core from before the pseudonyms stores persons in the clear) and reports the
stored size (`AccountState.to_bytes`) of every account's final state and the MQA ids. Today's
offline reference gives the MQA ids both must match.

    python -m bench state-size [--accounts 3000] [--days 60] [--baseline 7eff8e8]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, run_offline
from bench.common import REPO, line, say
from bench.core_loop import BASELINE, extract_core, run_child
from producers.simulator import SimConfig, Simulator

CHILD = Path(__file__).resolve().parent / "state_size_child.py"


def side(root: Path, sample: Path) -> dict[str, Any]:
    return run_child(CHILD, [str(sample)], root)


def describe(sizes: list[int]) -> str:
    p90 = sizes[int(0.9 * (len(sizes) - 1))]
    return (f"median {statistics.median(sizes):,.0f} B | mean {statistics.mean(sizes):,.0f} B | "
            f"p90 {p90:,} B | max {sizes[-1]:,} B")  # fmt: skip


def run(accounts: int, days: int, baseline: str) -> None:
    import orjson

    simulator = Simulator(SimConfig(accounts=accounts, days=days, seed=7))
    lines = [m.encode() if isinstance(m, str) else orjson.dumps(m) for m in simulator.messages()]
    directory = InMemoryDirectory.of(*simulator.records())
    reference = run_offline(lines, directory, load_model(), keep_touchpoints=True)
    expected = [m["mqa_id"] for m in reference.mqas]
    with tempfile.TemporaryDirectory(prefix="abm-state-size-") as tmp:
        data = Path(tmp) / "sample"
        data.mkdir()
        (data / "messages.jsonl").write_bytes(b"\n".join(lines))
        simulator.write_directory(data / "accounts.csv", data / "contacts.csv")
        say(f"{len(reference.resolved):,} resolved touchpoints of {accounts:,} accounts")
        today = side(REPO, data)
        old = side(extract_core(baseline, Path(tmp)), data)
    print(f"state size ({len(today['sizes']):,} accounts, {len(reference.resolved):,} resolved "
          f"touchpoints, {days} days; stored bytes of each account's final state)")  # fmt: skip
    print(line("today", describe(today["sizes"])))
    print(line(f"baseline {baseline}", describe(old["sizes"])))
    ratio = statistics.median(old["sizes"]) / statistics.median(today["sizes"])
    print(line("baseline / today, median", f"{ratio:.1f}"))
    print(line("typical account <= 1 KB (median)", str(statistics.median(today["sizes"]) <= 1024)))
    same = today["mqas"] == old["mqas"] == expected
    print(line("same MQA ids (today = baseline = reference)", f"{same} ({len(expected)} MQAs)"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench state-size", description=__doc__)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--baseline", default=BASELINE)
    args = parser.parse_args(argv)
    run(args.accounts, args.days, args.baseline)


if __name__ == "__main__":
    main()
