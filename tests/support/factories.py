"""Builders for test data: directory records, touchpoints, Segment messages and scoring models.

Every time is explicit epoch milliseconds derived from `T0`; nothing reads the wall clock.
Defaults are chosen so that points are easy to read: a touchpoint's contact is a `manager`
(multiplier 1.0), so a touchpoint is worth exactly the base points of its activity.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

import orjson
import yaml

from abm.core.engagement import Outcome, apply
from abm.core.model import ScoringModel, parse_model
from abm.core.opportunities import Opportunity
from abm.core.records import AccountRecord, ContactRecord
from abm.core.state import AccountState
from abm.core.touchpoint import Touchpoint

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

T0 = 1_772_442_000_000
"""2026-03-02T09:00:00Z, a Monday morning (UTC): the start of every test story."""
T0_ISO = "2026-03-02T09:00:00.000Z"


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> int:
    """An event time relative to T0, in whole epoch milliseconds."""
    return T0 + round(days * DAY + hours * HOUR + minutes * MINUTE)


# --- directory records ------------------------------------------------------------------------


def account(
    account_id: str = "acme",
    *,
    name: str = "Acme BV",
    domains: tuple[str, ...] = ("acme.com",),
    tier: int = 1,
    icp_fit: float = 80.0,
    lifecycle: str = "prospect",
    owner_email: str | None = "ae@vendor.example",
    owner_slack_id: str | None = "U0AE",
    value_score: int | None = None,
) -> AccountRecord:
    return AccountRecord(
        account_id=account_id,
        name=name,
        domains=domains,
        tier=tier,
        icp_fit=icp_fit,
        lifecycle=lifecycle,
        owner_email=owner_email,
        owner_slack_id=owner_slack_id,
        value_score=value_score,
    )


def contact_record(
    email: str = "dana@acme.com",
    *,
    account_id: str = "acme",
    title: str | None = "CTO",
    role: str = "decision_maker",
    seniority: str = "c_level",
) -> ContactRecord:
    return ContactRecord(
        email=email, account_id=account_id, title=title, role=role, seniority=seniority
    )


# --- touchpoints ------------------------------------------------------------------------------


def touchpoint(
    event: str = "Page Viewed",
    *,
    path: str | None = None,
    at_ms: int = T0,
    contact: str = "dana@acme.com",
    role: str = "decision_maker",
    seniority: str = "manager",
    known: bool = True,
    message_id: str | None = None,
    account_record: AccountRecord | None = None,
    title: str | None = None,
    premium: bool = False,
    url: str | None = None,
    resolved_by: str = "contact",
) -> Touchpoint:
    """One resolved touchpoint. The message id defaults to one derived from its content, so
    equal arguments give the same id (a duplicate); pass `message_id` to make two equal
    touchpoints distinct."""
    if message_id is None:
        message_id = f"{contact}|{event}|{path}|{at_ms}"
    if url is None and path is not None:
        url = f"https://www.vendor.example{path}"
    return Touchpoint(
        message_id=message_id,
        at_ms=at_ms,
        account=account_record or account(),
        contact=contact,
        known_person=known,
        role=role,
        seniority=seniority,
        title=title,
        event=event,
        path=path,
        url=url,
        premium=premium,
        resolved_by=resolved_by,
    )


def page(path: str, **kwargs: Any) -> Touchpoint:
    """A page view of `path` (see `touchpoint` for the other arguments)."""
    return touchpoint("Page Viewed", path=path, **kwargs)


# --- Segment messages -------------------------------------------------------------------------


def segment_message(kind: str = "track", **overrides: Any) -> dict[str, Any]:
    """A valid Segment-spec message of `kind` as a dict; `overrides` replace top-level fields
    (a value of None removes the field)."""
    message: dict[str, Any] = {
        "type": kind,
        "messageId": "msg-1",
        "timestamp": T0_ISO,
        "userId": "u-42",
        "anonymousId": "anon-42",
        "context": {"traits": {"email": "Dana@Acme.com", "title": "CTO"}},
        "properties": {},
    }
    if kind == "track":
        message["event"] = "Webinar Attended"
    elif kind == "page":
        message["properties"] = {"url": "https://www.vendor.example/pricing?plan=pro"}
    elif kind == "group":
        message["groupId"] = "acme"
        message["traits"] = {"name": "Acme BV"}
    elif kind == "identify":
        message["traits"] = {"email": "dana@acme.com", "title": "CTO"}
        message["context"] = {}
    for key, value in overrides.items():
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value
    return message


def segment_bytes(kind: str = "track", **overrides: Any) -> bytes:
    return orjson.dumps(segment_message(kind, **overrides))


DELETE: Any = object()
"""Marker for `set_path`: remove the key instead of setting it."""


def set_path(document: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of `document` with `dotted` (e.g. "context.traits.email") set to `value`;
    the special value `DELETE` removes the key. Integer parts index into lists."""
    result = copy.deepcopy(document)
    *parents, last = dotted.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(_key(node, part), {})
    if isinstance(node, list):
        node[int(last)] = value
    elif value is DELETE:
        del node[_key(node, last)]
    else:
        node[_key(node, last)] = value
    return result


def _key(mapping: dict[Any, Any], part: str) -> Any:
    """`part` as the mapping spells it: YAML keys such as tier numbers are integers."""
    return int(part) if part.isdigit() and int(part) in mapping else part


# --- scoring models ---------------------------------------------------------------------------


@cache
def _default_model_text() -> str:
    return resources.files("abm.core").joinpath("default_model.yaml").read_text("utf-8")


def model_data() -> dict[str, Any]:
    """A fresh, mutable copy of the bundled default model document."""
    data: dict[str, Any] = yaml.safe_load(_default_model_text())
    return data


@cache
def default_model() -> ScoringModel:
    return parse_model(model_data(), "default_model.yaml")


def model_with(**changes: Any) -> ScoringModel:
    """The default model with dotted keys changed, e.g. `model_with(**{"caps.x": 1})`."""
    data = model_data()
    for dotted, value in changes.items():
        data = set_path(data, dotted, value)
    return parse_model(data, "test-model")


# --- running the engagement step --------------------------------------------------------------


def replay(
    touchpoints: Iterable[Touchpoint],
    model: ScoringModel | None = None,
    state: AccountState | None = None,
    sources: Iterable[str | None] | None = None,
) -> tuple[AccountState, list[Outcome]]:
    """Apply touchpoints in order; the final state and every outcome. `sources` name the input
    record of each touchpoint (default: none)."""
    model = model or default_model()
    outcomes = []
    touchpoints = list(touchpoints)
    for tp, source in zip(touchpoints, sources or [None] * len(touchpoints), strict=True):
        outcome = apply(state, tp, model, source)
        state = outcome.state
        outcomes.append(outcome)
    assert state is not None, "replay needs at least one touchpoint"
    return state, outcomes


def mqas(outcomes: Iterable[Outcome]) -> list[dict[str, Any]]:
    """The new MQA events among outcomes, in order."""
    return [o.mqa for o in outcomes if o.new_mqa and o.mqa is not None]


# Buying-group members of the default account, one per role: `touchpoint(..., **DM)`.
DM: dict[str, Any] = {"contact": "dana@acme.com", "role": "decision_maker"}
CHAMPION: dict[str, Any] = {"contact": "chris@acme.com", "role": "champion"}
TECH: dict[str, Any] = {"contact": "tess@acme.com", "role": "technical_evaluator"}
USER: dict[str, Any] = {"contact": "uma@acme.com", "role": "end_user"}


def acts(
    who: dict[str, Any],
    *names: str,
    at_ms: int = T0,
    step_ms: int = 0,
    account_record: AccountRecord | None = None,
) -> list[Touchpoint]:
    """Touchpoints of one contact: a name starting with "/" is a page view of that path, any
    other name a track event. The n-th is at `at_ms + n * step_ms` with a message id of its own,
    so repeats are distinct touchpoints, not duplicates."""
    result = []
    for index, name in enumerate(names):
        when = at_ms + index * step_ms
        message_id = f"{who['contact']}|{name}|{when}|{index}"
        if name.startswith("/"):
            tp = page(name, at_ms=when, message_id=message_id, account_record=account_record, **who)
        else:
            tp = touchpoint(
                name, at_ms=when, message_id=message_id, account_record=account_record, **who
            )
        result.append(tp)
    return result


def lead_forms(
    who: dict[str, Any], at_ms: int = T0, account_record: AccountRecord | None = None
) -> list[Touchpoint]:
    """A lead-gen form (30) and a form submit (10): 40 points of the `form` class (90-day
    half-life, an intent class) for one contact at one moment."""
    return [
        touchpoint(
            "LinkedIn Lead Gen Form Submitted", at_ms=at_ms, account_record=account_record, **who
        ),
        touchpoint("Form Submitted", at_ms=at_ms, account_record=account_record, **who),
    ]


def qualifying_group(
    at_ms: int = T0, account_record: AccountRecord | None = None
) -> list[Touchpoint]:
    """Decision maker, champion and technical evaluator each worth 40 form points at `at_ms`.

    On a tier-1 account (threshold 70, per-contact cap 28) the account scores 28, 56, 84 after
    each contact: the fifth touchpoint (the evaluator's lead-gen form) makes it an MQA, with
    coverage 0.75.
    """
    return [tp for who in (DM, CHAMPION, TECH) for tp in lead_forms(who, at_ms, account_record)]


# --- a hot account ----------------------------------------------------------------------------

HOT_PAGES = ("/blog/post", "/product", "/integrations", "/pricing", "/security", "/careers")
HOT_EVENTS = (
    "Email Link Clicked",
    "Content Downloaded",
    "Webinar Attended",
    "Ad Clicked",
    "LinkedIn Comment Posted",
    "Form Submitted",
)
HOT_ROLES = ("decision_maker", "champion", "technical_evaluator", "influencer", "end_user")


def hot_account_touchpoints(
    count: int,
    *,
    days: int = 30,
    anonymous_share: float = 0.8,
    visitors: int = 10_000,
    people: int = 500,
    seed: int = 7,
) -> Iterable[Touchpoint]:
    """A tier-1 target account's month of heavy traffic, in time order: most of it anonymous
    page views (reverse-IP enriched visitors), the rest from known people in several roles.
    Deterministic for a seed; lazily built, so 100,000 touchpoints cost no memory."""
    import random

    rng = random.Random(seed)
    step = days * DAY / count
    for index in range(count):
        at_ms = T0 + round(index * step)
        if rng.random() < anonymous_share:
            visitor = rng.randrange(visitors)
            yield touchpoint(
                path=rng.choice(HOT_PAGES),
                at_ms=at_ms,
                contact=f"anon:{visitor:06d}",
                role="other",
                seniority="unknown",
                known=False,
                message_id=f"hot-{seed}-{index}",
                resolved_by="group_id",
            )
            continue
        person = rng.randrange(people)
        is_page = rng.random() < 0.6
        yield touchpoint(
            "Page Viewed" if is_page else rng.choice(HOT_EVENTS),
            path=rng.choice(HOT_PAGES) if is_page else None,
            at_ms=at_ms,
            contact=f"person{person:03d}@acme.com",
            role=HOT_ROLES[person % len(HOT_ROLES)],
            seniority=("c_level", "vp", "director", "manager", "individual")[person % 5],
            title=f"Title {person}",
            message_id=f"hot-{seed}-{index}",
        )


# --- CRM outcomes -----------------------------------------------------------------------------


def opportunity(
    opportunity_id: str = "opp-1",
    *,
    account_id: str = "acme",
    created_ms: int = T0,
    stage: str = "Discovery",
    amount: float | None = 10_000.0,
    closed_ms: int | None = None,
    outcome: str = "open",
) -> Opportunity:
    return Opportunity(
        opportunity_id=opportunity_id,
        account_id=account_id,
        created_ms=created_ms,
        stage=stage,
        amount=amount,
        closed_ms=closed_ms,
        outcome=outcome,
    )
