"""`python -m bench FIGURE [options]`: one command per figure, or `all` for every figure.

    python -m bench throughput [--accounts 3000] [--compare]
    python -m bench latency [--rate 500] [--seconds 60]
    python -m bench state-cost [--sizes 10000,100000]
    python -m bench scale-out [--accounts 3000]
    python -m bench peer [--accounts 3000] [--no-quix] [--batch N] [--wait-s S]
    python -m bench core-loop [--rounds 3] [--repetitions 5] [--baseline 7eff8e8]
    python -m bench hot-account [--hot 100000] [--others 1000] [--seconds 120] [--core-only]
    python -m bench state-size [--accounts 3000] [--days 60] [--baseline 7eff8e8]
    python -m bench backtest [--accounts 2000] [--days 90] [--rounds 5]
    python -m bench all          # every figure with its defaults; latency at half the
                                 # throughput measured in the same run

Each figure starts its own Kafka broker and Redis (jars from `./dev.sh setup`) and prints its
figures with the ratio to its baseline measured in the same run. See docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import sys
import time

from bench import (
    backtest,
    core_loop,
    hot_account,
    latency,
    peer,
    scale_out,
    state_cost,
    state_size,
    throughput,
)

FIGURES = {
    "throughput": throughput.main,
    "latency": latency.main,
    "state-cost": state_cost.main,
    "scale-out": scale_out.main,
    "peer": peer.main,
    "core-loop": core_loop.main,
    "hot-account": hot_account.main,
    "state-size": state_size.main,
    "backtest": backtest.main,
}


def run_all() -> None:
    started = time.monotonic()
    print(f"== machine: {_machine()}")
    figures = asyncio.run(throughput.run(3000, 60, compare=True))
    rate = max(50.0, figures["pipeline"] / 2)
    print()
    asyncio.run(latency.run(rate, 60.0, 25, 1000))
    for name in (
        "state-cost",
        "scale-out",
        "peer",
        "core-loop",
        "state-size",
        "hot-account",
        "backtest",
    ):
        print()
        FIGURES[name]([])
    print(f"\n== all figures in {time.monotonic() - started:.0f} s")


def _machine() -> str:
    import os

    cores = os.cpu_count()
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    return f"{cores} cores, {total_kib / 2**20:.1f} GiB, Python {sys.version.split()[0]}"


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {*FIGURES, "all"}:
        print(__doc__)
        raise SystemExit(2)
    if sys.argv[1] == "all":
        run_all()
    else:
        FIGURES[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
