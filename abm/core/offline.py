"""The whole engine in memory, on the same core functions as the stream agents.

It is the reference the Kafka pipeline is checked against (same input -> same MQA events), and a
quick way to see what a data set would do without starting anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from abm.core.engagement import apply
from abm.core.model import ScoringModel
from abm.core.privacy import DEFAULT_PSEUDONYM_KEY
from abm.core.records import AccountRecord, ContactRecord
from abm.core.resolution import (
    DirectoryView,
    LearnedLinks,
    Unresolved,
    effective_email,
    learn,
    person_key,
    resolve,
)
from abm.core.segment import (
    TOUCHPOINT_TYPES,
    Ignored,
    Invalid,
    SegmentMessage,
    email_domain,
    parse_message,
)
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint


@dataclass
class InMemoryDirectory:
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    contacts: dict[str, ContactRecord] = field(default_factory=dict)
    persons: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, accounts: Iterable[AccountRecord], contacts: Iterable[ContactRecord] = ()
    ) -> InMemoryDirectory:
        directory = cls()
        for account in accounts:
            directory.accounts[account.account_id] = account
            for domain in account.domains:
                directory.domains[domain] = account.account_id
        for contact in contacts:
            directory.contacts[contact.email] = contact
        return directory

    def view_for(self, message: SegmentMessage) -> DirectoryView:
        person = person_key(message.user_id, message.anonymous_id)
        link = self.persons.get(person, {}) if person else {}
        partial = DirectoryView(
            linked_account=link.get("account_id"), linked_email=link.get("email")
        )
        email = effective_email(message, partial)
        contact = self.contacts.get(email) if email else None
        domain_account = self.domains.get(email_domain(email)) if email else None
        candidates = {
            message.group_id,
            partial.linked_account,
            contact.account_id if contact else None,
            domain_account,
        }
        return DirectoryView(
            linked_account=partial.linked_account,
            linked_email=partial.linked_email,
            linked_title=link.get("title"),
            contact=contact,
            domain_account=domain_account,
            accounts={c: self.accounts[c] for c in candidates if c and c in self.accounts},
        )

    def learn(self, links: LearnedLinks) -> None:
        entry = self.persons.setdefault(links.person, {})
        if links.account_id:
            entry["account_id"] = links.account_id
        if links.email:
            entry["email"] = links.email
        if links.title:
            entry["title"] = links.title


@dataclass
class OfflineResult:
    mqas: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, AccountState] = field(default_factory=dict)
    dead_letters: Counter[str] = field(default_factory=Counter)
    unresolved: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    learned: int = 0
    touchpoints: int = 0
    resolved: list[Touchpoint] = field(default_factory=list)
    """Every resolved touchpoint in order, when asked for (`keep_touchpoints`)."""


def run_offline(
    raw_messages: Iterable[bytes],
    directory: InMemoryDirectory,
    model: ScoringModel,
    max_event_bytes: int = 32 * 1024,
    keep_touchpoints: bool = False,
    pseudonym_key: bytes = DEFAULT_PSEUDONYM_KEY,
) -> OfflineResult:
    """Resolve and apply, as the worker does with the same directory, model and pseudonym key
    (`ABM_PSEUDONYM_KEY`; the default is its development default)."""
    result = OfflineResult()
    for touchpoint in _resolved(raw_messages, directory, result, max_event_bytes, pseudonym_key):
        if keep_touchpoints:
            result.resolved.append(touchpoint)
        account_id = touchpoint.account.account_id
        outcome = apply(result.states.get(account_id), touchpoint, model)
        result.states[account_id] = outcome.state
        if outcome.new_mqa and outcome.mqa is not None:
            result.mqas.append(outcome.mqa)
    return result


def resolve_offline(
    raw_messages: Iterable[bytes],
    directory: InMemoryDirectory,
    max_event_bytes: int = 32 * 1024,
    limit: int | None = None,
    pseudonym_key: bytes = DEFAULT_PSEUDONYM_KEY,
) -> OfflineResult:
    """Only the resolution step of `run_offline`: every resolved touchpoint in order (in
    `resolved`) and what did not resolve, counted; no model is applied (a backtest applies two
    models to the same touchpoints). With a `limit`, reading stops at the touchpoint after the
    limit (so `len(resolved) > limit` says there were more)."""
    result = OfflineResult()
    for touchpoint in _resolved(raw_messages, directory, result, max_event_bytes, pseudonym_key):
        result.resolved.append(touchpoint)
        if limit is not None and len(result.resolved) > limit:
            break
    return result


def _resolved(
    raw_messages: Iterable[bytes],
    directory: InMemoryDirectory,
    result: OfflineResult,
    max_event_bytes: int,
    pseudonym_key: bytes,
) -> Iterator[Touchpoint]:
    """The resolved touchpoints of the messages, in order; the rest is counted in `result`."""
    for raw in raw_messages:
        parsed = parse_message(raw, max_event_bytes)
        if isinstance(parsed, Invalid):
            result.dead_letters[parsed.reason] += 1
            continue
        if isinstance(parsed, Ignored):
            result.ignored += 1
            continue
        if parsed.type not in TOUCHPOINT_TYPES:
            links = learn(parsed)
            if links is not None:
                directory.learn(links)
                result.learned += 1
            continue
        touchpoint = resolve(parsed, directory.view_for(parsed), pseudonym_key=pseudonym_key)
        if isinstance(touchpoint, Unresolved):
            result.unresolved[touchpoint.reason] += 1
            continue
        result.touchpoints += 1
        yield touchpoint
