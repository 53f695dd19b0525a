"""The engagement step as a minimal hand-written aiokafka loop, no stream framework: the floor
against which the Faust agent's framework cost is measured (figure `peer`).

It does what the batched engagement agent does, and nothing more:

1. take a batch: `getmany` of up to BATCH records, waiting at most WAIT_MS for the first;
2. apply each touchpoint in order (`abm.core.engagement.apply`, source `partition/offset`) to
   decoded states kept in a dict between batches, and send the batch's MQAs;
3. once FLUSH_MS passed since the last write, or no record came for IDLE_MS (the agent's
   `ABM_ENGAGEMENT_FLUSH_INTERVAL_S` and `ABM_ENGAGEMENT_FLUSH_IDLE_S`): write each account
   changed since then once, to a compacted changelog topic (the same partition as its input);
   wait until the broker acknowledged the writes and the MQAs;
4. commit the offsets applied so far.

At-least-once like the worker: a crash before 4 re-applies what came after the last commit,
and the core's dedupe turns the redelivered touchpoints into duplicates. No restore from the
changelog on start (the benchmark always starts empty).

    python -m bench.peers.aiokafka_engagement BOOTSTRAP INPUT CHANGELOG MQA GROUP COUNT \
        BATCH WAIT_MS LINGER_MS FLUSH_MS IDLE_MS

COUNT only tells it when the input ended, so that it can stop: it still writes the last time
as it would without knowing, once IDLE_MS passed without a record.

Prints one JSON line: touchpoints processed, seconds from the first one to the commit of that
last write, changelog records and bytes written (values), MQA ids.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from abm.core.engagement import apply
from abm.core.model import load_model
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint

HEADER_INGEST_MS = "abm-ingest-ms"
HEADER_EMITTED_MS = "abm-emitted-ms"


async def run(
    bootstrap: str,
    source: str,
    changelog: str,
    mqa_topic: str,
    group: str,
    expected: int,
    batch: int,
    wait_ms: int,
    linger_ms: int,
    flush_ms: int,
    idle_ms: int,
) -> dict[str, Any]:
    model = load_model()
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    await consumer.start()
    states: dict[bytes, AccountState] = {}
    processed, changelog_records, changelog_bytes = 0, 0, 0
    mqas: list[str] = []
    first = 0.0
    changed: dict[bytes, int] = {}
    sends: list[Any] = []
    offsets: dict[TopicPartition, int] = {}
    written = last_record = time.monotonic()

    async def flush() -> None:
        nonlocal changelog_records, changelog_bytes, written
        for key, partition in changed.items():
            value = states[key].to_bytes()
            changelog_records += 1
            changelog_bytes += len(value)
            sends.append(await producer.send(changelog, key=key, value=value, partition=partition))
        await asyncio.gather(*sends)
        await consumer.commit(offsets)
        changed.clear()
        sends.clear()
        offsets.clear()
        written = time.monotonic()

    try:
        while processed < expected:
            records = await consumer.getmany(timeout_ms=wait_ms, max_records=batch)
            now = time.monotonic()
            if not records:
                if offsets and now - last_record >= idle_ms / 1000:
                    await flush()
                continue
            last_record = now
            if not first:
                first = now
            for tp, messages in records.items():
                for message in messages:
                    key = message.key or b""
                    outcome = apply(
                        states.get(key),
                        Touchpoint.from_json(message.value or b""),
                        model,
                        f"{message.partition}/{message.offset}",
                    )
                    states[key] = outcome.state
                    changed[key] = message.partition
                    if outcome.mqa is not None:
                        now_ms = str(int(time.time() * 1000)).encode()
                        ingest = dict(message.headers).get(HEADER_INGEST_MS, now_ms)
                        sends.append(
                            await producer.send(
                                mqa_topic,
                                key=key,
                                value=orjson.dumps(outcome.mqa),
                                headers=[(HEADER_INGEST_MS, ingest), (HEADER_EMITTED_MS, now_ms)],
                            )
                        )
                        if outcome.new_mqa:
                            mqas.append(outcome.mqa["mqa_id"])
                    processed += 1
                offsets[tp] = messages[-1].offset + 1
            if time.monotonic() - written >= flush_ms / 1000:
                await flush()
        # The input ran dry. The loop does not know that it did, nor does the agent: it would
        # go on fetching nothing until IDLE_MS passed without a record, then write (step 3).
        # Counting to `expected` only ends the loop; it must not spare it that wait.
        await asyncio.sleep(max(0.0, idle_ms / 1000 - (time.monotonic() - last_record)))
        await flush()
        seconds = time.monotonic() - first
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "processed": processed,
        "seconds": seconds,
        "changelog_records": changelog_records,
        "changelog_value_bytes": changelog_bytes,
        "mqas": mqas,
    }


def main(argv: list[str]) -> None:
    bootstrap, source, changelog, mqa_topic, group, count, batch, wait_ms, linger_ms = argv[:9]
    flush_ms, idle_ms = argv[9:]
    result = asyncio.run(
        run(bootstrap, source, changelog, mqa_topic, group, int(count), int(batch),
            int(wait_ms), int(linger_ms), int(flush_ms), int(idle_ms))
    )  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
