"""Where a backtest's touchpoints come from: a JSONL or Parquet file, or the
touchpoints.resolved topic.

A file holds either resolved touchpoints (one `Touchpoint.to_json` a line, what
touchpoints.resolved carries) or raw Segment messages (what `abm replay` and `abm simulate`
read and write). Which one is told by its first record. A Parquet file holds the same records
as rows, a column per field (nested fields as struct columns); its rows are read as the JSON
objects they spell, in batches (`PARQUET_BATCH_ROWS`), so memory stays bounded. Raw messages
are resolved with the offline reference (`abm.core.offline`) against a directory read from
CSV files, so a backtest needs no Redis; what does not resolve is counted, never dropped
without a word.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from abm.core.backtest import MAX_TOUCHPOINTS, BacktestError
from abm.core.directory_csv import (
    MAX_REPORTED_ERRORS,
    DirectoryError,
    RowError,
    format_errors,
    parse_accounts,
    parse_contacts,
)
from abm.core.offline import InMemoryDirectory, resolve_offline
from abm.core.touchpoint import Touchpoint
from abm.settings import CommonSettings


class SourceError(ValueError):
    """The touchpoints cannot be read: every problem, as `file:line: why`."""


@dataclass
class Touchpoints:
    """The touchpoints read, in order, and what was not a touchpoint (counted, by why)."""

    items: list[Touchpoint]
    source: str
    not_touchpoints: dict[str, int] = field(default_factory=dict)
    """Raw messages: dead letters, unresolved and ignored messages by reason; a topic: records
    that are not touchpoints (the worker dead-lettered them)."""


PARQUET_BATCH_ROWS = 8_192
"""Rows of a Parquet file converted at a time."""


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line or row number, the record as JSON bytes) of a JSONL or Parquet file; blank lines
    are skipped."""
    if is_parquet(path):
        yield from _parquet_rows(path)
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _parquet_rows(path: Path) -> Iterator[tuple[int, bytes]]:
    import pyarrow.parquet as pq  # only for Parquet input

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own error types, all with a message
        raise SourceError(f"{path}: not a readable Parquet file: {exc}") from None
    number = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for row in batch.to_pylist():
            number += 1
            yield number, orjson.dumps(_without_nulls(row), default=str, option=_JSON_TIMES)


def _without_nulls(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the JSON object it spells: a Parquet file has a value (maybe null) in every
    column of every row, where a JSON message leaves the field out."""
    return {
        k: _without_nulls(v) if isinstance(v, dict) else v for k, v in row.items() if v is not None
    }


_JSON_TIMES = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
"""Timestamp columns as ISO-8601 UTC with a Z (a column without a zone is taken as UTC)."""


def is_resolved(path: Path) -> bool:
    """Whether a file holds resolved touchpoints (else raw Segment messages)."""
    for _, record in records(path):
        try:
            first = orjson.loads(record)
        except orjson.JSONDecodeError:
            return False
        return isinstance(first, dict) and "mid" in first and "v" in first
    return False


def read_resolved_jsonl(path: Path, limit: int = MAX_TOUCHPOINTS) -> Touchpoints:
    """Resolved touchpoints, one a line (or row); every bad one is an error (`file:line: why`;
    the first `MAX_REPORTED_ERRORS` are kept, the others counted)."""
    items: list[Touchpoint] = []
    errors: list[RowError] = []
    bad = 0
    for number, line in records(path):
        try:
            items.append(Touchpoint.from_json(line))
        except (ValueError, KeyError, TypeError) as exc:
            bad += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(RowError(str(path), number, None, f"not a touchpoint: {exc}"))
        if len(items) > limit:
            raise BacktestError(
                f"{path}: more than {limit:,} touchpoints; a backtest takes at most that many "
                "(cut the file)"
            )
    if bad:
        more = f"\n... and {bad - len(errors)} more" if bad > len(errors) else ""
        raise SourceError(format_errors(errors) + more + f"\n{bad} bad line(s)")
    return Touchpoints(items, str(path))


def read_raw_jsonl(
    path: Path, accounts_csv: Path, contacts_csv: Path | None, limit: int = MAX_TOUCHPOINTS
) -> Touchpoints:
    """Segment messages (lines or rows) resolved against the directory of the CSV files (all
    of them checked as `abm directory load` checks them)."""
    try:
        accounts = parse_accounts(accounts_csv)
        contacts = (
            parse_contacts(contacts_csv, {a.account_id for a in accounts})
            if contacts_csv is not None
            else []
        )
    except DirectoryError as exc:
        raise SourceError(str(exc)) from None
    directory = InMemoryDirectory.of(accounts, contacts)
    result = resolve_offline((line for _, line in records(path)), directory, limit=limit)
    skipped = {f"dead letter: {k}": v for k, v in result.dead_letters.items()}
    skipped |= {f"unresolved: {k}": v for k, v in result.unresolved.items()}
    if result.ignored:
        skipped["ignored (not a touchpoint type)"] = result.ignored
    if len(result.resolved) > limit:
        raise BacktestError(
            f"{path}: more than {limit:,} touchpoints; a backtest takes at most that many (cut "
            "the file)"
        )
    return Touchpoints(result.resolved, str(path), dict(sorted(skipped.items())))


async def read_topic(
    settings: CommonSettings, progress: Callable[[int, int], None] | None = None
) -> Touchpoints:
    """touchpoints.resolved from its beginning to its end at the start, partition after
    partition (an account's touchpoints stay in order: they share a partition)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    from abm.plumbing.partition_reader import keyed_records
    from abm.plumbing.topics_admin import described_partitions
    from stream import topics

    name = topics.RESOLVED.name(settings.topic_prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        partitions = await described_partitions(admin, name)
    finally:
        await admin.close()
    if partitions is None:
        raise SourceError(f"topic {name} does not exist: no touchpoints to backtest")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None,
        enable_auto_commit=False, auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )  # fmt: skip
    items: list[Touchpoint] = []
    skipped = 0
    await consumer.start()
    try:
        tps = [TopicPartition(name, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        total = sum(ends.values())
        for tp in tps:
            async for records, _ in keyed_records(consumer, tp, ends[tp]):
                for record in records:
                    if record.value is None:
                        continue
                    try:
                        items.append(Touchpoint.from_json(record.value))
                    except (ValueError, KeyError, TypeError):
                        skipped += 1
                if len(items) > MAX_TOUCHPOINTS:
                    raise BacktestError(
                        f"{name}: more than {MAX_TOUCHPOINTS:,} touchpoints; a backtest takes at "
                        "most that many (read a JSONL export of a shorter span)"
                    )
                if progress is not None:
                    progress(len(items) + skipped, total)
    finally:
        await consumer.stop()
    not_touchpoints = {"not a touchpoint (dead-lettered by the worker)": skipped} if skipped else {}
    return Touchpoints(items, f"topic {name}", not_touchpoints)
