"""One side of the `core-loop` figure: a plain loop over `apply` on the bundled sample.

Run as a script (never imported by the harness), so that the `abm` package it sees is the one on
PYTHONPATH: today's checkout, or the core extracted from a pinned commit into a temporary folder.
It imports nothing but `abm.core` and the standard library, so both cores run the very same
loop. The script's own folder (bench/) comes first on sys.path and holds no `abm` package.

    PYTHONPATH=CORE_ROOT python bench/core_loop_child.py SAMPLE_DIR REPETITIONS

Prints one JSON line: touchpoints, the best seconds of each loop, the MQA ids each loop emitted
and those of the offline reference, and a digest of the touchpoints' message ids (so the parent
can check both cores looped over the same touchpoints).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import abm
from abm.core.directory_csv import parse_accounts, parse_contacts
from abm.core.engagement import apply
from abm.core.model import ScoringModel, load_model
from abm.core.offline import InMemoryDirectory, run_offline
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint

PARTITIONS = 4
"""Sources are named `partition/offset` as the agent names them, over this many partitions (an
account always on the same one, offsets rising), so a core that keeps an offset watermark sees
what it would see in the worker."""


def sources_for(touchpoints: list[Touchpoint]) -> list[str]:
    next_offset = [0] * PARTITIONS
    sources = []
    for touchpoint in touchpoints:
        partition = zlib.crc32(touchpoint.account.account_id.encode()) % PARTITIONS
        sources.append(f"{partition}/{next_offset[partition]}")
        next_offset[partition] += 1
    return sources


def plain_loop(
    touchpoints: list[Touchpoint], sources: list[str], model: ScoringModel
) -> tuple[float, list[str]]:
    """Seconds for one pass with decoded states kept in a dict (the agent's cache-hit path)."""
    states: dict[str, AccountState] = {}
    mqas: list[str] = []
    started = time.perf_counter()
    for touchpoint, source in zip(touchpoints, sources, strict=True):
        key = touchpoint.account.account_id
        outcome = apply(states.get(key), touchpoint, model, source)
        states[key] = outcome.state
        if outcome.new_mqa and outcome.mqa is not None:
            mqas.append(outcome.mqa["mqa_id"])
    return time.perf_counter() - started, mqas


def stored_loop(
    touchpoints: list[Touchpoint], sources: list[str], model: ScoringModel
) -> tuple[float, list[str]]:
    """Seconds for one pass with the stored form decoded before and encoded after every
    touchpoint (`from_bytes`/`to_bytes`: the per-touchpoint table write, the cache-miss path)."""
    stored: dict[str, bytes] = {}
    mqas: list[str] = []
    started = time.perf_counter()
    for touchpoint, source in zip(touchpoints, sources, strict=True):
        key = touchpoint.account.account_id
        raw = stored.get(key)
        state = AccountState.from_bytes(raw) if raw is not None else None
        outcome = apply(state, touchpoint, model, source)
        stored[key] = outcome.state.to_bytes()
        if outcome.new_mqa and outcome.mqa is not None:
            mqas.append(outcome.mqa["mqa_id"])
    return time.perf_counter() - started, mqas


def main(argv: list[str]) -> None:
    sample, repetitions = Path(argv[0]), int(argv[1])
    accounts = parse_accounts(sample / "accounts.csv")
    contacts = parse_contacts(
        sample / "contacts.csv", known_account_ids={a.account_id for a in accounts}
    )
    model = load_model()
    lines = (sample / "touchpoints.jsonl").read_bytes().splitlines()
    reference = run_offline(
        lines, InMemoryDirectory.of(accounts, contacts), model, keep_touchpoints=True
    )
    touchpoints = reference.resolved
    sources = sources_for(touchpoints)
    digest = hashlib.sha256("\n".join(t.message_id for t in touchpoints).encode()).hexdigest()
    plain: list[float] = []
    stored: list[float] = []
    plain_ids: list[str] = []
    stored_ids: list[str] = []
    for _ in range(repetitions):
        seconds, plain_ids = plain_loop(touchpoints, sources, model)
        plain.append(seconds)
        seconds, stored_ids = stored_loop(touchpoints, sources, model)
        stored.append(seconds)
    result: dict[str, Any] = {
        "core": str(Path(abm.__file__).resolve().parent),
        "touchpoints": len(touchpoints),
        "touchpoints_digest": digest,
        "plain_s": min(plain),
        "stored_s": min(stored),
        "plain_mqas": plain_ids,
        "stored_mqas": stored_ids,
        "reference_mqas": [m["mqa_id"] for m in reference.mqas],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
