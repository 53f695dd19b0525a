"""Directory records: what we know about target accounts and their contacts.

They come from `abm directory load` (CSV) and from identify/group calls; the resolution step
copies the account's record into every touchpoint, so the engagement state never needs a lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from abm.core.model import BUYING_ROLES, SENIORITIES


@dataclass(frozen=True, slots=True)
class AccountRecord:
    account_id: str
    name: str
    domains: tuple[str, ...]
    tier: int
    """1 = one-to-one, 2 = one-to-few, 3 = one-to-many."""
    icp_fit: float
    """0-100; a 1-5 fit score maps x20."""
    lifecycle: str
    owner_email: str | None
    owner_slack_id: str | None
    value_score: int | None = None
    """Customer value score 0-4, when known."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "name": self.name,
            "domains": list(self.domains),
            "tier": self.tier,
            "icp_fit": self.icp_fit,
            "lifecycle": self.lifecycle,
            "owner_email": self.owner_email,
            "owner_slack_id": self.owner_slack_id,
            "value_score": self.value_score,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountRecord:
        return cls(
            account_id=data["id"],
            name=data["name"],
            domains=tuple(data.get("domains") or ()),
            tier=int(data["tier"]),
            icp_fit=float(data["icp_fit"]),
            lifecycle=data["lifecycle"],
            owner_email=data.get("owner_email"),
            owner_slack_id=data.get("owner_slack_id"),
            value_score=data.get("value_score"),
        )


@dataclass(frozen=True, slots=True)
class ContactRecord:
    email: str
    account_id: str
    title: str | None
    role: str
    seniority: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "account_id": self.account_id,
            "title": self.title,
            "role": self.role,
            "seniority": self.seniority,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContactRecord:
        return cls(
            email=data["email"],
            account_id=data["account_id"],
            title=data.get("title"),
            role=data.get("role") or "other",
            seniority=data.get("seniority") or "unknown",
        )


# Title -> seniority, first match wins. Order matters: "Vice President" before "President".
_SENIORITY_RULES: Final = (
    ("student", re.compile(r"\b(student|intern|trainee)\b", re.I)),
    ("vp", re.compile(r"\b(vp|svp|evp|vice[ -]president)\b", re.I)),
    (
        "c_level",
        re.compile(
            r"\b(c[a-z]o|ciso|chief|founder|co-founder|(?<!product )owner|president|"
            r"managing director|general manager)\b",
            re.I,
        ),
    ),
    ("director", re.compile(r"\b(director|head of|head)\b", re.I)),
    ("manager", re.compile(r"\b(manager|lead|principal|supervisor)\b", re.I)),
)


def infer_seniority(title: str | None) -> str:
    """Best-effort seniority from a job title; `unknown` when there is no title."""
    if not title or not title.strip():
        return "unknown"
    for seniority, pattern in _SENIORITY_RULES:
        if pattern.search(title):
            return seniority
    return "individual"


assert {s for s, _ in _SENIORITY_RULES} <= set(SENIORITIES)


# Title -> buying role, for people the contact directory does not list (a role loaded from the
# directory always wins). Checked in this order; see `infer_role`.
_LEGAL = re.compile(
    r"\b(procurement|purchasing|sourcing|legal|counsel|contracts?|paralegal)\b", re.I
)
_FINANCE = re.compile(r"\b(cfo|chief financial|finance|financial|controller|treasurer)\b", re.I)
_SECURITY = re.compile(r"\b(ciso|security|compliance|privacy|risk)\b", re.I)
_EXECUTIVE = re.compile(
    r"\b(ceo|coo|chief executive|chief operating|(?<!vice )president|founder|co-founder|"
    r"managing director|general manager)\b",
    re.I,
)
_TECHNICAL = re.compile(
    r"\b(it|ict|cio|engineer|engineering|architect|devops|infrastructure|sysadmin|"
    r"administrator|developer|platform)\b",
    re.I,
)
_INFLUENCER = re.compile(r"\b(analyst|consultant|advisor|adviser|researcher|strategist)\b", re.I)


def infer_role(title: str | None) -> str:
    """Best-effort buying role from a job title (`other` without one).

    Legal and procurement, then finance (budget holder), then security and compliance
    (technical evaluator, at any seniority), then the chief executive / operating officer,
    president or founder (executive sponsor), then by seniority: C-level and VP decide, a
    technical director or manager evaluates, another director decides, a manager champions;
    analysts and consultants influence, other individual contributors use the product.
    """
    if not title or not title.strip():
        return "other"
    seniority = infer_seniority(title)
    if seniority == "student":
        return "other"
    if _LEGAL.search(title):
        return "legal_procurement"
    if _FINANCE.search(title):
        return "budget_holder"
    if _SECURITY.search(title):
        return "technical_evaluator"
    if _EXECUTIVE.search(title):
        return "executive_sponsor"
    if seniority in ("c_level", "vp"):
        return "decision_maker"
    if _TECHNICAL.search(title):
        return "technical_evaluator"
    if seniority == "director":
        return "decision_maker"
    if seniority == "manager":
        return "champion"
    if _INFLUENCER.search(title):
        return "influencer"
    return "end_user"


_INFERRED_ROLES: Final = (
    "legal_procurement",
    "budget_holder",
    "technical_evaluator",
    "executive_sponsor",
    "decision_maker",
    "champion",
    "influencer",
    "end_user",
    "other",
)
assert set(_INFERRED_ROLES) <= set(BUYING_ROLES)
