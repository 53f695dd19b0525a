"""`./dev.sh chaos`: the randomized fault run. Starts a Kafka broker, a Redis, a Slack stand-in
and an SMTP server of its own, runs `abm collector`, `abm worker` and `abm alerts` against them,
and plays rounds of touchpoints, each with one fault: `kill -9` of each process (`--kills` times
each), Kafka and Redis outages, Slack answering 429 / 5xx or hanging, the SMTP server answering
4xx or hanging. Then prints, per fault kind and channel, the alerts expected, sent, duplicated,
unconfirmed, dead-lettered and lost (definitions: tests/faults/tally.py, docs/reliability.md).

Exit status 1 when an alert was duplicated or lost, a Slack alert was unconfirmed while Slack
answered, or the engine did not produce every MQA of the reference; 0 otherwise."""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.faults.scenario import FaultRun, Outcome, Plan
from tests.faults.tally import table


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev.sh chaos",
        description="Randomized fault run of the alert path; prints what reached Slack and "
        "e-mail per fault kind. Needs Java (Kafka) and redis-server, like the tests.",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of every random choice (default: a new one, printed)",
    )
    parser.add_argument(
        "--kills",
        type=int,
        default=20,
        help="kill -9 of each process: abm worker, alerts, collector (20)",
    )
    parser.add_argument("--kafka-outages", type=int, default=1, help="broker stops (1)")
    parser.add_argument("--redis-outages", type=int, default=1, help="Redis stops (1)")
    parser.add_argument(
        "--provider-faults",
        type=int,
        default=1,
        help="rounds of each provider fault: Slack 429, 5xx, hang, slow; SMTP 4xx, hang (1)",
    )
    parser.add_argument(
        "--outage-s",
        type=float,
        nargs=2,
        default=(5.0, 15.0),
        metavar=("MIN", "MAX"),
        help="how long Kafka or Redis stays down (5 15)",
    )
    parser.add_argument(
        "--accounts",
        type=int,
        nargs=2,
        default=(4, 10),
        metavar=("MIN", "MAX"),
        help="new qualifying accounts (MQAs) per round (4 10)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the run's folder (process logs, broker and Redis data) here",
    )
    return parser.parse_args(argv)  # fmt: skip


def report(plan: Plan, outcome: Outcome) -> str:
    kinds = ", ".join(f"{kind} x{n}" for kind, n in outcome.kinds.items())
    exits = ", ".join(f"abm {k} x{n}" for k, n in outcome.unexpected_exits.items()) or "none"
    lines = [
        "",
        f"seed {plan.seed}, {outcome.rounds} rounds in {outcome.seconds / 60:.1f} min: {kinds}",
        f"MQAs: {outcome.reference_mqas} in the reference, {outcome.produced_mqas} produced by "
        f"the engine ({outcome.mqa_records} records on the mqa topic)",
        f"tracker batches sent again: {outcome.tracker_retries}; processes that exited on their "
        f"own: {exits}; rounds not settled before the next: "
        f"{outcome.unsettled_rounds or 'none'}; all settled at the end: "
        f"{'yes' if outcome.settled_at_end else 'NO'}; machine suspended (not counted): "
        f"{outcome.suspended_s:.0f} s",
        "",
        table(outcome.rows),
    ]
    if outcome.missing:
        lines += ["", "lost: " + ", ".join(outcome.missing[:20])]
    failures = outcome.failures()
    lines += ["", "FAILED: " + "; ".join(failures) if failures else "OK: 0 duplicated, 0 lost, "
              "0 unconfirmed Slack alerts while Slack answered"]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    plan = Plan(seed=seed, kills=args.kills, kafka_outages=args.kafka_outages,
                redis_outages=args.redis_outages, provider_faults=args.provider_faults,
                outage_s=tuple(args.outage_s), accounts=tuple(args.accounts))  # fmt: skip
    interactive = sys.stdout.isatty()
    # this process's own readers of the topics: their reconnection errors during a Kafka
    # outage are expected (the processes' logs are in the run's folder)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    started = time.monotonic()

    def progress(line: str) -> None:
        stamp = f"[{time.monotonic() - started:6.0f} s] {line}"
        if interactive and "\n" not in line:
            print(f"\r\033[K{stamp}", end="", flush=True)
        else:
            print(stamp, flush=True)

    print(f"chaos: seed {seed} (again: ./dev.sh chaos --seed {seed} --kills {args.kills})",
          flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="abm-chaos-") as tmp:
        home = args.keep or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        print(f"chaos: logs in {home / 'logs'}", flush=True)
        outcome = asyncio.run(FaultRun(plan, home, progress).run())
    if interactive:
        print()
    print(report(plan, outcome), flush=True)
    return 1 if outcome.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
