"""One content model of an alert, several renderers (console, Slack blocks, e-mail text/HTML).

An `MqaAlert` is built once per MQA from the typed event (`abm.core.mqa_event.MqaEvent`), the
follow-up due time the SLA tracker fixed and the links; every channel renders that same object,
so the AE reads the same numbers in Slack, in the e-mail and on the console. An `Escalation` is
the message to the manager when an MQA was not followed up in time. Pure: no I/O, times passed
in (epoch ms).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote

from abm.core.mqa_event import MqaEvent
from abm.core.mqa_event import Owner as EventOwner
from abm.core.timefmt import iso_ms, when_text

RULE_LABELS = {"threshold": "threshold rule", "act_now": "act now"}


def rule_label(rule: str) -> str:
    return RULE_LABELS.get(rule, rule)


def sla_text(seconds: int) -> str:
    """A follow-up window for people: `4 h`, `30 min`, `1 h 30 min`."""
    hours, minutes = divmod(seconds // 60, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def account_url(base_url: str, account_id: str) -> str:
    """The account page of the worker's web server (the 'view account' button)."""
    return f"{base_url.rstrip('/')}/accounts/{quote(account_id, safe='')}"


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
    due time this alert uses (the plain-text renderer reads it, the webhook posts it)."""

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
    event: MqaEvent
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
    event: MqaEvent,
    *,
    owner: Owner,
    due_at_ms: int,
    account_link: str,
    ack_url: str | None = None,
    verdict_urls: tuple[tuple[str, str], ...] = (),
) -> MqaAlert:
    """The alert of an MQA event (persons already named, `MqaEvent.revealed`). `owner` is who
    it is routed to (the directory may know a newer owner than the event) and `due_at_ms` the
    follow-up due time the SLA tracker fixed (epoch ms)."""
    account = event.account
    requirements = event.coverage_by_requirement
    shown = event.with_routing(
        EventOwner(email=owner.email, slack_id=owner.slack_id),
        replace(event.follow_up, due_at=iso_ms(due_at_ms), due_at_ms=due_at_ms),
    )
    return MqaAlert(
        mqa_id=event.mqa_id,
        account_id=account.id,
        account_name=account.name or account.id,
        tier=account.tier,
        rule=event.rule,
        qualified_at=event.qualified_at,
        score=float(event.score),
        threshold=float(event.threshold),
        icp_fit=float(account.icp_fit),
        coverage=float(event.coverage),
        requirements_met=sum(1 for r in requirements if r.active >= r.required),
        requirements=len(requirements),
        active_stakeholders=event.active_stakeholders,
        surge_ratio=float(event.surge.ratio),
        surging=event.surge.surging,
        contacts=tuple(
            ContactLine(
                contact=c.contact,
                role=c.role,
                seniority=c.seniority or "unknown",
                title=c.title,
                points=float(c.points),
                last_touch=c.last_touch,
                active=c.active,
            )
            for c in event.top_contacts
        ),
        touches=tuple(
            TouchLine(
                at=t.at,
                label=t.label or t.activity or "-",
                contact=t.contact or "-",
                role=t.role or "-",
                points_now=float(t.points_now),
            )
            for t in event.top_touchpoints
        ),
        owner=owner,
        due_at_ms=due_at_ms,
        sla_seconds=event.follow_up.sla_seconds,
        summary=event.summary,
        episode=event.episode or 1,
        model_version=event.model_version or "-",
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
