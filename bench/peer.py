"""Figure 5: the same per-account aggregation and MQA rule on Quix Streams, on the same topic.

The resolved-touchpoint topic is pre-loaded (resolution done beforehand by the core, in order).
Ours: `abm worker` consumes it (its engagement agent: Faust table, changelog). The peer:
`bench/peers/quix_engagement.py`, a Quix Streams application whose stateful function calls the
same `abm.core.engagement.apply` (RocksDB state, changelog), in its own virtualenv. Each side's
busy time runs from its first processed touchpoint to its last; both must emit the same MQAs as
the in-memory reference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, run_offline
from bench.common import (
    REPO,
    Worker,
    dataset,
    line,
    mqa_ids,
    produce,
    read_values,
    say,
    services,
    topic_times,
)
from stream.admin import ensure_topics
from stream.lag import wait_caught_up
from stream.topics import MQA, RESOLVED, account_key

VENV = REPO / ".cache" / "venv-quix"


def peer_python() -> Path:
    """The peer's interpreter, its virtualenv made on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        say(f"creating {VENV} for quixstreams (once)")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "-r", str(REPO / "bench" / "peers" / "requirements.txt")],
            check=True,
        )  # fmt: skip
    return python


async def run(accounts: int, days: int) -> None:
    python = peer_python()
    data = dataset(accounts, days)
    sim_accounts, sim_contacts = data.simulator.records()
    reference = run_offline(
        data.lines, InMemoryDirectory.of(sim_accounts, sim_contacts), load_model(),
        keep_touchpoints=True,
    )  # fmt: skip
    touchpoints = reference.resolved
    expected = {m["mqa_id"] for m in reference.mqas}
    with services() as env:
        settings = env.settings()
        await ensure_topics(settings)
        resolved = RESOLVED.name(settings.topic_prefix)
        await produce(
            settings,
            [t.to_json() for t in touchpoints],
            [account_key(t.account.account_id) for t in touchpoints],
            topic=resolved,
        )
        say(f"ours: abm worker on {len(touchpoints)} resolved touchpoints")
        worker = Worker(settings)
        await wait_caught_up(settings, settings.app_id, [resolved], timeout_s=3600)
        worker.stop()
        count, first, last = await topic_times(settings, f"{settings.app_id}-engagement-changelog")
        ours_s = (last - first) / 1000
        ours_mqas = mqa_ids(await read_values(settings, MQA.name(settings.topic_prefix)))
        say("peer: Quix Streams")
        result = subprocess.run(
            [str(python), str(REPO / "bench" / "peers" / "quix_engagement.py"),
             settings.kafka_bootstrap_servers, resolved, f"{settings.topic_prefix}.peer-mqa",
             f"{settings.app_id}-quix", str(env.home / "quix-state"), str(len(touchpoints))],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True, text=True, check=False, timeout=3600,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-3000:])
        peer = json.loads(result.stdout.strip().splitlines()[-1])
    ours_rate = len(touchpoints) / ours_s
    peer_rate = peer["processed"] / peer["seconds"]
    print(
        f"peer ({len(touchpoints)} resolved touchpoints pre-loaded, 4 partitions, one process each)"
    )
    print(line("ours: Faust engagement agent", f"{ours_rate:,.0f} touchpoints/s"))
    print(line("peer: Quix Streams, same core", f"{peer_rate:,.0f} touchpoints/s"))
    print(line("ours / peer", f"{ours_rate / peer_rate:.2f}"))
    same = ours_mqas == set(peer["mqas"]) == expected
    print(line("same MQAs (ours = peer = reference)", f"{same} ({len(expected)})"))
    _ = count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench peer", description=__doc__)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args(argv)
    asyncio.run(run(args.accounts, args.days))


if __name__ == "__main__":
    main()
