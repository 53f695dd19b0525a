"""Figure: the pure core's speed, a plain loop over `abm.core.engagement.apply`, against the
core as it was at a pinned commit, measured in the same run.

The touchpoints are those of the bundled sample (`samples/`), resolved by the offline reference
(`run_offline(..., keep_touchpoints=True)`), about 3,900 of them. Each side runs in a fresh
subprocess of the same interpreter with the same loop (`bench/core_loop_child.py`): today's core
from this checkout, the baseline from `git archive BASELINE abm` extracted into a temporary
folder (the repository's own history; nothing is copied into the tree). The two alternate,
round after round, so both see the same machine; each figure is the best pass of all rounds.

Two loops per core, in touchpoints per second:

- plain: decoded states kept in a dict (what a worker with a state cache does);
- stored: the state decoded from and encoded to its stored form around every touchpoint
  (`from_bytes`/`to_bytes`, what a table write per touchpoint costs).

Both cores must emit the same MQA ids, equal to their own offline reference.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO, line, say

BASELINE = "7eff8e8"
"""The core before the v2 rewrite (issue 10): about 9,000 touchpoints/s on the plain loop."""
SAMPLE = REPO / "samples"
CHILD = Path(__file__).resolve().parent / "core_loop_child.py"


@dataclass
class Side:
    label: str
    root: Path
    runs: list[dict[str, Any]]

    @property
    def touchpoints(self) -> int:
        return int(self.runs[0]["touchpoints"])

    def best(self, loop: str) -> float:
        """Best seconds of one pass over the sample, over every round."""
        return min(float(r[f"{loop}_s"]) for r in self.runs)

    def rate(self, loop: str) -> float:
        """Touchpoints per second of the best pass."""
        return self.touchpoints / self.best(loop)

    def consistent(self) -> bool:
        """Every round and both loops emitted the same MQAs as the side's offline reference."""
        first = self.runs[0]
        reference = first["reference_mqas"]
        return all(
            r["plain_mqas"] == reference
            and r["stored_mqas"] == reference
            and r["reference_mqas"] == reference
            and r["touchpoints_digest"] == first["touchpoints_digest"]
            for r in self.runs
        )


def extract_core(commit: str, into: Path) -> Path:
    """`abm/` at `commit`, from the repository's history, under `into` (returned)."""
    archive = subprocess.Popen(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit, "abm"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert archive.stdout is not None
    untar = subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=False)
    archive.stdout.close()
    error = archive.stderr.read().decode(errors="replace") if archive.stderr else ""
    if archive.wait() != 0 or untar.returncode != 0:
        raise RuntimeError(
            f"could not extract abm/ at {commit} from the repository's history ({error.strip()});"
            " a shallow clone lacks it: git fetch --unshallow"
        )
    return into


def run_child(child: Path, args: list[str], root: Path) -> dict[str, Any]:
    """Run `child` (a script that imports only `abm.core`) with the core under `root` first on
    the path, and return the JSON object of its last output line; checks that the child really
    imported that core."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(root)
    result = subprocess.run(
        [sys.executable, str(child), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{child.name} on {root} failed:\n{result.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if Path(data["core"]) != (root / "abm").resolve():
        raise RuntimeError(f"{child.name} imported {data['core']}, not the core under {root}")
    return data


def run_side(root: Path, repetitions: int) -> dict[str, Any]:
    return run_child(CHILD, [str(SAMPLE), str(repetitions)], root)


def run(rounds: int, repetitions: int, baseline: str) -> dict[str, float]:
    scratch = Path(tempfile.mkdtemp(prefix="abm-core-loop-"))
    try:
        old = Side(f"baseline core at {baseline}", extract_core(baseline, scratch), [])
        new = Side("today's core (this checkout)", REPO, [])
        for number in range(rounds):
            say(f"core loop round {number + 1}/{rounds}: {repetitions} passes per loop and core")
            old.runs.append(run_side(old.root, repetitions))
            new.runs.append(run_side(new.root, repetitions))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    same_touchpoints = old.runs[0]["touchpoints_digest"] == new.runs[0]["touchpoints_digest"]
    same_mqas = old.runs[0]["reference_mqas"] == new.runs[0]["reference_mqas"]
    print(
        f"core loop ({new.touchpoints:,} resolved touchpoints of samples/, best of "
        f"{rounds} x {repetitions} passes, one process per core and round)"
    )
    for loop, what in (("plain", "states in a dict"), ("stored", "to_bytes/from_bytes per step")):
        print(line(f"{loop} ({what}): today", f"{new.rate(loop):,.0f} touchpoints/s"))
        print(line(f"{loop}: baseline {baseline}", f"{old.rate(loop):,.0f} touchpoints/s"))
        print(line(f"{loop}: today / baseline", f"{new.rate(loop) / old.rate(loop):.2f}"))
    print(line("plain: today >= 30,000 touchpoints/s (goal)", f"{new.rate('plain') >= 30_000}"))
    print(line("same touchpoints on both cores", f"{same_touchpoints}"))
    print(
        line(
            "same MQA ids (today = baseline = reference)",
            f"{same_mqas and old.consistent() and new.consistent()} "
            f"({len(new.runs[0]['reference_mqas'])} MQAs)",
        )
    )
    return {"plain": new.rate("plain"), "baseline_plain": old.rate("plain")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench core-loop", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="processes per core, alternating")
    parser.add_argument("--repetitions", type=int, default=5, help="passes per loop and process")
    parser.add_argument("--baseline", default=BASELINE, help="commit of the baseline core")
    args = parser.parse_args(argv)
    run(args.rounds, args.repetitions, args.baseline)


if __name__ == "__main__":
    main()
