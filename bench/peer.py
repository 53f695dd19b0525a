"""Figure 5: the engagement step (per-account state, the MQA rule) on three stacks, on the same
pre-loaded topic: ours (Faust), Quix Streams, and a hand-written aiokafka loop without framework.

The resolved-touchpoint topic is pre-loaded (resolution done beforehand by the core, in order).

- ours: `abm worker` consumes it (its engagement agent: Faust table, changelog);
- Quix: `bench/peers/quix_engagement.py`, a Quix Streams application whose stateful function
  calls the same `abm.core.engagement.apply` (RocksDB state, changelog), in its own virtualenv;
- aiokafka: `bench/peers/aiokafka_engagement.py`, getmany batches of the same size and wait as
  the agent's settings, decoded states in a dict, MQAs sent at once, each changed account
  written once per flush interval (or when the input pauses, as the agent) to a changelog
  topic, offsets committed after the broker acknowledged both. It is the floor: what the step
  costs with no framework, so ours / aiokafka is the framework's cost.

Each side's busy time runs from its first processed touchpoint to its last write, the one after
the input ran dry (ours: from when its first batch was counted in `/metrics`, polled every 20 ms,
to its last changelog record). Both write that last one once no record came for the agent's
`ABM_ENGAGEMENT_FLUSH_IDLE_S`: neither knows that the input ended (until 2026-12-07 the aiokafka
loop wrote as soon as it had counted the pre-loaded touchpoints, sparing itself the idle time
that ours paid). All must emit the same MQAs as the in-memory reference.
Also printed: changelog bytes per touchpoint, from the size of the changelog topic's log
segments on the broker's disk (before any compaction: the segments are far below the size at
which Kafka rolls and compacts them) divided by the touchpoints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, run_offline
from abm.plumbing.consumer_lag import wait_caught_up
from abm.plumbing.topics_admin import ensure_topics
from abm_cli.settings import Settings
from bench.common import (
    REPO,
    Worker,
    dataset,
    first_count_ms,
    line,
    mqa_ids,
    produce,
    read_values,
    say,
    services,
    topic_times,
)
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


DEFAULT_BATCH = 500
DEFAULT_WAIT_S = 0.01
"""The aiokafka loop's batching when the settings have none (before the batched agent)."""


def agent_batching(settings: Settings) -> tuple[int, float]:
    """(batch size, longest wait in seconds) the engagement agent runs with, so the aiokafka
    loop batches the same way; the module defaults when the settings do not have them."""
    size = getattr(settings, "engagement_batch_size", None)
    wait = getattr(settings, "engagement_batch_wait_s", None)
    return (
        int(size) if size is not None else DEFAULT_BATCH,
        float(wait) if wait is not None else DEFAULT_WAIT_S,
    )


@dataclass
class Row:
    label: str
    touchpoints: int
    seconds: float
    mqas: set[str]
    changelog_bytes: int | None = None

    @property
    def rate(self) -> float:
        return self.touchpoints / self.seconds


async def run(
    accounts: int, days: int, quix: bool = True, batch: int | None = None,
    wait_s: float | None = None,
) -> dict[str, float]:  # fmt: skip
    python = peer_python() if quix else None
    data = dataset(accounts, days)
    sim_accounts, sim_contacts = data.simulator.records()
    reference = run_offline(
        data.lines, InMemoryDirectory.of(sim_accounts, sim_contacts), load_model(),
        keep_touchpoints=True,
    )  # fmt: skip
    touchpoints = reference.resolved
    expected = {m["mqa_id"] for m in reference.mqas}
    rows: list[Row] = []
    with services() as env:
        settings = env.settings()
        size, wait = agent_batching(settings)
        size, wait = batch or size, wait_s if wait_s is not None else wait
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
        first = await first_count_ms(settings, worker, "abm_engagement_batches_total")
        await wait_caught_up(settings, settings.app_id, [resolved], timeout_s=3600)
        worker.stop()
        changelog = f"{settings.app_id}-engagement-changelog"
        _, _, last = await topic_times(settings, changelog)
        rows.append(
            Row("ours: Faust engagement agent", len(touchpoints), (last - first) / 1000,
                mqa_ids(await read_values(settings, MQA.name(settings.topic_prefix))),
                env.topic_bytes(changelog))
        )  # fmt: skip
        if python is not None:
            say("peer: Quix Streams")
            peer = _run_peer(
                [str(python), str(REPO / "bench" / "peers" / "quix_engagement.py"),
                 settings.kafka_bootstrap_servers, resolved, f"{settings.topic_prefix}.peer-mqa",
                 f"{settings.app_id}-quix", str(env.home / "quix-state"), str(len(touchpoints))]
            )  # fmt: skip
            rows.append(
                Row("peer: Quix Streams, same core", peer["processed"], peer["seconds"],
                    set(peer["mqas"]))
            )  # fmt: skip
        say(f"baseline: hand-written aiokafka loop, batches of {size} / {wait * 1000:.0f} ms")
        base_changelog = f"{settings.topic_prefix}.aiokafka-changelog"
        await _create_topics(settings, base_changelog, f"{settings.topic_prefix}.aiokafka-mqa")
        base = _run_peer(
            [sys.executable, "-m", "bench.peers.aiokafka_engagement",
             settings.kafka_bootstrap_servers, resolved, base_changelog,
             f"{settings.topic_prefix}.aiokafka-mqa", f"{settings.app_id}-aiokafka",
             str(len(touchpoints)), str(size), str(max(1, round(wait * 1000))),
             str(round(settings.producer_linger_s * 1000)),
             str(round(settings.engagement_flush_interval_s * 1000)),
             str(round(settings.engagement_flush_idle_s * 1000))]
        )  # fmt: skip
        rows.append(
            Row("baseline: aiokafka loop, no framework", base["processed"], base["seconds"],
                set(base["mqas"]), env.topic_bytes(base_changelog))
        )  # fmt: skip
    ours = rows[0]
    print(
        f"peer ({len(touchpoints)} resolved touchpoints pre-loaded, {settings.partitions} "
        f"partitions, one process each; aiokafka batches of {size} / {wait * 1000:.0f} ms)"
    )
    for row in rows:
        print(line(row.label, f"{row.rate:,.0f} touchpoints/s"))
    figures = {"ours": ours.rate}
    for row in rows[1:]:
        name = "quix" if row.label.startswith("peer") else "aiokafka"
        print(line(f"ours / {name}", f"{ours.rate / row.rate:.2f}"))
        figures[name] = row.rate
    for row in rows:
        if row.changelog_bytes is not None:
            per = row.changelog_bytes / len(touchpoints)
            print(line(f"changelog bytes per touchpoint, {row.label.split(':')[0]}",
                       f"{per:,.0f} B ({row.changelog_bytes:,} B on disk)"))  # fmt: skip
    same = all(row.mqas == expected for row in rows)
    print(line(f"same MQAs ({' = '.join(r.label.split(':')[0] for r in rows)} = reference)",
               f"{same} ({len(expected)})"))  # fmt: skip
    return figures


def _run_peer(command: list[str]) -> dict[str, Any]:
    result = subprocess.run(
        command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, check=False, timeout=3600,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


async def _create_topics(settings: Settings, changelog: str, mqa: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(changelog, settings.partitions, settings.replication_factor,
                         topic_configs={"cleanup.policy": "compact"}),
                NewTopic(mqa, settings.partitions, settings.replication_factor),
            ]
        )  # fmt: skip
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench peer", description=__doc__)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--no-quix", action="store_true", help="skip the Quix Streams row")
    parser.add_argument(
        "--batch", type=int, help="aiokafka loop batch size (default: the agent's setting)"
    )
    parser.add_argument(
        "--wait-s", type=float, help="aiokafka loop batch wait (default: the agent's setting)"
    )
    args = parser.parse_args(argv)
    asyncio.run(run(args.accounts, args.days, not args.no_quix, args.batch, args.wait_s))


if __name__ == "__main__":
    main()
