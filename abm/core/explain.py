"""The MQA event: the decision and every number behind it, for the account executive.

Content is a pure function of the account state and the model, so the same touchpoints give the
same event, byte for byte; the id is derived from the content's identity (account, episode,
qualification time, rule, model version). The event is typed (`abm.core.mqa_event.MqaEvent`);
the state stores its dict form (`MqaEvent.to_dict`). What it holds: docs/scoring.md, "The
explanation an MQA carries".
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Final

from abm.core import decay
from abm.core.assessment import Assessment
from abm.core.model import HOUR_MS, MINUTE_MS, ScoringModel
from abm.core.mqa_event import (
    SCHEMA,
    AccountSnapshot,
    ContactRow,
    CoverageRow,
    FollowUp,
    MqaEvent,
    Owner,
    Surge,
    TouchpointRow,
)
from abm.core.state import AccountState, TouchRecord
from abm.core.timefmt import iso_ms

EVENT_SCHEMA: Final = SCHEMA
RULE_THRESHOLD: Final = "threshold"
RULE_ACT_NOW: Final = "act_now"

_PAGE_LABELS: Final = {
    "pricing": "pricing page",
    "security": "security / trust page",
    "demo": "demo page",
    "integrations": "integrations / docs page",
    "case_study": "case study",
    "product": "product page",
    "blog": "blog post",
    "other": "web page",
    "no_value": "web page",
}


def mqa_id(account_id: str, episode: int, qualified_at_ms: int, rule: str, version: str) -> str:
    digest = hashlib.sha256(
        f"{account_id}\x1f{episode}\x1f{qualified_at_ms}\x1f{rule}\x1f{version}".encode()
    ).hexdigest()
    return f"mqa_{digest[:24]}"


def activity_label(activity: str) -> str:
    if activity.startswith("page:"):
        return _PAGE_LABELS.get(activity[5:], activity[5:].replace("_", " ") + " page")
    return activity


def follow_up_ms(rule: str, tier: int, model: ScoringModel) -> int:
    """The follow-up SLA (docs/scoring.md, "Follow-up")."""
    if rule == RULE_ACT_NOW:
        return int(model.mqa.act_now_follow_up_minutes * MINUTE_MS)
    return int(model.tiers[tier].follow_up_hours * HOUR_MS)


def build_mqa_event(
    state: AccountState, assessment: Assessment, rule: str, model: ScoringModel
) -> MqaEvent:
    account = state.account
    at = assessment.at_ms
    sla_ms = follow_up_ms(rule, account.tier, model)
    surge = assessment.surge
    first = state.first_engaged_ms
    event = MqaEvent(
        schema=EVENT_SCHEMA,
        mqa_id=mqa_id(account.account_id, state.episode, at, rule, model.version),
        episode=state.episode,
        rule=rule,
        account=AccountSnapshot(
            id=account.account_id,
            name=account.name,
            tier=account.tier,
            icp_fit=account.icp_fit,
            lifecycle=account.lifecycle,
            value_score=account.value_score,
            domains=tuple(account.domains),
        ),
        qualified_at=iso_ms(at),
        qualified_at_ms=at,
        score=round(assessment.score, 2),
        threshold=assessment.threshold,
        coverage=assessment.coverage,
        coverage_by_requirement=_coverage(assessment),
        active_stakeholders=len(assessment.active_stakeholders),
        key_roles_active=tuple(assessment.key_roles_active),
        top_contacts=_top_contacts(state, assessment, model),
        top_touchpoints=_top_touchpoints(state.timeline, at, model),
        surge=Surge(
            ratio=surge.ratio,
            recent_points=surge.recent_points,
            baseline_weekly_points=surge.baseline_weekly_points,
            recent_touchpoints=surge.recent_touchpoints,
            recent_people=surge.recent_people,
            surging=surge.surging,
        ),
        first_engaged_at=iso_ms(first) if first is not None else None,
        engaged_to_mqa_seconds=(at - first) // 1000 if first is not None else None,
        owner=Owner(email=account.owner_email, slack_id=account.owner_slack_id),
        follow_up=FollowUp(
            due_at=iso_ms(at + sla_ms), due_at_ms=at + sla_ms, sla_seconds=sla_ms // 1000
        ),
        model_version=model.version,
        summary="",
    )
    return replace(event, summary=summarize(event))


def coverage_rows(assessment: Assessment) -> list[dict[str, Any]]:
    """Buying-group coverage per requirement: who is active in which of its roles."""
    return [
        {
            "requirement": r.requirement,
            "roles": list(r.roles),
            "required": r.required,
            "active": r.active,
            "contacts": list(r.contacts),
        }
        for r in _coverage(assessment)
    ]


def _coverage(assessment: Assessment) -> tuple[CoverageRow, ...]:
    return tuple(
        CoverageRow(
            requirement=r.name,
            roles=tuple(r.roles),
            required=r.required,
            active=len(r.active_contacts),
            contacts=tuple(r.active_contacts),
        )
        for r in assessment.requirements
    )


def summarize(event: MqaEvent) -> str:
    """One line an AE reads first: who, why now, what."""
    account = event.account
    head = f"{account.name} (tier {account.tier}, fit {account.icp_fit:g})"
    if event.rule == RULE_ACT_NOW:
        asker = next((t for t in event.top_touchpoints if t.act_now), None)
        who = f" by {asker.contact} ({asker.role})" if asker else ""
        what = asker.label if asker else "demo or contact-sales request"
        return f"{head}: {what}{who} - act now, follow up by {event.follow_up.due_at}"
    roles = sorted({c.role for c in event.top_contacts if c.active})
    recent = sorted({t.label for t in event.top_touchpoints[:5]})
    return (
        f"{head}: score {event.score:g} >= {event.threshold:g}, "
        f"{event.active_stakeholders} active stakeholders ({', '.join(roles)}), "
        f"coverage {event.coverage:.0%}; recent: {', '.join(recent)}"
    )


def _top_contacts(
    state: AccountState, assessment: Assessment, model: ScoringModel
) -> tuple[ContactRow, ...]:
    active = set(assessment.active_stakeholders)
    ranked = sorted(
        state.contacts.items(),
        key=lambda item: (-round(assessment.contributions.get(item[0], 0.0), 4), item[0]),
    )
    return tuple(
        ContactRow(
            contact=key,
            role=contact.role,
            seniority=contact.seniority,
            title=contact.title,
            points=round(assessment.contributions.get(key, 0.0), 2),
            last_touch=iso_ms(contact.last_touch_ms),
            touches=contact.touches,
            active=key in active,
        )
        for key, contact in ranked[: model.state.explain_top_contacts]
    )


def _top_touchpoints(
    timeline: list[TouchRecord], at_ms: int, model: ScoringModel
) -> tuple[TouchpointRow, ...]:
    act_now_events = {name for name, rule in model.events.items() if rule.act_now}

    def now_worth(t: TouchRecord) -> float:
        return round(
            decay.decayed(t.points, at_ms - t.at_ms, model.half_life_ms(t.signal_class)), 4
        )

    ranked = sorted(
        timeline,
        key=lambda t: (-now_worth(t), -t.at_ms, t.contact, t.activity, t.message_digest),
    )
    return tuple(
        TouchpointRow(
            at=iso_ms(t.at_ms),
            activity=t.activity,
            label=activity_label(t.activity),
            contact=t.contact,
            role=t.role,
            points=round(t.points, 2),
            points_now=round(now_worth(t), 2),
            url=t.url,
            act_now=t.activity in act_now_events,
        )
        for t in ranked[: model.state.explain_top_touchpoints]
    )
