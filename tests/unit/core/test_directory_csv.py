"""The account and contact CSV files: every rule, its message, and the line it points at."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from abm.core.directory_csv import (
    MAX_REPORTED_ERRORS,
    DirectoryError,
    RowError,
    format_errors,
    listed_values,
    parse_accounts,
    parse_contacts,
    parse_icp_fit,
)
from abm.core.records import AccountRecord, ContactRecord

ACCOUNTS_HEADER = "id,name,domains,tier,icp_fit,lifecycle,owner_email,owner_slack_id,value_score"
GOOD_ACCOUNT = "acme,Acme Corp,acme.com;acme.io,1,80,prospect,ae@seller.io,U024BE7LH,3"
CONTACTS_HEADER = "email,account_id,title,role,seniority"


def accounts_errors(text: str, claimed_domains: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(DirectoryError) as raised:
        parse_accounts(text, name="accounts.csv", claimed_domains=claimed_domains)
    return [str(e) for e in raised.value.errors]


def contacts_errors(text: str, known: set[str] | None = None) -> list[str]:
    with pytest.raises(DirectoryError) as raised:
        parse_contacts(text, known or {"acme"}, name="contacts.csv")
    return [str(e) for e in raised.value.errors]


def account_row(**values: str) -> str:
    """A valid account row (`other`, `other.com`) with some values replaced."""
    row = dict(zip(ACCOUNTS_HEADER.split(","), GOOD_ACCOUNT.split(","), strict=True))
    row.update(id="other", domains="other.com")
    row.update(values)
    return ",".join(row.values())


# --- accounts: values ----------------------------------------------------------------------------


def test_a_valid_accounts_file() -> None:
    text = "\n".join(
        [
            ACCOUNTS_HEADER,
            GOOD_ACCOUNT,
            "beta,Beta,Beta.NL ; ,3,4/5,Open Opportunity,Owner@Seller.io,,",
        ]
    )
    assert parse_accounts(text) == [
        AccountRecord(
            account_id="acme",
            name="Acme Corp",
            domains=("acme.com", "acme.io"),
            tier=1,
            icp_fit=80.0,
            lifecycle="prospect",
            owner_email="ae@seller.io",
            owner_slack_id="U024BE7LH",
            value_score=3,
        ),
        AccountRecord(
            account_id="beta",
            name="Beta",
            domains=("beta.nl",),
            tier=3,
            icp_fit=80.0,
            lifecycle="open_opportunity",
            owner_email="owner@seller.io",
            owner_slack_id=None,
            value_score=None,
        ),
    ]


@pytest.mark.parametrize(
    ("text", "fit"),
    [
        ("0", 0.0),
        ("50", 50.0),
        ("72.5", 72.5),
        ("100", 100.0),
        ("1/5", 20.0),
        ("4/5", 80.0),
        ("4.5 / 5", 90.0),
        ("5/5", 100.0),
        ("101", None),
        ("-5", None),
        ("0/5", None),
        ("6/5", None),
        ("4/10", None),
        ("high", None),
        ("nan", None),
        ("", None),
    ],
)
def test_icp_fit_is_0_to_100_or_a_1_to_5_score_times_20(text: str, fit: float | None) -> None:
    assert parse_icp_fit(text) == fit


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"id": ""}, "field `id`: required"),
        ({"id": "ac me"}, "field `id`: `ac me`: no spaces, at most 256 characters"),
        ({"id": "x" * 257}, "field `id`: `" + "x" * 257 + "`: no spaces, at most 256 characters"),
        ({"name": ""}, "field `name`: required"),
        ({"domains": "gmail.com"}, "field `domains`: `gmail.com` is a free-mail domain"),
        ({"domains": "other.com;OTHER.com"}, "field `domains`: `other.com` is listed twice"),
        ({"domains": "https://acme.com"}, "field `domains`: `https://acme.com` give the bare"),
        ({"domains": "ann@acme.com"}, "field `domains`: `ann@acme.com` give the domain"),
        ({"domains": '"acme.com, acme.io"'}, "field `domains`: `acme.com, acme.io` is not one"),
        ({"domains": "localhost"}, "field `domains`: `localhost` is not a domain name"),
        ({"domains": "-acme.com"}, "field `domains`: `-acme.com` is not a valid domain name"),
        ({"domains": "acme..com"}, "field `domains`: `acme..com` is not a valid domain name"),
        ({"domains": "10.0.0.1"}, "field `domains`: `10.0.0.1` is not a domain name (the last"),
        ({"domains": "bücher.de"}, "field `domains`: `bücher.de` write an international domain"),
        ({"tier": ""}, "field `tier`: required: 1, 2 or 3"),
        ({"tier": "0"}, "field `tier`: `0` is not one of 1, 2, 3"),
        ({"tier": "1.0"}, "field `tier`: `1.0` is not one of 1, 2, 3"),
        ({"icp_fit": ""}, "field `icp_fit`: required: a number 0-100 or a 1-5 score"),
        ({"icp_fit": "120"}, "field `icp_fit`: `120` is not a number 0-100 or a 1-5 score"),
        ({"lifecycle": ""}, "field `lifecycle`: required: one of prospect, customer,"),
        ({"lifecycle": "lead"}, "field `lifecycle`: `lead` is not one of prospect, customer,"),
        ({"owner_email": ""}, "field `owner_email`: required: the e-mail of the account exec"),
        ({"owner_email": "ae"}, "field `owner_email`: `ae` is not an e-mail address"),
        ({"owner_email": "ae@x"}, "field `owner_email`: `ae@x` is not an e-mail address (its"),
        ({"owner_slack_id": "u024be7lh"}, "field `owner_slack_id`: `u024be7lh` is not a Slack"),
        ({"owner_slack_id": "@ann"}, "field `owner_slack_id`: `@ann` is not a Slack member id"),
        ({"value_score": "5"}, "field `value_score`: `5` is not a whole number 0-4"),
        ({"value_score": "2.5"}, "field `value_score`: `2.5` is not a whole number 0-4"),
    ],
)
def test_each_account_rule(values: dict[str, str], error: str) -> None:
    errors = accounts_errors(f"{ACCOUNTS_HEADER}\n{GOOD_ACCOUNT}\n{account_row(**values)}\n")
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"accounts.csv:3: {error}"), errors[0]


def test_optional_account_columns_may_be_left_out() -> None:
    text = (
        "Lifecycle,OWNER_EMAIL,icp_fit,tier,domains,name,id\n"
        "prospect,ae@seller.io,55,2,,Acme,acme\n"
    )
    (record,) = parse_accounts(text)
    assert (record.account_id, record.domains, record.tier, record.icp_fit) == ("acme", (), 2, 55)
    assert (record.owner_slack_id, record.value_score) == (None, None)


# --- accounts: across rows and against the directory ---------------------------------------------


def test_duplicate_ids_and_domains_point_at_both_lines() -> None:
    text = "\n".join(
        [
            ACCOUNTS_HEADER,
            GOOD_ACCOUNT,
            account_row(id="beta", domains="beta.com;acme.io"),
            account_row(id="acme", domains="acme2.com"),
            account_row(id="gamma", domains="beta.com", tier="9"),
        ]
    )
    assert accounts_errors(text) == [
        "accounts.csv:3: field `domains`: `acme.io` is also claimed by account `acme` on line 2",
        "accounts.csv:4: field `id`: `acme` is also on line 2",
        "accounts.csv:5: field `domains`: `beta.com` is also claimed by account `beta` on line 3",
        "accounts.csv:5: field `tier`: `9` is not one of 1, 2, 3",
    ]


@pytest.mark.parametrize(
    ("claimed", "error"),
    [
        ({"other.com": "zeta"}, "`other.com` belongs to account `zeta` in the directory"),
        ({"other.com": "other"}, None),  # its own domain, reloaded
        ({"other.com": "acme"}, None),  # moves from acme, which is reloaded without it
        ({"unrelated.com": "zeta"}, None),
    ],
)
def test_a_domain_owned_in_the_directory(claimed: dict[str, str], error: str | None) -> None:
    text = f"{ACCOUNTS_HEADER}\n{GOOD_ACCOUNT}\n{account_row()}\n"
    if error is None:
        assert len(parse_accounts(text, claimed_domains=claimed)) == 2
    else:
        assert accounts_errors(text, claimed_domains=claimed) == [
            f"accounts.csv:3: field `domains`: {error}"
        ]


# --- file shape ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("", ["accounts.csv:1: the file is empty; its first line must be the header: id,name,"]),
        ("\n\r\n  \n", ["accounts.csv:1: the file is empty"]),
        (",,,,\n,,,,\n", ["accounts.csv:1: the file is empty"]),
        (f"{ACCOUNTS_HEADER}\n", ["accounts.csv:1: the file has a header but no rows"]),
        (f"{ACCOUNTS_HEADER}\n\n,,,,,,,,\n", ["accounts.csv:1: the file has a header but no rows"]),
        (
            "id;name;domains;tier\n",
            ["accounts.csv:1: the file seems to use `;` between columns; use `,`"],
        ),
        (
            f"{ACCOUNTS_HEADER},region\n{GOOD_ACCOUNT},emea\n",
            ["accounts.csv:1: field `region`: unknown column; the columns are: id, name, domains"],
        ),
        (
            f"{ACCOUNTS_HEADER},Tier\n{GOOD_ACCOUNT},1\n",
            ["accounts.csv:1: field `tier`: column appears twice in the header"],
        ),
        (
            f"{ACCOUNTS_HEADER},\n{GOOD_ACCOUNT},\n",
            ["accounts.csv:1: the header has an empty column name"],
        ),
        (
            "id,name,tier\nacme,Acme,1\n",
            [
                "accounts.csv:1: the header lacks the required column(s) `domains`, `icp_fit`, "
                "`lifecycle`, `owner_email` (the first line must be the header)"
            ],
        ),
        (
            f"{GOOD_ACCOUNT}\n",
            [
                "accounts.csv:1: field `acme`: unknown column",
                "accounts.csv:1: field `acme corp`: unknown column",
            ],
        ),
        (
            f"{ACCOUNTS_HEADER}\nacme,Acme, Inc.,acme.com,1,80,prospect,ae@seller.io,,\n",
            ["accounts.csv:2: has 10 fields, the header has 9 (a value with a comma needs double"],
        ),
        (
            f'{ACCOUNTS_HEADER}\n{GOOD_ACCOUNT}\n"acme,Acme\n',
            ["accounts.csv:3: not valid CSV: unexpected end of data"],
        ),
        (
            f'{ACCOUNTS_HEADER}\n"ac"me,Acme,acme.com,1,80,prospect,ae@seller.io,,\n',
            ["accounts.csv:2: not valid CSV: "],
        ),
    ],
)
def test_file_shape_errors(text: str, errors: list[str]) -> None:
    found = accounts_errors(text)
    assert len(found) >= len(errors), found
    for actual, expected in zip(found, errors, strict=False):
        assert actual.startswith(expected), (actual, expected)


def test_line_numbers_are_physical_lines() -> None:
    """Blank lines count, a quoted value spanning lines counts each line, CRLF is one break."""
    text = "\r\n".join(
        [
            ACCOUNTS_HEADER,  # 1
            "",  # 2
            account_row(id="a", domains="a.com", name='"Acme\r\nHolding\r\nB.V."'),  # 3-5
            account_row(id="b", domains="b.com", tier="7"),  # 6
            ",,,,,,,,",  # 7
            account_row(id="c", domains="c.com", lifecycle="lost"),  # 8
        ]
    )
    assert accounts_errors(text) == [
        "accounts.csv:6: field `tier`: `7` is not one of 1, 2, 3",
        "accounts.csv:8: field `lifecycle`: `lost` is not one of prospect, customer, "
        "open_opportunity, partner, competitor",
    ]


def test_all_problems_of_a_file_are_reported_together() -> None:
    rows = [account_row(id=f"a{i}", domains=f"a{i}.com", tier="x", icp_fit="y") for i in range(30)]
    with pytest.raises(DirectoryError) as raised:
        parse_accounts("\n".join([ACCOUNTS_HEADER, *rows]), name="accounts.csv")

    errors = raised.value.errors
    assert len(errors) == 60
    assert [(e.line, e.field) for e in errors[:4]] == [
        (2, "tier"),
        (2, "icp_fit"),
        (3, "tier"),
        (3, "icp_fit"),
    ]
    report = str(raised.value).splitlines()
    assert len(report) == MAX_REPORTED_ERRORS + 1
    assert report[-1] == "... and 10 more"


def test_error_formats() -> None:
    assert str(RowError("a.csv", 3, "tier", "bad")) == "a.csv:3: field `tier`: bad"
    assert str(RowError("a.csv", 3, None, "bad row")) == "a.csv:3: bad row"
    assert str(RowError("a.csv", 0, None, "cannot read it")) == "a.csv: cannot read it"
    errors = [RowError("f", n, None, "x") for n in range(1, 4)]
    assert format_errors(errors, limit=2) == "f:1: x\nf:2: x\n... and 1 more"
    assert format_errors(errors, limit=3) == "f:1: x\nf:2: x\nf:3: x"


# --- encodings and sources -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        f"\ufeff{ACCOUNTS_HEADER}\n{GOOD_ACCOUNT}\n",
        f"\ufeff{ACCOUNTS_HEADER}\n{GOOD_ACCOUNT}\n".encode(),
        f"{ACCOUNTS_HEADER}\r\n{GOOD_ACCOUNT}\r\n".encode(),
    ],
)
def test_utf8_with_or_without_bom(source: str | bytes) -> None:
    (record,) = parse_accounts(source)
    assert record.account_id == "acme"


def test_a_path_is_read_and_named_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_bytes(f"\ufeff{ACCOUNTS_HEADER}\n{account_row(name='Société Générale')}\n".encode())
    (record,) = parse_accounts(path)
    assert record.name == "Société Générale"

    path.write_bytes(f"{ACCOUNTS_HEADER}\n{GOOD_ACCOUNT}\n".encode() + b"x,Soci\xe9t\xe9\n")
    with pytest.raises(DirectoryError) as raised:
        parse_accounts(path)
    assert str(raised.value) == (
        f"{path}:3: not valid UTF-8 (byte 0xe9); save the file as UTF-8 (in Excel: CSV UTF-8)"
    )

    with pytest.raises(DirectoryError, match=r"missing\.csv: cannot read it: No such file"):
        parse_accounts(tmp_path / "missing.csv")


# --- contacts ------------------------------------------------------------------------------------


def test_a_valid_contacts_file() -> None:
    text = "\n".join(
        [
            "Account_ID,Email,Title,Role,Seniority",
            "acme,Ann@Acme.com,Chief Executive Officer,Decision Maker,",
            "acme,bob@gmail.com,,,",
            "beta,cy@beta.nl,Head of IT,technical-evaluator,Manager",
            "beta,dee@beta.nl,Marketing Intern,,",
        ]
    )
    assert parse_contacts(text, {"acme", "beta"}) == [
        ContactRecord(
            "ann@acme.com", "acme", "Chief Executive Officer", "decision_maker", "c_level"
        ),
        ContactRecord("bob@gmail.com", "acme", None, "other", "unknown"),
        ContactRecord("cy@beta.nl", "beta", "Head of IT", "technical_evaluator", "manager"),
        ContactRecord("dee@beta.nl", "beta", "Marketing Intern", "other", "student"),
    ]


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (",acme,,,", "field `email`: required"),
        ("ann,acme,,,", "field `email`: `ann` is not an e-mail address"),
        ("ann@@acme.com,acme,,,", "field `email`: `ann@@acme.com` is not an e-mail address"),
        ("ann@acme,acme,,,", "field `email`: `ann@acme` is not an e-mail address (its domain"),
        ("ann@acme.com,,,,", "field `account_id`: required"),
        ("ann@acme.com,ghost,,,", "field `account_id`: no account `ghost` in this load or in"),
        ("ann@acme.com,acme,,boss,", "field `role`: `boss` is not one of decision_maker, budget"),
        ("ann@acme.com,acme,,,intern", "field `seniority`: `intern` is not one of c_level, vp,"),
    ],
)
def test_each_contact_rule(row: str, error: str) -> None:
    errors = contacts_errors(f"{CONTACTS_HEADER}\nok@acme.com,acme,,,\n{row}\n")
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"contacts.csv:3: {error}"), errors[0]


def test_duplicate_contacts_and_every_problem_reported() -> None:
    text = "\n".join(
        [
            CONTACTS_HEADER,
            "ann@acme.com,acme,,,",
            "bob@acme.com,ghost,,,",
            "ANN@acme.com,acme,,,",
            "cy@acme.com,acme,,ceo,",
        ]
    )
    assert contacts_errors(text) == [
        "contacts.csv:3: field `account_id`: no account `ghost` in this load or in the directory "
        "(load it first, or with the accounts file)",
        "contacts.csv:4: field `email`: `ann@acme.com` is also on line 2",
        "contacts.csv:5: field `role`: `ceo` is not one of decision_maker, budget_holder, "
        "champion, executive_sponsor, technical_evaluator, influencer, end_user, "
        "legal_procurement, blocker, other (blank = other)",
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "contacts.csv:1: the file is empty; its first line must be the header: email,acc"),
        (f"\ufeff{CONTACTS_HEADER}\r\n", "contacts.csv:1: the file has a header but no rows"),
        ("email,title\nann@acme.com,CTO\n", "contacts.csv:1: the header lacks the required"),
        ("email,account_id,phone\n", "contacts.csv:1: field `phone`: unknown column"),
    ],
)
def test_contacts_file_shape(text: str, error: str) -> None:
    assert contacts_errors(text)[0].startswith(error)


def test_optional_contact_columns_may_be_left_out() -> None:
    (record,) = parse_contacts("email,account_id\nann@acme.com,acme\n", {"acme"})
    assert record == ContactRecord("ann@acme.com", "acme", None, "other", "unknown")


# --- before validation ---------------------------------------------------------------------------


def test_listed_values_reads_leniently() -> None:
    accounts = "\n".join(
        [ACCOUNTS_HEADER, GOOD_ACCOUNT, account_row(id="b", domains=" B.com;;gmail.com ", tier="x")]
    )
    assert listed_values(accounts, "domains") == {"acme.com", "acme.io", "b.com", "gmail.com"}
    assert listed_values(accounts, "ID") == {"acme", "b"}
    assert listed_values("email,account_id\nA@x.com, acme \nb@x.com,\n", "account_id") == {"acme"}
    assert listed_values("", "domains") == set()
    assert listed_values(b"\xff\xfe", "domains") == set()
