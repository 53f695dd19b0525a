"""Directory records and seniority from job titles."""

from __future__ import annotations

from typing import Any

import pytest

from abm.core.model import SENIORITIES
from abm.core.records import AccountRecord, ContactRecord, infer_role, infer_seniority
from tests.support.factories import account, contact_record


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (None, "unknown"),
        ("", "unknown"),
        ("   ", "unknown"),
        ("CEO", "c_level"),
        ("cto", "c_level"),
        ("CFO & Co-Founder", "c_level"),
        ("CISO", "c_level"),
        ("Chief Information Security Officer", "c_level"),
        ("Founder", "c_level"),
        ("Owner", "c_level"),
        ("President", "c_level"),
        ("Managing Director", "c_level"),
        ("General Manager Benelux", "c_level"),
        ("VP Engineering", "vp"),
        ("SVP Sales", "vp"),
        ("Vice President, Finance", "vp"),
        ("Vice-President Operations", "vp"),
        ("Director of IT", "director"),
        ("Head of Security", "director"),
        ("IT Manager", "manager"),
        ("Team Lead Data", "manager"),
        ("Principal Engineer", "manager"),
        ("Product Owner", "individual"),
        ("Software Engineer", "individual"),
        ("Accountant", "individual"),
        ("Student", "student"),
        ("Marketing Intern", "student"),
        ("Trainee Developer", "student"),
        ("Student VP of the debating club", "student"),
    ],
    ids=[
        "no title is unknown",
        "an empty title is unknown",
        "a blank title is unknown",
        "CEO is c-level",
        "a lower-case cto is c-level",
        "a C-title among others is c-level",
        "CISO is c-level",
        "a Chief title is c-level",
        "a founder is c-level",
        "an owner is c-level",
        "a president is c-level",
        "a managing director is c-level, not a director",
        "a general manager is c-level, not a manager",
        "VP is vp",
        "SVP is vp",
        "vice president is vp, not president",
        "vice-president with a hyphen is vp",
        "a director is director",
        "a head of is director",
        "a manager is manager",
        "a team lead is manager",
        "a principal is manager",
        "a product owner is not the owner of the company",
        "an engineer is individual",
        "any other title is individual",
        "a student is student",
        "an intern is student",
        "a trainee is student",
        "student wins over any other word",
    ],
)
def test_infer_seniority(title: str | None, expected: str) -> None:
    assert infer_seniority(title) == expected


def test_inferred_seniorities_are_model_seniorities() -> None:
    titles = ["CEO", "VP", "Director", "Manager", "Engineer", "Student", None]
    assert {infer_seniority(t) for t in titles} <= set(SENIORITIES)


@pytest.mark.parametrize(
    "record",
    [
        account(),
        account("b-1", domains=(), tier=3, icp_fit=0.0, lifecycle="competitor", value_score=4),
        account(owner_email=None, owner_slack_id=None, domains=("a.io", "a.com")),
    ],
    ids=["a default account", "a competitor with a value score", "an account without owner"],
)
def test_account_record_dict_round_trip(record: AccountRecord) -> None:
    data = record.to_dict()
    assert data["id"] == record.account_id
    assert AccountRecord.from_dict(data) == record


def test_account_record_dict_uses_the_wire_names() -> None:
    assert account(value_score=3).to_dict() == {
        "id": "acme",
        "name": "Acme BV",
        "domains": ["acme.com"],
        "tier": 1,
        "icp_fit": 80.0,
        "lifecycle": "prospect",
        "owner_email": "ae@vendor.example",
        "owner_slack_id": "U0AE",
        "value_score": 3,
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"id": "x", "name": "X", "tier": "2", "icp_fit": "60", "lifecycle": "prospect"},
            AccountRecord("x", "X", (), 2, 60.0, "prospect", None, None, None),
        ),
        (
            {
                "id": "x",
                "name": "X",
                "domains": None,
                "tier": 1,
                "icp_fit": 100,
                "lifecycle": "customer",
            },
            AccountRecord("x", "X", (), 1, 100.0, "customer", None, None, None),
        ),
    ],
    ids=["numbers in strings are converted and optional fields default", "null domains are none"],
)
def test_account_record_from_sparse_dicts(data: dict[str, Any], expected: AccountRecord) -> None:
    assert AccountRecord.from_dict(data) == expected


@pytest.mark.parametrize(
    ("record", "data"),
    [
        (
            contact_record(),
            {
                "email": "dana@acme.com",
                "account_id": "acme",
                "title": "CTO",
                "role": "decision_maker",
                "seniority": "c_level",
            },
        ),
        (
            contact_record("x@acme.com", title=None, role="other", seniority="unknown"),
            {
                "email": "x@acme.com",
                "account_id": "acme",
                "title": None,
                "role": "other",
                "seniority": "unknown",
            },
        ),
    ],
    ids=["a full contact", "a contact without title"],
)
def test_contact_record_dict_round_trip(record: ContactRecord, data: dict[str, Any]) -> None:
    assert record.to_dict() == data
    assert ContactRecord.from_dict(data) == record


@pytest.mark.parametrize(
    ("data", "role", "seniority"),
    [
        ({"email": "e@a.io", "account_id": "a"}, "other", "unknown"),
        ({"email": "e@a.io", "account_id": "a", "role": "", "seniority": None}, "other", "unknown"),
        (
            {"email": "e@a.io", "account_id": "a", "role": "champion", "seniority": "vp"},
            "champion",
            "vp",
        ),
    ],
    ids=[
        "missing role and seniority default to other and unknown",
        "empty role and seniority default too",
        "given role and seniority are kept",
    ],
)
def test_contact_record_defaults(data: dict[str, Any], role: str, seniority: str) -> None:
    record = ContactRecord.from_dict(data)
    assert (record.role, record.seniority, record.title) == (role, seniority, None)


@pytest.mark.parametrize(
    ("title", "role"),
    [
        (None, "other"),
        ("  ", "other"),
        ("Marketing Intern", "other"),
        ("Procurement Officer", "legal_procurement"),
        ("Legal Counsel", "legal_procurement"),
        ("Chief Financial Officer", "budget_holder"),
        ("Finance Director", "budget_holder"),
        ("CISO", "technical_evaluator"),
        ("VP Security & Compliance", "technical_evaluator"),
        ("Chief Executive Officer", "executive_sponsor"),
        ("Chief Operating Officer", "executive_sponsor"),
        ("Co-Founder", "executive_sponsor"),
        ("Vice President Operations", "decision_maker"),
        ("CTO", "decision_maker"),
        ("VP Engineering", "decision_maker"),
        ("Head of IT", "technical_evaluator"),
        ("IT Manager", "technical_evaluator"),
        ("Security Architect", "technical_evaluator"),
        ("Director of Operations", "decision_maker"),
        ("Operations Manager", "champion"),
        ("Team Lead Platform", "technical_evaluator"),
        ("Product Manager", "champion"),
        ("Business Analyst", "influencer"),
        ("Senior Consultant", "influencer"),
        ("Planner", "end_user"),
        ("Customer Service Agent", "end_user"),
    ],
)
def test_infer_role(title: str | None, role: str) -> None:
    assert infer_role(title) == role
