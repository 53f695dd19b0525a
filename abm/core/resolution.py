"""Identity resolution: which account did a touchpoint come from?

Order (docs/events.md, "Identity resolution"): the explicit account id on the event
(context.groupId); the person -> account link learned from group calls; the contact directory
(email -> account); the email's domain.
The touchpoint names its person by a keyed pseudonym (`abm.core.privacy`), never by the e-mail
or the tracker ids: the resolved topic and everything built from it hold no identity.
Free-mail domains never resolve by domain. A step that names an account we do not know falls
through to the next one. The caller fetches a `DirectoryView` for the message (the only I/O);
everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from abm.core.privacy import Identity, contact_identity
from abm.core.records import AccountRecord, ContactRecord, infer_role, infer_seniority
from abm.core.segment import FREE_MAIL_DOMAINS, SegmentMessage, email_domain
from abm.core.touchpoint import Touchpoint

# Unresolved reasons: the complete set, each a metric label value.
NO_IDENTITY: Final = "no_identity"
FREE_MAIL: Final = "free_mail"
UNKNOWN_DOMAIN: Final = "unknown_domain"
UNKNOWN_ACCOUNT: Final = "unknown_account"
UNRESOLVED_REASONS: Final = (NO_IDENTITY, FREE_MAIL, UNKNOWN_DOMAIN, UNKNOWN_ACCOUNT)


def person_key(user_id: str | None, anonymous_id: str | None) -> str | None:
    """The directory key of a tracked person, for links learned from group/identify calls."""
    if user_id:
        return f"user:{user_id}"
    if anonymous_id:
        return f"anon:{anonymous_id}"
    return None


@dataclass(frozen=True, slots=True)
class DirectoryView:
    """What the directory says about one message; fetched by the caller."""

    linked_account: str | None = None
    """Account learned for this person from a group call."""
    linked_email: str | None = None
    """E-mail learned for this person from an identify call."""
    linked_title: str | None = None
    """Job title learned for this person from an identify call."""
    contact: ContactRecord | None = None
    """The contact directory entry of the message's (or linked) e-mail."""
    domain_account: str | None = None
    """The account owning the e-mail's domain."""
    accounts: Mapping[str, AccountRecord] = field(default_factory=dict)
    """Records of every candidate account id above (missing = unknown account)."""


@dataclass(frozen=True, slots=True)
class Unresolved:
    reason: str
    detail: str


def effective_email(message: SegmentMessage, view: DirectoryView) -> str | None:
    return message.email or view.linked_email


def person_of(message: SegmentMessage, view: DirectoryView) -> Identity:
    """The identity a touchpoint of `message` names its person by (its pseudonym is the
    touchpoint's contact): the e-mail (the message's or the linked one), else the userId, else
    the anonymousId."""
    identity = contact_identity(
        effective_email(message, view), message.user_id, message.anonymous_id
    )
    assert identity is not None  # parse_message guarantees a userId or an anonymousId
    return identity


def resolve(
    message: SegmentMessage,
    view: DirectoryView,
    free_mail: frozenset[str] = FREE_MAIL_DOMAINS,
    *,
    pseudonym_key: bytes,
) -> Touchpoint | Unresolved:
    """Resolve a track/page message to a touchpoint, or say why it cannot be. The person is
    named by their pseudonym under `pseudonym_key` (the deployment's `ABM_PSEUDONYM_KEY`)."""
    found = account_of(message, view, free_mail)
    if isinstance(found, Unresolved):
        return found
    account, step = found
    return _touchpoint(message, view, account, effective_email(message, view), step, pseudonym_key)


def account_of(
    message: SegmentMessage,
    view: DirectoryView,
    free_mail: frozenset[str] = FREE_MAIL_DOMAINS,
) -> tuple[AccountRecord, str] | Unresolved:
    """The account a message resolves to and the step that found it (what the collector keys
    a raw record by), or why there is none."""
    email = effective_email(message, view)
    domain = email_domain(email) if email else None
    steps: list[tuple[str, str | None]] = [
        ("group_id", message.group_id),
        ("user_link", view.linked_account),
        ("contact", view.contact.account_id if view.contact else None),
        ("domain", view.domain_account if domain and domain not in free_mail else None),
    ]
    unknown: list[str] = []
    for step, account_id in steps:
        if not account_id:
            continue
        account = view.accounts.get(account_id)
        if account is None:
            unknown.append(f"{step} -> {account_id}")
            continue
        return account, step
    if unknown:
        return Unresolved(UNKNOWN_ACCOUNT, "not in the account directory: " + ", ".join(unknown))
    if domain and domain in free_mail:
        return Unresolved(FREE_MAIL, f"{domain} is a free-mail domain and names no account")
    if domain:
        return Unresolved(UNKNOWN_DOMAIN, f"no account owns the domain {domain}")
    return Unresolved(NO_IDENTITY, "no account id, no learned link and no e-mail")


def _touchpoint(
    message: SegmentMessage,
    view: DirectoryView,
    account: AccountRecord,
    email: str | None,
    resolved_by: str,
    pseudonym_key: bytes,
) -> Touchpoint:
    contact = (
        view.contact if view.contact and view.contact.account_id == account.account_id else None
    )
    title = (contact.title if contact else None) or message.title or view.linked_title
    if contact is not None:
        role, seniority = contact.role, contact.seniority
        if seniority == "unknown":
            seniority = infer_seniority(title)
    else:  # not in the contact directory: the title (message, or learned) tells what it can
        role, seniority = infer_role(title), infer_seniority(title)
    return Touchpoint(
        message_id=message.message_id,
        at_ms=message.timestamp_ms,
        account=account,
        contact=person_of(message, view).pseudonym(pseudonym_key),
        known_person=email is not None or message.user_id is not None,
        role=role,
        seniority=seniority,
        title=title,
        event=message.event or "",
        path=message.path,
        url=message.url,
        premium=message.premium,
        resolved_by=resolved_by,
    )


@dataclass(frozen=True, slots=True)
class LearnedLinks:
    """What an identify or group call teaches the directory about one person."""

    person: str
    account_id: str | None = None
    email: str | None = None
    title: str | None = None


def learn(message: SegmentMessage) -> LearnedLinks | None:
    """Links to remember from an identify/group call (None for calls that teach nothing)."""
    person = person_key(message.user_id, message.anonymous_id)
    if person is None:
        return None
    if message.type == "group" and message.group_id:
        return LearnedLinks(person=person, account_id=message.group_id, email=message.email)
    if message.type == "identify" and (message.email or message.title):
        return LearnedLinks(person=person, email=message.email, title=message.title)
    return None


def routing_key(message: SegmentMessage, account_id: str | None = None) -> str:
    """Kafka key of a raw record. Producers that can already attribute the message to an
    account (same `resolve`, same directory) key it by that account, so one account's
    touchpoints share a partition in the order they were produced, and every MQA is the same
    whatever the partition count. Otherwise: the account the message names (groupId), else the
    person, else the message."""
    if account_id:
        return f"account:{account_id}"
    if message.type == "group" and message.group_id:
        return f"account:{message.group_id}"
    return person_key(message.user_id, message.anonymous_id) or f"message:{message.message_id}"
