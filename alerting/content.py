"""One content model of an alert, several renderers (console, Slack blocks, e-mail text/HTML).

An `MqaAlert` is built once per MQA from the event, the follow-up due time the SLA tracker fixed
and the links; every channel renders that same object, so the AE reads the same numbers in
Slack, in the e-mail and on the console. An `Escalation` is the message to the manager when an
MQA was not followed up in time. Pure: no I/O, times passed in (epoch ms).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from abm.core.timefmt import iso_ms

RULE_LABELS = {"threshold": "threshold rule", "act_now": "act now"}


def rule_label(rule: str) -> str:
    return RULE_LABELS.get(rule, rule)


def sla_text(seconds: int) -> str:
    """A follow-up window for people: `4 h`, `30 min`, `1 h 30 min`."""
    hours, minutes = divmod(seconds // 60, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def when_text(iso: str | None) -> str:
    """`2026-03-02T09:00:00.000Z` -> `2026-03-02 09:00 UTC`."""
    if not iso:
        return "-"
    return iso.replace("T", " ")[:16] + " UTC"


def account_url(base_url: str, account_id: str) -> str:
    """The account page of the worker's web server (the 'view account' button)."""
    return f"{base_url.rstrip('/')}/accounts/{quote(account_id, safe='')}"


_REQUIRED: tuple[tuple[str, ...], ...] = (
    ("mqa_id",), ("rule",), ("qualified_at",), ("qualified_at_ms",), ("score",), ("threshold",),
    ("account", "id"), ("account", "tier"), ("follow_up", "due_at_ms"),
    ("follow_up", "sla_seconds"),
)  # fmt: skip


def event_problem(event: Any) -> str | None:
    """Why an MQA record cannot be alerted (the field), or None when it can."""
    if not isinstance(event, dict):
        return "not a JSON object"
    for path in _REQUIRED:
        node: Any = event
        for part in path:
            if not isinstance(node, dict) or node.get(part) is None:
                return f"{'.'.join(path)}: missing"
            node = node[part]
    for path in (("qualified_at_ms",), ("follow_up", "due_at_ms"), ("follow_up", "sla_seconds")):
        value = event[path[0]] if len(path) == 1 else event[path[0]][path[1]]
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{'.'.join(path)}: not an integer"
    return None


@dataclass(frozen=True)
class Owner:
    email: str | None
    slack_id: str | None

    @property
    def known(self) -> bool:
        return bool(self.email or self.slack_id)


@dataclass(frozen=True)
class ContactLine:
    contact: str
    role: str
    seniority: str
    title: str | None
    points: float
    last_touch: str | None
    active: bool


@dataclass(frozen=True)
class TouchLine:
    at: str
    label: str
    contact: str
    role: str
    points_now: float


@dataclass(frozen=True)
class MqaAlert:
    """Everything an MQA alert shows; `event` is the MQA event with the owner and the follow-up
    due time this alert uses (the plain-text renderer reads it)."""

    mqa_id: str
    account_id: str
    account_name: str
    tier: int
    rule: str
    qualified_at: str
    score: float
    threshold: float
    icp_fit: float
    coverage: float
    requirements_met: int
    requirements: int
    active_stakeholders: int
    surge_ratio: float
    surging: bool
    contacts: tuple[ContactLine, ...]
    touches: tuple[TouchLine, ...]
    owner: Owner
    due_at_ms: int
    sla_seconds: int
    summary: str
    episode: int
    model_version: str
    account_url: str
    ack_url: str | None
    event: dict[str, Any]
    verdict_urls: tuple[tuple[str, str], ...] = ()
    """(label, signed link) of each AE verdict, for the e-mail (`alerting.signing`)."""

    @property
    def rule_label(self) -> str:
        return rule_label(self.rule)

    @property
    def due_at(self) -> str:
        return iso_ms(self.due_at_ms)

    @property
    def surge_text(self) -> str:
        return f"x{self.surge_ratio:g}" + (" (surging)" if self.surging else "")


def build_alert(
    event: dict[str, Any],
    *,
    owner: Owner,
    due_at_ms: int,
    account_link: str,
    ack_url: str | None = None,
    verdict_urls: tuple[tuple[str, str], ...] = (),
) -> MqaAlert:
    """The alert of an MQA event. `owner` is who it is routed to (the directory may know a newer
    owner than the event) and `due_at_ms` the follow-up due time the SLA tracker fixed."""
    account = event["account"]
    requirements = event.get("coverage_by_requirement") or []
    follow = event["follow_up"]
    shown = copy.deepcopy(event)
    shown["owner"] = {"email": owner.email, "slack_id": owner.slack_id}
    shown["follow_up"] = {**follow, "due_at": iso_ms(due_at_ms), "due_at_ms": due_at_ms}
    surge = event.get("surge") or {}
    return MqaAlert(
        mqa_id=event["mqa_id"],
        account_id=account["id"],
        account_name=account.get("name") or account["id"],
        tier=int(account["tier"]),
        rule=event["rule"],
        qualified_at=event["qualified_at"],
        score=float(event["score"]),
        threshold=float(event["threshold"]),
        icp_fit=float(account.get("icp_fit") or 0.0),
        coverage=float(event.get("coverage") or 0.0),
        requirements_met=sum(1 for r in requirements if r["active"] >= r["required"]),
        requirements=len(requirements),
        active_stakeholders=int(event.get("active_stakeholders") or 0),
        surge_ratio=float(surge.get("ratio") or 0.0),
        surging=bool(surge.get("surging")),
        contacts=tuple(
            ContactLine(
                contact=c["contact"],
                role=c["role"],
                seniority=c.get("seniority") or "unknown",
                title=c.get("title"),
                points=float(c.get("points") or 0.0),
                last_touch=c.get("last_touch"),
                active=bool(c.get("active", True)),
            )
            for c in event.get("top_contacts") or []
        ),
        touches=tuple(
            TouchLine(
                at=t["at"],
                label=t.get("label") or t.get("activity") or "-",
                contact=t.get("contact") or "-",
                role=t.get("role") or "-",
                points_now=float(t.get("points_now") or 0.0),
            )
            for t in event.get("top_touchpoints") or []
        ),
        owner=owner,
        due_at_ms=due_at_ms,
        sla_seconds=int(follow["sla_seconds"]),
        summary=event.get("summary") or "",
        episode=int(event.get("episode") or 1),
        model_version=str(event.get("model_version") or "-"),
        account_url=account_link,
        ack_url=ack_url,
        event=shown,
        verdict_urls=verdict_urls,
    )


@dataclass(frozen=True)
class Escalation:
    """A follow-up SLA breach: the MQA nobody followed up in time, for the manager."""

    mqa_id: str
    account_id: str
    account_name: str
    tier: int
    rule: str
    qualified_at_ms: int
    due_at_ms: int
    sla_seconds: int
    owner: Owner
    account_url: str

    @property
    def title(self) -> str:
        return f"Follow-up SLA breached: {self.account_name} (tier {self.tier})"

    def text(self) -> str:
        owner = self.owner.email or self.owner.slack_id or "nobody (unowned account)"
        return "\n".join(
            [
                f"== {self.title} ==",
                f"  MQA {self.mqa_id} ({rule_label(self.rule)}) qualified "
                f"{when_text(iso_ms(self.qualified_at_ms))}; follow-up was due "
                f"{when_text(iso_ms(self.due_at_ms))} ({sla_text(self.sla_seconds)} SLA) "
                "and no sales activity or acknowledgement was recorded.",
                f"  Owner   : {owner}",
                f"  Account : {self.account_url}",
            ]
        )
