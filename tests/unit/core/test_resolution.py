"""Identity resolution: groupId, learned link, contact directory, e-mail domain; routing keys."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from abm.core.privacy import Identity, IdentityKind
from abm.core.records import AccountRecord
from abm.core.resolution import (
    FREE_MAIL,
    NO_IDENTITY,
    UNKNOWN_ACCOUNT,
    UNKNOWN_DOMAIN,
    DirectoryView,
    LearnedLinks,
    Unresolved,
    effective_email,
    learn,
    person_key,
    routing_key,
)
from abm.core.resolution import resolve as resolve_with_key
from abm.core.segment import FREE_MAIL_DOMAINS, SegmentMessage, parse_message
from abm.core.touchpoint import Touchpoint
from tests.support.factories import T0, account, contact_record, segment_bytes

ACME = account("acme", domains=("acme.com",))
BETA = account("beta", name="Beta GmbH", domains=("beta.de",), tier=2)
GAMMA = account("gamma", name="Gamma SA", domains=("gamma.fr",), tier=3)
DELTA = account("delta", name="Delta Oy", domains=("delta.fi",))
KNOWN = {a.account_id: a for a in (ACME, BETA, GAMMA, DELTA)}
KEY = b"the deployment's pseudonym key"


def resolve(
    message: SegmentMessage, view: DirectoryView, free_mail: frozenset[str] = FREE_MAIL_DOMAINS
) -> Touchpoint | Unresolved:
    return resolve_with_key(message, view, free_mail, pseudonym_key=KEY)


def named(kind: IdentityKind, value: str) -> str:
    """The pseudonym a touchpoint names this identity's person by."""
    return Identity(kind, value).pseudonym(KEY)


def message(kind: str = "track", **overrides: Any) -> SegmentMessage:
    result = parse_message(segment_bytes(kind, **overrides), 65_536)
    assert isinstance(result, SegmentMessage), result
    return result


def with_email(email: str | None, group_id: str | None = None) -> SegmentMessage:
    """A track message with `email` in context.traits and, optionally, a context.groupId."""
    context: dict[str, Any] = {"traits": {"email": email} if email else {}}
    if group_id:
        context["groupId"] = group_id
    return message(context=context)


def view(**kwargs: Any) -> DirectoryView:
    kwargs.setdefault("accounts", KNOWN)
    return DirectoryView(**kwargs)


def resolved(result: Touchpoint | Unresolved) -> Touchpoint:
    assert isinstance(result, Touchpoint), result
    return result


# --- resolution order -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group_id", "linked", "contact_account", "domain_account", "expected", "step"),
    [
        ("acme", "beta", "gamma", "delta", "acme", "group_id"),
        (None, "beta", "gamma", "delta", "beta", "user_link"),
        (None, None, "gamma", "delta", "gamma", "contact"),
        (None, None, None, "delta", "delta", "domain"),
        ("ghost", "beta", "gamma", "delta", "beta", "user_link"),
        ("ghost", "ghost", "gamma", "delta", "gamma", "contact"),
        ("ghost", "ghost", "ghost", "delta", "delta", "domain"),
    ],
    ids=[
        "context.groupId wins over everything",
        "a learned link wins over the contact and the domain",
        "the contact directory wins over the domain",
        "the e-mail domain is the last resort",
        "an unknown groupId falls through to the learned link",
        "an unknown learned account falls through to the contact",
        "an unknown contact account falls through to the domain",
    ],
)
def test_resolution_order(
    group_id: str | None,
    linked: str | None,
    contact_account: str | None,
    domain_account: str | None,
    expected: str,
    step: str,
) -> None:
    msg = with_email("dana@delta.fi", group_id)
    contact = (
        contact_record("dana@delta.fi", account_id=contact_account) if contact_account else None
    )
    tp = resolved(
        resolve(
            msg,
            view(linked_account=linked, contact=contact, domain_account=domain_account),
        )
    )
    assert (tp.account.account_id, tp.resolved_by) == (expected, step)
    assert tp.account == KNOWN[expected]


@pytest.mark.parametrize(
    ("email", "domain_account", "expected"),
    [
        (
            "dana@gmail.com",
            "acme",
            Unresolved(FREE_MAIL, "gmail.com is a free-mail domain and names no account"),
        ),
        (
            "dana@hotmail.co.uk",
            None,
            Unresolved(FREE_MAIL, "hotmail.co.uk is a free-mail domain and names no account"),
        ),
        (
            "dana@unknown.io",
            None,
            Unresolved(UNKNOWN_DOMAIN, "no account owns the domain unknown.io"),
        ),
        (None, None, Unresolved(NO_IDENTITY, "no account id, no learned link and no e-mail")),
        (
            "dana@acme.com",
            "ghost",
            Unresolved(UNKNOWN_ACCOUNT, "not in the account directory: domain -> ghost"),
        ),
    ],
    ids=[
        "free mail never resolves by domain, even when the directory has an owner",
        "a country free-mail domain is free mail too",
        "a company domain nobody owns is an unknown domain",
        "no e-mail and no ids is no identity",
        "a domain owned by an unknown account is an unknown account",
    ],
)
def test_unresolved_reasons(
    email: str | None, domain_account: str | None, expected: Unresolved
) -> None:
    assert resolve(with_email(email), view(domain_account=domain_account)) == expected


def test_every_unknown_account_is_listed_in_the_detail() -> None:
    msg = with_email("dana@acme.com", "g1")
    result = resolve(
        msg,
        view(
            linked_account="l1",
            contact=contact_record("dana@acme.com", account_id="c1"),
            domain_account="d1",
        ),
    )
    assert result == Unresolved(
        UNKNOWN_ACCOUNT,
        "not in the account directory: "
        "group_id -> g1, user_link -> l1, contact -> c1, domain -> d1",
    )


def test_free_mail_still_resolves_through_the_contact_directory() -> None:
    contact = contact_record("dana@gmail.com", account_id="acme", role="champion")
    tp = resolved(resolve(with_email("dana@gmail.com"), view(contact=contact)))
    assert (tp.account.account_id, tp.resolved_by, tp.role) == ("acme", "contact", "champion")


def test_a_custom_free_mail_list_is_respected() -> None:
    msg = with_email("dana@acme.com")
    result = resolve(msg, view(domain_account="acme"), free_mail=frozenset({"acme.com"}))
    assert isinstance(result, Unresolved) and result.reason == FREE_MAIL


def test_the_default_free_mail_list_covers_the_big_providers() -> None:
    assert {"gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me"} <= FREE_MAIL_DOMAINS
    assert "acme.com" not in FREE_MAIL_DOMAINS


# --- the touchpoint built ---------------------------------------------------------------------


def test_a_resolved_touchpoint_carries_the_message_and_the_account_snapshot() -> None:
    msg = message("page", properties={"url": "https://www.vendor.example/pricing", "premium": True})
    contact = contact_record("dana@acme.com", role="champion", seniority="vp", title="VP IT")
    tp = resolved(resolve(msg, view(contact=contact)))
    assert tp == Touchpoint(
        message_id="msg-1",
        at_ms=T0,
        account=ACME,
        contact=named("email", "dana@acme.com"),
        known_person=True,
        role="champion",
        seniority="vp",
        title="VP IT",
        event="Page Viewed",
        path="/pricing",
        url="https://www.vendor.example/pricing",
        premium=True,
        resolved_by="contact",
    )


@pytest.mark.parametrize(
    ("contact", "message_title", "role", "seniority", "title"),
    [
        (
            contact_record(role="champion", seniority="director", title="Head of IT"),
            "CTO",
            "champion",
            "director",
            "Head of IT",
        ),
        (
            contact_record(role="champion", seniority="unknown", title="Head of IT"),
            "CTO",
            "champion",
            "director",
            "Head of IT",
        ),
        (
            contact_record(role="champion", seniority="unknown", title=None),
            "VP Sales",
            "champion",
            "vp",
            "VP Sales",
        ),
        (None, "Chief Executive Officer", "executive_sponsor", "c_level",
         "Chief Executive Officer"),
        (None, None, "other", "unknown", None),
        (
            contact_record(account_id="beta", role="champion", seniority="vp"),
            "Engineer",
            "technical_evaluator",
            "individual",
            "Engineer",
        ),
    ],
    ids=[
        "the directory's role and seniority win",
        "an unknown directory seniority is inferred from the directory title",
        "an unknown directory seniority without title is inferred from the message title",
        "without a contact the title tells the role and the seniority",
        "without contact or title the seniority is unknown",
        "a contact of another account lends neither role nor seniority",
    ],
)  # fmt: skip
def test_role_and_seniority(
    contact: Any, message_title: str | None, role: str, seniority: str, title: str | None
) -> None:
    traits: dict[str, Any] = {"email": "dana@acme.com"}
    if message_title:
        traits["title"] = message_title
    msg = message(context={"groupId": "acme", "traits": traits})
    tp = resolved(resolve(msg, view(contact=contact)))
    assert (tp.role, tp.seniority, tp.title) == (role, seniority, title)


@pytest.mark.parametrize(
    ("changes", "linked_email", "contact_key", "known"),
    [
        ({}, None, named("email", "dana@acme.com"), True),
        ({"context": {"groupId": "acme"}}, "lee@acme.com", named("email", "lee@acme.com"), True),
        ({"context": {"groupId": "acme"}}, None, named("user_id", "u-42"), True),
        (
            {"context": {"groupId": "acme"}, "userId": None},
            None,
            named("anonymous_id", "anon-42"),
            False,
        ),
        (
            {"context": {"groupId": "acme"}, "userId": None},
            "lee@acme.com",
            named("email", "lee@acme.com"),
            True,
        ),
    ],
    ids=[
        "the message e-mail is the contact key",
        "an e-mail learned from identify is the contact key",
        "without e-mail the user id is the key of a known person",
        "an anonymous visitor is keyed by anonymous id and is not a known person",
        "an anonymous visitor with a learned e-mail is a known person",
    ],
)
def test_contact_key_and_known_person(
    changes: dict[str, Any], linked_email: str | None, contact_key: str, known: bool
) -> None:
    tp = resolved(
        resolve(message(**changes), view(linked_email=linked_email, domain_account="acme"))
    )
    assert (tp.contact, tp.known_person) == (contact_key, known)


def test_a_learned_email_resolves_by_its_domain() -> None:
    msg = message(context={}, userId="u-9")
    tp = resolved(resolve(msg, view(linked_email="kim@beta.de", domain_account="beta")))
    assert (tp.account.account_id, tp.resolved_by) == ("beta", "domain")
    assert tp.contact == named("email", "kim@beta.de")


def test_the_touchpoint_names_its_person_by_pseudonym_only() -> None:
    msg = message(context={"groupId": "acme"}, traits={"email": "Dana@Acme.com", "name": "Dana"})
    tp = resolved(resolve(msg, view()))
    assert tp.contact == named("email", "dana@acme.com")  # normalized first
    text = tp.to_json().decode().lower()
    for identity in ("dana@acme.com", "u-42", "anon-42", '"dana"'):
        assert identity not in text
    other = resolve_with_key(msg, view(), pseudonym_key=b"another key")
    assert resolved(other).contact != tp.contact


@pytest.mark.parametrize(
    ("message_email", "linked_email", "expected"),
    [
        ("dana@acme.com", "lee@acme.com", "dana@acme.com"),
        (None, "lee@acme.com", "lee@acme.com"),
        (None, None, None),
    ],
    ids=["the message's own e-mail wins", "else the learned e-mail", "else none"],
)
def test_effective_email(
    message_email: str | None, linked_email: str | None, expected: str | None
) -> None:
    assert effective_email(with_email(message_email), view(linked_email=linked_email)) == expected


# --- learning and routing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_id", "anonymous_id", "expected"),
    [("u", "a", "user:u"), (None, "a", "anon:a"), ("", "a", "anon:a"), (None, None, None)],
    ids=["the user id first", "else the anonymous id", "an empty user id is none", "else none"],
)
def test_person_key(user_id: str | None, anonymous_id: str | None, expected: str | None) -> None:
    assert person_key(user_id, anonymous_id) == expected


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        (message("group"), LearnedLinks("user:u-42", account_id="acme", email="dana@acme.com")),
        (
            message("identify", context={}),
            LearnedLinks("user:u-42", email="dana@acme.com", title="CTO"),
        ),
        (
            message("identify", context={}, userId=None, traits={"title": "Head of IT"}),
            LearnedLinks("anon:anon-42", title="Head of IT"),
        ),
        (message("identify", context={}, traits={"plan": "pro"}), None),
        (message("track"), None),
        (message("page"), None),
    ],
    ids=[
        "a group call links the person to the account",
        "an identify call teaches the e-mail and title",
        "an anonymous identify call teaches the title",
        "an identify call without e-mail or title teaches nothing",
        "a track call teaches nothing",
        "a page call teaches nothing",
    ],
)
def test_learn(msg: SegmentMessage, expected: LearnedLinks | None) -> None:
    assert learn(msg) == expected


@pytest.mark.parametrize(
    ("kind", "changes", "account_id", "expected"),
    [
        ("page", {"context": {"traits": {"email": "dana@beta.de"}}}, "beta", "account:beta"),
        ("group", {}, None, "account:acme"),
        ("page", {"context": {"groupId": "acme"}}, None, "user:u-42"),
        ("page", {"context": {"traits": {"email": "dana@gmail.com"}}}, None, "user:u-42"),
        ("page", {"context": {}, "userId": None}, None, "anon:anon-42"),
    ],
    ids=[
        "a message the producer attributed routes by that account",
        "a group call routes by the account it names",
        "an unattributed message routes by person, whatever it names",
        "a free-mail reader routes by person",
        "an anonymous visitor routes by anonymous id",
    ],
)
def test_routing_key(
    kind: str, changes: dict[str, Any], account_id: str | None, expected: str
) -> None:
    assert routing_key(message(kind, **changes), account_id) == expected


def test_a_group_call_routes_by_its_group_id() -> None:
    assert routing_key(message("group", groupId="beta")) == "account:beta"


def test_the_same_account_routes_alike_whoever_sends() -> None:
    directory = view(accounts=dict(KNOWN), domain_account="acme")
    keys = set()
    for name in ("ann", "bob", "cy"):
        msg = message(context={"traits": {"email": f"{name}@acme.com"}}, userId=name)
        result = resolve(msg, directory)
        assert isinstance(result, Touchpoint)
        keys.add(routing_key(msg, result.account.account_id))
    assert keys == {"account:acme"}


def test_resolution_never_mutates_its_inputs() -> None:
    accounts: dict[str, AccountRecord] = dict(KNOWN)
    directory = view(accounts=accounts, domain_account="acme")
    before = (dict(accounts), directory)
    resolve(with_email("dana@acme.com"), directory)
    assert (dict(accounts), directory) == before


@pytest.mark.parametrize(
    ("linked_title", "message_title", "role", "seniority", "title"),
    [
        ("Head of Security", None, "technical_evaluator", "director", "Head of Security"),
        ("Head of Security", "Planner", "end_user", "individual", "Planner"),
    ],
    ids=[
        "a title learned from an identify call tells role and seniority",
        "the message's own title wins over the learned one",
    ],
)
def test_learned_title_of_a_person_outside_the_directory(
    linked_title: str, message_title: str | None, role: str, seniority: str, title: str
) -> None:
    traits: dict[str, Any] = {"email": "sam@acme.com"}
    if message_title:
        traits["title"] = message_title
    msg = message(context={"groupId": "acme", "traits": traits})
    tp = resolved(resolve(msg, replace(view(), linked_title=linked_title)))
    assert (tp.role, tp.seniority, tp.title) == (role, seniority, title)


def test_a_learned_title_never_overrides_the_directory_role() -> None:
    msg = message(context={"groupId": "acme", "traits": {"email": "dana@acme.com"}})
    contact = contact_record(role="champion", seniority="manager", title=None)
    tp = resolved(resolve(msg, replace(view(contact=contact), linked_title="CFO")))
    assert (tp.role, tp.seniority) == ("champion", "manager")
