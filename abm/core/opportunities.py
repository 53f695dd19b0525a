"""The CRM's opportunities behind `abm outcomes load`: the record, and its CSV's validation.

Pure: text in, records or an `OpportunitiesError` out, in the directory's style (see
`abm.core.directory_csv`): the whole file is checked before anything is written, and every
problem is reported at once as `file:line: field `x`: why`, the header being line 1.

The format (docs/backtest.md has the long form and the Salesforce and HubSpot mappings):

`account_id, opportunity_id, created_at, stage, amount, closed_at, outcome`. Times are ISO-8601
(`2026-10-03` is midnight UTC); `amount` is a plain number in the CRM's currency (blank when the
CRM has none); `outcome` is `open`, `won` or `lost` (blank = open).

The CRM webhook (`POST /crm/opportunity` of the alert service) sends one opportunity as a JSON
object with the same fields; `parse_opportunity_object` checks it with the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from abm.core.directory_csv import (
    DirectoryError,
    RowError,
    Source,
    _keyword,
    _Row,
    _rows,
    read_text,
)
from abm.core.segment import MAX_ID_LENGTH
from abm.core.timefmt import iso_ms, parse_iso_ms

MAX_OPPORTUNITIES_PER_FILE: Final = 200_000
"""Bound of one load: a file with more rows is refused (split it). The CRM's whole history of a
B2B company is far smaller; the bound keeps a load, validated in memory, to some 100 MB."""

OPEN: Final = "open"
WON: Final = "won"
LOST: Final = "lost"
OUTCOMES: Final = (OPEN, WON, LOST)

# How CRMs write the outcome, after `_keyword` (lower case, spaces and dashes as `_`).
_OUTCOME_SPELLINGS: Final[Mapping[str, str]] = {
    "": OPEN,
    "open": OPEN,
    "won": WON,
    "closed_won": WON,
    "closedwon": WON,
    "lost": LOST,
    "closed_lost": LOST,
    "closedlost": LOST,
}

OPPORTUNITY_COLUMNS: Final[Mapping[str, bool]] = {
    "account_id": True,
    "opportunity_id": True,
    "created_at": True,
    "stage": True,
    "amount": True,
    "closed_at": True,
    "outcome": True,
}

_AMOUNT: Final = re.compile(r"^\d+(\.\d+)?$")
_ID: Final = re.compile(r"^\S+$")


class OpportunitiesError(DirectoryError):
    """Everything wrong with an opportunities file: nothing of it may be stored."""


@dataclass(frozen=True, slots=True)
class Opportunity:
    """One CRM opportunity of an account: when it was opened, its worth and how it ended."""

    opportunity_id: str
    account_id: str
    created_ms: int
    """When the opportunity was created in the CRM, epoch ms."""
    stage: str
    """The CRM's stage name, as exported (shown, not interpreted)."""
    amount: float | None
    """In the CRM's currency; None when the CRM has none."""
    closed_ms: int | None
    """Won or lost: when it closed, epoch ms. Open: the expected close date, if given."""
    outcome: str
    """`open`, `won` or `lost`."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.opportunity_id,
            "account_id": self.account_id,
            "created_at": iso_ms(self.created_ms),
            "created_ms": self.created_ms,
            "stage": self.stage,
            "amount": self.amount,
            "closed_ms": self.closed_ms,
            "outcome": self.outcome,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Opportunity:
        amount = data.get("amount")
        closed = data.get("closed_ms")
        return cls(
            opportunity_id=str(data["id"]),
            account_id=str(data["account_id"]),
            created_ms=int(data["created_ms"]),
            stage=str(data["stage"]),
            amount=None if amount is None else float(amount),
            closed_ms=None if closed is None else int(closed),
            outcome=str(data["outcome"]),
        )


def parse_opportunities(
    source: Source,
    known_account_ids: Collection[str] | None = None,
    *,
    name: str | None = None,
) -> list[Opportunity]:
    """Validate an opportunities CSV into records, or raise `OpportunitiesError` with every
    problem.

    `known_account_ids`: the accounts of the directory; an opportunity of another account is
    refused (it could never be matched to an MQA). None skips that check (a file read for a
    backtest without the directory).
    """
    try:
        file, text = read_text(source, name)
        rows, errors = _rows(file, text, OPPORTUNITY_COLUMNS)
    except DirectoryError as exc:
        raise OpportunitiesError(exc.errors) from None
    if len(rows) > MAX_OPPORTUNITIES_PER_FILE:
        raise OpportunitiesError(
            [
                RowError(
                    file,
                    0,
                    None,
                    f"has {len(rows):,} opportunities; at most {MAX_OPPORTUNITIES_PER_FILE:,} "
                    "per load (split the file)",
                )
            ]
        )
    first_line: dict[str, int] = {}
    for row in rows:
        opportunity_id = row.values["opportunity_id"]
        if opportunity_id:
            first = first_line.setdefault(opportunity_id, row.line)
            if first != row.line:
                errors.append(
                    RowError(
                        file,
                        row.line,
                        "opportunity_id",
                        f"`{opportunity_id}` is also on line {first}",
                    )
                )
    records = [r for r in (_opportunity(file, row, known_account_ids, errors) for row in rows) if r]
    if errors:
        raise OpportunitiesError(sorted(errors, key=lambda e: e.line))
    return records


WEBHOOK_SOURCE: Final = "body"
"""The `file` of the errors of a webhook body (they have no line: `line` is 0)."""


def parse_opportunity_object(
    data: Any, known_account_ids: Collection[str] | None = None
) -> Opportunity:
    """One opportunity sent as a JSON object (the CRM webhook), checked as a row of the CSV is:
    the same fields, rules and messages. A field may be left out where the CSV's cell may be
    blank (null is blank too); `amount` may be a JSON number. Raises `OpportunitiesError` with
    every problem (`file` "body", `line` 0, the field named)."""

    def refused(field: str | None, message: str) -> OpportunitiesError:
        return OpportunitiesError([RowError(WEBHOOK_SOURCE, 0, field, message)])

    if not isinstance(data, dict):
        raise refused(None, "must be a JSON object with the fields of an opportunities.csv row")
    values: dict[str, str] = {}
    errors: list[RowError] = []
    for key, value in data.items():
        field = str(key).lower()
        if field not in OPPORTUNITY_COLUMNS:
            listed = ", ".join(OPPORTUNITY_COLUMNS)
            message = f"unknown field; the fields are: {listed}"
            errors.append(RowError(WEBHOOK_SOURCE, 0, field, message))
        elif value is None:
            values[field] = ""
        elif isinstance(value, str):
            values[field] = value.strip()
        elif field == "amount" and isinstance(value, int | float) and not isinstance(value, bool):
            values[field] = f"{value:f}".rstrip("0").rstrip(".") if value >= 0 else str(value)
        else:
            errors.append(RowError(WEBHOOK_SOURCE, 0, field, f"must be a string, not `{value!r}`"))
    row = _Row(0, {column: values.get(column, "") for column in OPPORTUNITY_COLUMNS})
    opportunity = _opportunity(WEBHOOK_SOURCE, row, known_account_ids, errors)
    if errors or opportunity is None:
        raise OpportunitiesError(errors)
    return opportunity


def _time(value: str) -> int | None:
    try:
        return parse_iso_ms(value)
    except ValueError:
        return None


def _opportunity(
    file: str, row: _Row, known_account_ids: Collection[str] | None, errors: list[RowError]
) -> Opportunity | None:
    before = len(errors)
    v = row.values

    def problem(field: str, message: str) -> None:
        errors.append(RowError(file, row.line, field, message))

    account_id = v["account_id"]
    if not account_id:
        problem("account_id", "required")
    elif known_account_ids is not None and account_id not in known_account_ids:
        problem(
            "account_id",
            f"no account `{account_id}` in the directory (load it first with `abm directory load`)",
        )

    opportunity_id = v["opportunity_id"]
    if not opportunity_id:
        problem("opportunity_id", "required")
    elif not _ID.match(opportunity_id) or len(opportunity_id) > MAX_ID_LENGTH:
        problem(
            "opportunity_id", f"`{opportunity_id}`: no spaces, at most {MAX_ID_LENGTH} characters"
        )

    created = _time(v["created_at"]) if v["created_at"] else None
    if not v["created_at"]:
        problem("created_at", "required: when the opportunity was created, like `2026-10-03`")
    elif created is None:
        problem(
            "created_at",
            f"`{v['created_at']}` is not an ISO-8601 date or time (`2026-10-03` or "
            "`2026-10-03T14:05:00Z`)",
        )

    if not v["stage"]:
        problem("stage", "required: the CRM's stage name")

    amount: float | None = None
    if v["amount"]:
        text = v["amount"]
        if _AMOUNT.match(text):
            amount = float(text)
        else:
            problem(
                "amount",
                f"`{text}` is not a plain number >= 0 (`12500` or `12500.50`: no currency sign, "
                "no thousands separator)",
            )

    outcome = _OUTCOME_SPELLINGS.get(_keyword(v["outcome"]))
    if outcome is None:
        problem("outcome", f"`{v['outcome']}` is not one of open, won, lost (blank = open)")

    closed: int | None = None
    if v["closed_at"]:
        closed = _time(v["closed_at"])
        if closed is None:
            problem("closed_at", f"`{v['closed_at']}` is not an ISO-8601 date or time")
        elif created is not None and closed < created and outcome in (WON, LOST):
            problem("closed_at", f"`{v['closed_at']}` is before created_at `{v['created_at']}`")
    elif outcome in (WON, LOST):
        problem("closed_at", f"required when the outcome is {outcome}")

    if len(errors) > before:
        return None
    assert created is not None and outcome is not None
    return Opportunity(
        opportunity_id=opportunity_id,
        account_id=account_id,
        created_ms=created,
        stage=v["stage"],
        amount=amount,
        closed_ms=closed,
        outcome=outcome,
    )
