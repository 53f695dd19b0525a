"""The engagement step (per-account state, the MQA rule) on Quix Streams, for comparison.

Runs in its own virtualenv with quixstreams; imports only the project's framework-free core, so
the business logic is byte for byte the one the Faust worker runs (`abm.core.engagement.apply`).
State is a Quix stateful function (RocksDB, changelog topic), at-least-once like the worker.

    python bench/peers/quix_engagement.py BOOTSTRAP INPUT_TOPIC OUTPUT_TOPIC GROUP STATE_DIR COUNT

Prints one JSON line: messages processed, seconds from the first to the last one, MQA ids.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import orjson
from quixstreams import Application
from quixstreams.state import State

from abm.core.engagement import apply
from abm.core.model import load_model
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint


def main(argv: list[str]) -> None:
    bootstrap, source, target, group, state_dir, count = argv
    expected = int(count)
    model = load_model()
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        processing_guarantee="at-least-once",
        loglevel="WARNING",
        auto_create_topics=True,
    )
    source_topic = app.topic(source, key_deserializer="bytes", value_deserializer="bytes")
    target_topic = app.topic(target, key_serializer="bytes", value_serializer="bytes")
    progress: dict[str, Any] = {"n": 0, "first": 0.0, "last": 0.0, "mqas": []}

    def step(value: bytes, state: State) -> bytes | None:
        if not progress["n"]:
            progress["first"] = time.monotonic()
        stored = state.get("account")
        outcome = apply(
            AccountState.from_dict(stored) if stored else None,
            Touchpoint.from_json(value),
            model,
        )
        state.set("account", outcome.state.to_dict())
        progress["n"] += 1
        progress["last"] = time.monotonic()
        if progress["n"] >= expected:
            app.stop()
        if outcome.new_mqa and outcome.mqa is not None:
            progress["mqas"].append(outcome.mqa["mqa_id"])
            return orjson.dumps(outcome.mqa)
        return None

    sdf = app.dataframe(source_topic)
    sdf = sdf.apply(step, stateful=True).filter(lambda v: v is not None)
    sdf.to_topic(target_topic)
    app.run(collect=False)
    print(
        json.dumps(
            {
                "processed": progress["n"],
                "seconds": progress["last"] - progress["first"],
                "mqas": progress["mqas"],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
