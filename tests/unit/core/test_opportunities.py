"""The opportunities CSV of `abm outcomes load`: every rule, its message and its line."""

from __future__ import annotations

import pytest

from abm.core.opportunities import (
    MAX_OPPORTUNITIES_PER_FILE,
    OpportunitiesError,
    Opportunity,
    parse_opportunities,
    parse_opportunity_object,
)
from tests.support.factories import T0, at, opportunity

HEADER = "account_id,opportunity_id,created_at,stage,amount,closed_at,outcome"


def errors_of(text: str, known: set[str] | None = None) -> list[str]:
    with pytest.raises(OpportunitiesError) as raised:
        parse_opportunities(text, known if known is not None else {"acme"}, name="opps.csv")
    return [str(e) for e in raised.value.errors]


def test_a_valid_file_gives_records_with_times_in_epoch_ms() -> None:
    text = (
        f"{HEADER}\n"
        "acme,opp-1,2026-03-02T09:00:00Z,Discovery,12500,,\n"
        "acme,opp-2,2026-03-02,Closed Won,800.50,2026-03-12,Closed Won\n"
        "acme,opp-3,2026-03-03,Closed Lost,,2026-03-04T10:00:00+01:00,lost\n"
    )

    records = parse_opportunities(text, {"acme"})

    assert records == [
        opportunity("opp-1", created_ms=T0, stage="Discovery", amount=12_500.0),
        opportunity(
            "opp-2",
            created_ms=at(hours=-9),
            stage="Closed Won",
            amount=800.5,
            closed_ms=at(days=10, hours=-9),
            outcome="won",
        ),
        opportunity(
            "opp-3",
            created_ms=at(days=1, hours=-9),
            stage="Closed Lost",
            amount=None,
            closed_ms=at(days=2),
            outcome="lost",
        ),
    ]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            ",opp-1,2026-03-02,New,1,,",
            "opps.csv:2: field `account_id`: required",
        ),
        (
            "ghost,opp-1,2026-03-02,New,1,,",
            "opps.csv:2: field `account_id`: no account `ghost` in the directory (load it first "
            "with `abm directory load`)",
        ),
        ("acme,,2026-03-02,New,1,,", "opps.csv:2: field `opportunity_id`: required"),
        (
            "acme,opp-1,03/02/2026,New,1,,",
            "opps.csv:2: field `created_at`: `03/02/2026` is not an ISO-8601 date or time "
            "(`2026-10-03` or `2026-10-03T14:05:00Z`)",
        ),
        ("acme,opp-1,2026-03-02,,1,,", "opps.csv:2: field `stage`: required: the CRM's stage name"),
        (
            'acme,opp-1,2026-03-02,New,"$1,000",,',
            "opps.csv:2: field `amount`: `$1,000` is not a plain number >= 0 (`12500` or "
            "`12500.50`: no currency sign, no thousands separator)",
        ),
        (
            "acme,opp-1,2026-03-02,New,1,,maybe",
            "opps.csv:2: field `outcome`: `maybe` is not one of open, won, lost (blank = open)",
        ),
        (
            "acme,opp-1,2026-03-02,Won,1,,won",
            "opps.csv:2: field `closed_at`: required when the outcome is won",
        ),
        (
            "acme,opp-1,2026-03-02,Lost,1,2026-03-01,lost",
            "opps.csv:2: field `closed_at`: `2026-03-01` is before created_at `2026-03-02`",
        ),
    ],
)
def test_each_bad_value_is_reported_with_its_line_and_field(row: str, expected: str) -> None:
    assert errors_of(f"{HEADER}\n{row}\n") == [expected]


def test_every_problem_of_the_file_is_reported_at_once() -> None:
    text = (
        f"{HEADER}\n"
        "acme,opp-1,2026-03-02,New,1,,\n"
        "\n"
        "acme,opp-1,2026-03-02,New,x,,\n"
        "acme,opp-2,2026-03-02,New,1\n"
    )

    assert errors_of(text) == [
        "opps.csv:4: field `opportunity_id`: `opp-1` is also on line 2",
        "opps.csv:4: field `amount`: `x` is not a plain number >= 0 (`12500` or `12500.50`: "
        "no currency sign, no thousands separator)",
        "opps.csv:5: has 5 fields, the header has 7 (a value with a comma needs double quotes)",
    ]


def test_a_header_without_a_required_column_is_refused() -> None:
    assert errors_of("account_id,opportunity_id,created_at,stage,amount,closed_at\nx\n") == [
        "opps.csv:1: the header lacks the required column(s) `outcome` (the first line must be "
        "the header)"
    ]


def test_without_known_accounts_any_account_is_taken() -> None:
    records = parse_opportunities(f"{HEADER}\nghost,opp-1,2026-03-02,New,1,,\n", None)

    assert [r.account_id for r in records] == ["ghost"]


def test_a_file_over_the_bound_is_refused_whole() -> None:
    rows = "".join(
        f"acme,opp-{n},2026-03-02,New,1,,\n" for n in range(MAX_OPPORTUNITIES_PER_FILE + 1)
    )

    assert errors_of(f"{HEADER}\n{rows}") == [
        f"opps.csv: has {MAX_OPPORTUNITIES_PER_FILE + 1:,} opportunities; at most "
        f"{MAX_OPPORTUNITIES_PER_FILE:,} per load (split the file)"
    ]


def test_a_record_survives_its_stored_form() -> None:
    record = opportunity(closed_ms=at(days=3), outcome="won", amount=None)

    assert Opportunity.from_dict(record.to_dict()) == record


# --- one opportunity as JSON (the CRM webhook) --------------------------------------------------


def object_errors(data: object, known: set[str] | None = None) -> list[str]:
    with pytest.raises(OpportunitiesError) as raised:
        parse_opportunity_object(data, known if known is not None else {"acme"})
    return [str(e) for e in raised.value.errors]


def test_a_json_object_is_read_as_a_csv_row_with_optional_fields_left_out() -> None:
    data = {"account_id": "acme", "opportunity_id": "opp-1", "created_at": "2026-03-02T09:00:00Z",
            "stage": "Discovery", "amount": 12500}  # fmt: skip

    assert parse_opportunity_object(data, {"acme"}) == opportunity(
        "opp-1", created_ms=T0, stage="Discovery", amount=12_500.0
    )
    won = {**data, "amount": 800.5, "closed_at": "2026-03-12", "outcome": "Closed Won",
           "Stage": "Closed Won"}  # fmt: skip
    del won["stage"]
    assert parse_opportunity_object(won, {"acme"}) == opportunity(
        "opp-1", created_ms=T0, stage="Closed Won", amount=800.5, closed_ms=at(days=10, hours=-9),
        outcome="won",
    )  # fmt: skip
    assert parse_opportunity_object({**data, "amount": None}, {"acme"}).amount is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"account_id": "ghost"}, "body: field `account_id`: no account `ghost` in the directory "
         "(load it first with `abm directory load`)"),
        ({"opportunity_id": None}, "body: field `opportunity_id`: required"),
        ({"created_at": "3/2/2026"}, "body: field `created_at`: `3/2/2026` is not an ISO-8601 "
         "date or time (`2026-10-03` or `2026-10-03T14:05:00Z`)"),
        ({"amount": "$1,000"}, "body: field `amount`: `$1,000` is not a plain number >= 0 "
         "(`12500` or `12500.50`: no currency sign, no thousands separator)"),
        ({"amount": -5}, "body: field `amount`: `-5` is not a plain number >= 0 (`12500` or "
         "`12500.50`: no currency sign, no thousands separator)"),
        ({"outcome": "won"}, "body: field `closed_at`: required when the outcome is won"),
        ({"stage": 3}, "body: field `stage`: must be a string, not `3`"),
        ({"amount": True}, "body: field `amount`: must be a string, not `True`"),
        ({"probability": "50"}, "body: field `probability`: unknown field; the fields are: "
         "account_id, opportunity_id, created_at, stage, amount, closed_at, outcome"),
    ],
)  # fmt: skip
def test_a_json_object_breaking_a_rule_names_the_field_and_why(
    change: dict[str, object], expected: str
) -> None:
    data = {"account_id": "acme", "opportunity_id": "opp-1", "created_at": "2026-03-02",
            "stage": "New", **change}  # fmt: skip

    assert expected in object_errors(data)


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert object_errors([{"account_id": "acme"}]) == [
        "body: must be a JSON object with the fields of an opportunities.csv row"
    ]
