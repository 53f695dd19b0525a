"""Reading a backtest's touchpoints from JSONL: resolved touchpoints, or raw Segment messages
resolved against a directory, with everything that is not a touchpoint named or counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from abm.backtest.sources import SourceError, is_resolved, read_raw_jsonl, read_resolved_jsonl
from abm.core.backtest import BacktestError
from abm.core.segment import SegmentMessage, parse_message
from abm.core.timefmt import parse_iso_ms
from tests.support.factories import segment_message, touchpoint

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def test_resolved_touchpoints_are_read_and_a_bad_line_is_named(tmp_path: Path) -> None:
    good = tmp_path / "resolved.jsonl"
    tp = touchpoint("Webinar Attended")
    good.write_bytes(tp.to_json() + b"\n\n" + tp.to_json() + b"\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(tp.to_json() + b"\n" + b'{"v": 1, "mid": "x"}\n')

    assert is_resolved(good)
    assert read_resolved_jsonl(good).items == [tp, tp]
    with pytest.raises(SourceError, match=rf"{bad}:2: not a touchpoint: .*\n1 bad line"):
        read_resolved_jsonl(bad)


def test_raw_messages_are_resolved_with_the_directory_and_the_rest_counted(
    tmp_path: Path,
) -> None:
    (tmp_path / "accounts.csv").write_text(
        "id,name,domains,tier,icp_fit,lifecycle,owner_email\n"
        "acme,Acme,acme.com,1,80,prospect,ae@seller.io\n"
    )
    raw = tmp_path / "touchpoints.jsonl"
    lines = [
        orjson.dumps(
            segment_message("track", event="Webinar Attended", context={"groupId": "acme"})
        ),
        orjson.dumps(
            segment_message("track", event="Webinar Attended", context={"groupId": "nope"})
        ),
        b"{not json",
    ]
    raw.write_bytes(b"\n".join(lines) + b"\n")

    read = read_raw_jsonl(raw, tmp_path / "accounts.csv", None)

    assert not is_resolved(raw)
    assert [t.account.account_id for t in read.items] == ["acme"]
    assert sum(read.not_touchpoints.values()) == 2
    assert any(k.startswith("dead letter:") for k in read.not_touchpoints)
    assert any(k.startswith("unresolved:") for k in read.not_touchpoints)


def test_a_file_over_the_bound_is_refused(tmp_path: Path) -> None:
    resolved = tmp_path / "resolved.jsonl"
    resolved.write_bytes(
        b"".join(touchpoint(message_id=f"m{n}").to_json() + b"\n" for n in range(4))
    )
    (tmp_path / "accounts.csv").write_text(
        "id,name,domains,tier,icp_fit,lifecycle,owner_email\n"
        "acme,Acme,acme.com,1,80,prospect,ae@seller.io\n"
    )
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(
        b"".join(orjson.dumps(segment_message(messageId=f"m{n}")) + b"\n" for n in range(4))
    )

    assert len(read_resolved_jsonl(resolved, limit=4).items) == 4
    with pytest.raises(BacktestError, match="more than 3 touchpoints"):
        read_resolved_jsonl(resolved, limit=3)
    assert len(read_raw_jsonl(raw, tmp_path / "accounts.csv", None, limit=4).items) == 4
    with pytest.raises(BacktestError, match="more than 3 touchpoints"):
        read_raw_jsonl(raw, tmp_path / "accounts.csv", None, limit=3)


def test_bad_lines_are_all_counted_and_the_first_fifty_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(touchpoint().to_json() + b"\n" + b'{"v": 1, "mid": "x"}\n' * 60)

    with pytest.raises(SourceError) as raised:
        read_resolved_jsonl(bad)

    message = str(raised.value)
    assert message.count("not a touchpoint") == 50
    assert message.endswith("... and 10 more\n60 bad line(s)")


def valid_sample_messages() -> list[dict[str, Any]]:
    """The bundled sample's messages that are valid Segment messages (a Parquet column has one
    type, where the sample's deliberately broken lines mix them)."""
    return [
        orjson.loads(line)
        for line in (SAMPLES / "touchpoints.jsonl").read_bytes().splitlines()
        if isinstance(parse_message(line.strip(), 32_768), SegmentMessage)
    ]


def test_a_parquet_file_of_raw_messages_reads_as_its_jsonl(tmp_path: Path) -> None:
    rows = valid_sample_messages()
    jsonl = tmp_path / "touchpoints.jsonl"
    jsonl.write_bytes(b"\n".join(orjson.dumps(row) for row in rows) + b"\n")
    table = pa.Table.from_struct_array(pa.array(rows))  # columns: every row's fields
    times = pa.array([parse_iso_ms(r["timestamp"]) for r in rows], pa.int64())
    table = table.set_column(  # a warehouse export's timestamp column, not text
        table.schema.get_field_index("timestamp"),
        "timestamp",
        times.cast(pa.timestamp("ms", tz="UTC")),
    )
    parquet = tmp_path / "touchpoints.parquet"
    pq.write_table(table, parquet)
    accounts, contacts = SAMPLES / "accounts.csv", SAMPLES / "contacts.csv"

    from_parquet = read_raw_jsonl(parquet, accounts, contacts)

    assert not is_resolved(parquet)
    assert from_parquet.items == read_raw_jsonl(jsonl, accounts, contacts).items
    assert len(from_parquet.items) > 3_000


def test_a_parquet_file_of_resolved_touchpoints_reads_as_its_jsonl(tmp_path: Path) -> None:
    tps = [touchpoint("Webinar Attended", message_id=f"m{n}") for n in range(3)]
    parquet = tmp_path / "resolved.parquet"
    pq.write_table(pa.Table.from_pylist([orjson.loads(tp.to_json()) for tp in tps]), parquet)
    assert is_resolved(parquet)
    assert read_resolved_jsonl(parquet).items == tps


def test_a_file_that_is_not_parquet_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "touchpoints.parquet"
    fake.write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match=rf"{fake}: not a readable Parquet file"):
        is_resolved(fake)
