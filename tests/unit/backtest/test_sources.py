"""Reading a backtest's touchpoints from JSONL: resolved touchpoints, or raw Segment messages
resolved against a directory, with everything that is not a touchpoint named or counted."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from abm.backtest.sources import SourceError, is_resolved, read_raw_jsonl, read_resolved_jsonl
from abm.core.backtest import BacktestError
from tests.factories import segment_message, touchpoint


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
