"""`abm backtest` on files (no Kafka, no Redis: `--no-verdicts`): the report is written, and bad
input is named with exit code 2."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from abm.core.segment import SegmentMessage, parse_message
from abm_cli.main import app
from abm_cli.settings import get_settings

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
MODEL = Path(__file__).resolve().parents[3] / "abm" / "core" / "default_model.yaml"


@pytest.fixture(autouse=True)
def no_live_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABM_SCORING_MODEL", raising=False)
    get_settings.cache_clear()


def backtest(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["backtest", "--no-progress", "--no-verdicts", *args])
    return result.exit_code, result.output


def test_the_sample_backtest_writes_the_page_and_the_figures(tmp_path: Path) -> None:
    code, output = backtest(
        "--model", str(MODEL), "--from", str(SAMPLES / "touchpoints.jsonl"),
        "--outcomes", str(SAMPLES / "opportunities.csv"), "--out", str(tmp_path),
    )  # fmt: skip

    assert code == 0, output
    assert f"report: {tmp_path / 'report.html'}" in output
    figures = orjson.loads((tmp_path / "report.json").read_bytes())
    assert figures["models"]["baseline"]["source"] == "live (the bundled model)"
    assert figures["models"]["baseline"]["mqas"] == figures["models"]["candidate"]["mqas"] == 16
    assert figures["differences"]["only_candidate"]["accounts"] == 0
    assert sum(figures["not_touchpoints"].values()) > 0  # the sample's broken lines, counted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope.yaml"], "--model: "),
        (["--model", str(MODEL), "--since", "3 months"], "`3 months` is not a duration"),
        (["--model", str(MODEL), "--from", "missing.jsonl"], "missing.jsonl: no such file"),
        (["--model", str(MODEL), "--from", "missing.parquet"], "missing.parquet: no such file"),
    ],
)
def test_bad_input_is_named_with_exit_code_2(args: list[str], message: str) -> None:
    code, output = backtest(*args)

    assert code == 2
    assert message in output


def test_raw_messages_without_a_directory_are_refused(tmp_path: Path) -> None:
    raw = tmp_path / "touchpoints.jsonl"
    raw.write_bytes((SAMPLES / "touchpoints.jsonl").read_bytes()[:20_000].rsplit(b"\n", 1)[0])

    code, output = backtest("--model", str(MODEL), "--from", str(raw), "--outcomes", "x.csv")

    assert code == 2
    assert "holds raw Segment messages: resolving them needs the directory" in output


def test_a_bad_opportunities_file_is_named_line_by_line(tmp_path: Path) -> None:
    bad = tmp_path / "opps.csv"
    bad.write_text("account_id,opportunity_id,created_at,stage,amount,closed_at,outcome\n"
                   "acc-00001,o-1,yesterday,New,1,,\n")  # fmt: skip

    code, output = backtest(
        "--model", str(MODEL), "--from", str(SAMPLES / "touchpoints.jsonl"),
        "--outcomes", str(bad), "--out", str(tmp_path),
    )  # fmt: skip

    assert code == 2
    assert f"{bad}:2: field `created_at`: `yesterday` is not an ISO-8601 date or time" in output


def test_a_parquet_export_of_the_sample_gives_the_same_mqas(tmp_path: Path) -> None:
    rows = [
        orjson.loads(line)
        for line in (SAMPLES / "touchpoints.jsonl").read_bytes().splitlines()
        if isinstance(parse_message(line.strip(), 32_768), SegmentMessage)
    ]
    parquet = tmp_path / "touchpoints.parquet"
    pq.write_table(pa.Table.from_struct_array(pa.array(rows)), parquet)
    for name in ("accounts.csv", "contacts.csv"):
        (tmp_path / name).write_bytes((SAMPLES / name).read_bytes())

    code, output = backtest(
        "--model", str(MODEL), "--from", str(parquet),
        "--outcomes", str(SAMPLES / "opportunities.csv"), "--out", str(tmp_path / "report"),
    )  # fmt: skip

    assert code == 0, output
    figures = orjson.loads((tmp_path / "report" / "report.json").read_bytes())
    assert figures["models"]["baseline"]["mqas"] == 16  # as from the JSONL
