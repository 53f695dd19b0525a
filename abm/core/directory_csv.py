"""The account and contact CSV files behind `abm directory load`: parsing and validation.

Pure: text in, records or a `DirectoryError` out. A file is checked completely before anything
is written, and every problem is reported at once, each as `file:line: field `x`: why` with the
physical line of the file (the header is line 1), so a RevOps user can fix a file in one pass.
What needs the stored directory (does a contact's account exist, does another account already
own a domain) is passed in by the caller as plain collections.

The formats (docs/directory.md has the long form):

accounts: `id, name, domains, tier, icp_fit, lifecycle, owner_email[, owner_slack_id,
value_score]`. `domains` is `;`-separated; `icp_fit` is 0-100 or a 1-5 score written `4/5`
(x20, so 80).

contacts: `email, account_id[, title, role, seniority]`; a blank role is `other`, a blank
seniority is inferred from the title.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from abm.core.model import BUYING_ROLES, LIFECYCLES, SENIORITIES
from abm.core.records import AccountRecord, ContactRecord, infer_seniority
from abm.core.segment import FREE_MAIL_DOMAINS, MAX_ID_LENGTH

TIERS: Final = (1, 2, 3)
MAX_REPORTED_ERRORS: Final = 50

# Column -> must it be present in the header. Optional columns may be left out or left blank.
ACCOUNT_COLUMNS: Final[Mapping[str, bool]] = {
    "id": True,
    "name": True,
    "domains": True,
    "tier": True,
    "icp_fit": True,
    "lifecycle": True,
    "owner_email": True,
    "owner_slack_id": False,
    "value_score": False,
}
CONTACT_COLUMNS: Final[Mapping[str, bool]] = {
    "email": True,
    "account_id": True,
    "title": False,
    "role": False,
    "seniority": False,
}

Source = str | bytes | Path
"""CSV text (`str`), its raw bytes, or the path of the file."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem of a file. `line` 0 means the file as a whole; `field` None, the row."""

    file: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        if self.field:
            return f"{where}: field `{self.field}`: {self.message}"
        return f"{where}: {self.message}"


def format_errors(errors: Sequence[RowError], limit: int = MAX_REPORTED_ERRORS) -> str:
    """One error a line, at most `limit` of them, then how many more there are."""
    lines = [str(error) for error in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"... and {len(errors) - limit} more")
    return "\n".join(lines)


class DirectoryError(ValueError):
    """Everything wrong with a file (or a load): nothing of it may be applied."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors: list[RowError] = list(errors)
        super().__init__(format_errors(self.errors))


# --- reading -----------------------------------------------------------------------------------


def read_text(source: Source, name: str | None = None) -> tuple[str, str]:
    """The text of a source and the name to report it by. UTF-8, with or without a BOM."""
    if isinstance(source, Path):
        file = name or str(source)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise DirectoryError(
                [RowError(file, 0, None, f"cannot read it: {exc.strerror}")]
            ) from None
    elif isinstance(source, bytes):
        file, data = name or "<csv>", source
    else:
        return name or "<csv>", source.removeprefix("\ufeff")
    try:
        return file, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = (
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8 "
            "(in Excel: CSV UTF-8)"
        )
        raise DirectoryError([RowError(file, line, None, message)]) from None


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    values: dict[str, str]


def _rows(file: str, text: str, columns: Mapping[str, bool]) -> tuple[list[_Row], list[RowError]]:
    """The data rows keyed by lower-cased column name, and the problems of the file's shape.

    A bad header makes the rows meaningless, so it raises; a row with the wrong number of fields
    is reported and skipped; a CSV syntax error ends the reading (what follows is unreliable).
    """
    expected = ",".join(c for c, required in columns.items() if required)
    empty = RowError(
        file, 1, None, f"the file is empty; its first line must be the header: {expected}"
    )
    if not text.strip():
        raise DirectoryError([empty])
    errors: list[RowError] = []
    header: list[str] | None = None
    header_line = 0
    rows: list[_Row] = []
    for line, fields in _physical_rows(file, text, errors):
        if not any(f.strip() for f in fields):
            continue  # blank lines and rows of empty cells (spreadsheet exports have them)
        if header is None:
            header, header_line = _header(file, line, fields, columns), line
            continue
        if len(fields) != len(header):
            errors.append(
                RowError(
                    file,
                    line,
                    None,
                    f"has {len(fields)} fields, the header has {len(header)} "
                    "(a value with a comma needs double quotes)",
                )
            )
            continue
        rows.append(_Row(line, {c: v.strip() for c, v in zip(header, fields, strict=True)}))
    if header is None and not errors:
        raise DirectoryError([empty])
    if header is not None and not rows and not errors:
        errors.append(RowError(file, header_line, None, "the file has a header but no rows"))
    return rows, errors


def _physical_rows(file: str, text: str, errors: list[RowError]) -> Iterator[tuple[int, list[str]]]:
    """CSV rows with the physical line each starts on (a quoted value may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous = 0
    try:
        for fields in reader:
            yield previous + 1, fields
            previous = reader.line_num
    except csv.Error as exc:
        errors.append(RowError(file, previous + 1, None, f"not valid CSV: {exc}"))


def _header(file: str, line: int, fields: list[str], columns: Mapping[str, bool]) -> list[str]:
    names = [f.strip().lower() for f in fields]
    errors: list[RowError] = []
    if len(names) == 1 and ";" in names[0]:
        message = "the file seems to use `;` between columns; use `,` (domains keep `;`)"
        raise DirectoryError([RowError(file, line, None, message)])
    seen: set[str] = set()
    for name in names:
        if not name:
            errors.append(RowError(file, line, None, "the header has an empty column name"))
        elif name in seen:
            errors.append(RowError(file, line, name, "column appears twice in the header"))
        elif name not in columns:
            known = ", ".join(columns)
            errors.append(RowError(file, line, name, f"unknown column; the columns are: {known}"))
        seen.add(name)
    missing = [c for c, required in columns.items() if required and c not in seen]
    if missing:
        listed = ", ".join(f"`{c}`" for c in missing)
        errors.append(
            RowError(
                file,
                line,
                None,
                f"the header lacks the required column(s) {listed} (the first line must be "
                "the header)",
            )
        )
    if errors:
        raise DirectoryError(errors)
    return names


# --- values ------------------------------------------------------------------------------------

_LABEL: Final = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD: Final = re.compile(r"^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_EMAIL_LOCAL: Final = re.compile(r"^[^@\s,;<>()\[\]\"]+$")
_SLACK_ID: Final = re.compile(r"^[UW][A-Z0-9]{2,}$")
_NUMBER: Final = re.compile(r"^\d+(\.\d+)?$")
_OUT_OF_FIVE: Final = re.compile(r"^(\d+(\.\d+)?)\s*/\s*5$")
_ID: Final = re.compile(r"^\S+$")


def normalize_domain(value: str) -> str:
    return value.strip().lower()


def _split_domains(cell: str) -> list[str]:
    """The normalized, non-blank parts of a `;`-separated domains cell, as written."""
    return [d for d in (normalize_domain(part) for part in cell.split(";")) if d]


def domain_problem(domain: str) -> str | None:
    """Why `domain` (already normalized) is not a usable company domain, or None."""
    if "://" in domain or "/" in domain:
        return "give the bare domain (`acme.com`), not a URL"
    if "@" in domain:
        return "give the domain (`acme.com`), not an e-mail address"
    if "," in domain or any(ch.isspace() for ch in domain):
        return "is not one domain; separate domains with `;`"
    if not domain.isascii():
        return "write an international domain in its ASCII form (`xn--...`)"
    labels = domain.split(".")
    if len(labels) < 2:
        return "is not a domain name (`acme.com`)"
    if len(domain) > 253 or not all(_LABEL.match(label) for label in labels):
        return "is not a valid domain name (letters, digits, `-` and dots)"
    if not _TLD.match(labels[-1]):
        return "is not a domain name (the last part must be letters, as in `.com`)"
    if domain in FREE_MAIL_DOMAINS:
        return "is a free-mail domain; it names no company, so it cannot identify an account"
    return None


def normalize_email(value: str) -> str:
    return value.strip().lower()


def email_problem(email: str) -> str | None:
    """Why `email` (already normalized) is not an e-mail address, or None."""
    local, at, domain = email.rpartition("@")
    if not at or not local or not _EMAIL_LOCAL.match(local):
        return "is not an e-mail address"
    labels = domain.split(".")
    if (
        len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or not _TLD.match(labels[-1])
    ):
        return "is not an e-mail address (its domain is not valid)"
    return None


def parse_icp_fit(value: str) -> float | None:
    """0-100, or a 1-5 score written `n/5` that maps x20; None when neither."""
    match = _OUT_OF_FIVE.match(value)
    if match:
        score = float(match.group(1))
        return score * 20 if 1 <= score <= 5 else None
    if _NUMBER.match(value):
        fit = float(value)
        return fit if fit <= 100 else None
    return None


def _keyword(value: str) -> str:
    """`Decision Maker`, `decision-maker` -> `decision_maker`."""
    return re.sub(r"[\s-]+", "_", value.strip().lower())


def _choices(values: Sequence[str]) -> str:
    return ", ".join(values)


# --- accounts ----------------------------------------------------------------------------------


def parse_accounts(
    source: Source,
    *,
    name: str | None = None,
    claimed_domains: Mapping[str, str] | None = None,
) -> list[AccountRecord]:
    """Validate an accounts CSV into records, or raise `DirectoryError` with every problem.

    `claimed_domains` maps domains to the accounts that own them in the stored directory: a
    domain of another account is refused unless that account is in this file too (a reload
    may move a domain from one account to another).
    """
    file, text = read_text(source, name)
    rows, errors = _rows(file, text, ACCOUNT_COLUMNS)
    # Duplicates are looked for in every row, valid or not, so that one pass finds them all.
    ids = {row.values["id"] for row in rows}
    line_of_id: dict[str, int] = {}
    owner_of_domain: dict[str, tuple[str, int]] = {}
    for row in rows:
        account_id = row.values["id"]
        if not account_id:
            continue
        first = line_of_id.setdefault(account_id, row.line)
        if first != row.line:
            errors.append(RowError(file, row.line, "id", f"`{account_id}` is also on line {first}"))
            continue
        valid = (d for d in _split_domains(row.values["domains"]) if domain_problem(d) is None)
        for domain in dict.fromkeys(valid):
            owner, line = owner_of_domain.setdefault(domain, (account_id, row.line))
            if line != row.line:
                errors.append(
                    RowError(
                        file,
                        row.line,
                        "domains",
                        f"`{domain}` is also claimed by account `{owner}` on line {line}",
                    )
                )
                continue
            stored_owner = (claimed_domains or {}).get(domain)
            if stored_owner is not None and stored_owner != account_id and stored_owner not in ids:
                errors.append(
                    RowError(
                        file,
                        row.line,
                        "domains",
                        f"`{domain}` belongs to account `{stored_owner}` in the directory",
                    )
                )
    records = [r for r in (_account(file, row, errors) for row in rows) if r is not None]
    if errors:
        raise DirectoryError(sorted(errors, key=lambda e: e.line))
    return records


def _account(file: str, row: _Row, errors: list[RowError]) -> AccountRecord | None:
    before = len(errors)
    v = row.values

    def problem(field: str, message: str) -> None:
        errors.append(RowError(file, row.line, field, message))

    account_id = v["id"]
    if not account_id:
        problem("id", "required")
    elif not _ID.match(account_id) or len(account_id) > MAX_ID_LENGTH:
        problem("id", f"`{account_id}`: no spaces, at most {MAX_ID_LENGTH} characters")
    if not v["name"]:
        problem("name", "required")

    domains: list[str] = []
    for domain in _split_domains(v["domains"]):
        why = domain_problem(domain)
        if why:
            problem("domains", f"`{domain}` {why}")
        elif domain in domains:
            problem("domains", f"`{domain}` is listed twice")
        else:
            domains.append(domain)

    tier = v["tier"]
    if tier not in {str(t) for t in TIERS}:
        problem("tier", f"`{tier}` is not one of 1, 2, 3" if tier else "required: 1, 2 or 3")

    icp_fit = parse_icp_fit(v["icp_fit"])
    if icp_fit is None:
        shown = f"`{v['icp_fit']}` is not" if v["icp_fit"] else "required:"
        problem("icp_fit", f"{shown} a number 0-100 or a 1-5 score written like `4/5`")

    lifecycle = _keyword(v["lifecycle"])
    if lifecycle not in LIFECYCLES:
        shown = f"`{v['lifecycle']}` is not" if v["lifecycle"] else "required:"
        problem("lifecycle", f"{shown} one of {_choices(LIFECYCLES)}")

    owner_email = normalize_email(v["owner_email"])
    if not owner_email:
        problem("owner_email", "required: the e-mail of the account executive who owns it")
    else:
        why = email_problem(owner_email)
        if why:
            problem("owner_email", f"`{owner_email}` {why}")

    slack_id = v.get("owner_slack_id", "")
    if slack_id and not _SLACK_ID.match(slack_id):
        problem(
            "owner_slack_id",
            f"`{slack_id}` is not a Slack member id (`U` and capitals/digits, like `U024BE7LH`)",
        )

    value_text = v.get("value_score", "")
    value_score: int | None = None
    if value_text:
        if value_text in {"0", "1", "2", "3", "4"}:
            value_score = int(value_text)
        else:
            problem("value_score", f"`{value_text}` is not a whole number 0-4")

    if len(errors) > before:
        return None
    assert icp_fit is not None
    return AccountRecord(
        account_id=account_id,
        name=v["name"],
        domains=tuple(domains),
        tier=int(tier),
        icp_fit=icp_fit,
        lifecycle=lifecycle,
        owner_email=owner_email,
        owner_slack_id=slack_id or None,
        value_score=value_score,
    )


# --- contacts ----------------------------------------------------------------------------------


def parse_contacts(
    source: Source,
    known_account_ids: Collection[str],
    *,
    name: str | None = None,
) -> list[ContactRecord]:
    """Validate a contacts CSV into records, or raise `DirectoryError` with every problem.

    `known_account_ids`: the accounts a contact may belong to (those of the accounts file loaded
    with it and those already in the directory).
    """
    file, text = read_text(source, name)
    rows, errors = _rows(file, text, CONTACT_COLUMNS)
    line_of_email: dict[str, int] = {}
    for row in rows:
        email = normalize_email(row.values["email"])
        if email:
            first = line_of_email.setdefault(email, row.line)
            if first != row.line:
                errors.append(
                    RowError(file, row.line, "email", f"`{email}` is also on line {first}")
                )
    records = [
        r for r in (_contact(file, row, known_account_ids, errors) for row in rows) if r is not None
    ]
    if errors:
        raise DirectoryError(sorted(errors, key=lambda e: e.line))
    return records


def _contact(
    file: str, row: _Row, known_account_ids: Collection[str], errors: list[RowError]
) -> ContactRecord | None:
    before = len(errors)
    v = row.values

    def problem(field: str, message: str) -> None:
        errors.append(RowError(file, row.line, field, message))

    email = normalize_email(v["email"])
    if not email:
        problem("email", "required")
    else:
        why = email_problem(email)
        if why:
            problem("email", f"`{email}` {why}")

    account_id = v["account_id"]
    if not account_id:
        problem("account_id", "required")
    elif account_id not in known_account_ids:
        problem(
            "account_id",
            f"no account `{account_id}` in this load or in the directory (load it first, or "
            "with the accounts file)",
        )

    title = v.get("title") or None
    role = _keyword(v.get("role", "")) or "other"
    if role not in BUYING_ROLES:
        problem("role", f"`{v['role']}` is not one of {_choices(BUYING_ROLES)} (blank = other)")
    seniority = _keyword(v.get("seniority", "")) or infer_seniority(title)
    if seniority not in SENIORITIES:
        problem(
            "seniority",
            f"`{v['seniority']}` is not one of {_choices(SENIORITIES)} (blank = from the title)",
        )

    if len(errors) > before:
        return None
    return ContactRecord(
        email=email, account_id=account_id, title=title, role=role, seniority=seniority
    )


# --- before validation -------------------------------------------------------------------------


def listed_values(source: Source, column: str, *, name: str | None = None) -> set[str]:
    """The normalized values a column lists, read leniently (nothing is validated).

    For asking the stored directory the right questions before validating: which of the
    domains of an accounts file are owned already, which accounts a contacts file refers to.
    A file that cannot be read at all lists nothing; validation then reports why.
    """
    try:
        _, text = read_text(source, name)
    except DirectoryError:
        return set()
    values: set[str] = set()
    errors: list[RowError] = []
    column = column.lower()
    header: list[str] | None = None
    for _, fields in _physical_rows("", text, errors):
        if header is None:
            if any(f.strip() for f in fields):
                header = [f.strip().lower() for f in fields]
            continue
        if column not in header or len(fields) != len(header):
            continue
        value = fields[header.index(column)]
        if column == "domains":
            values.update(_split_domains(value))
        elif column in {"email", "owner_email"}:
            values.add(normalize_email(value))
        else:
            values.add(value.strip())
    values.discard("")
    return values
