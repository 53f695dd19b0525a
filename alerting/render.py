"""Plain-text rendering of an MQA event: the console alert, and the body other channels reuse.

Everything shown comes from the event itself (`abm.core.mqa_event.MqaEvent`, persons already
named), so what the AE reads can be traced to touchpoints.
"""

from __future__ import annotations

from abm.core.mqa_event import MqaEvent
from abm.core.timefmt import when_text
from alerting.content import rule_label


def _sla(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def render_text(event: MqaEvent) -> str:
    account = event.account
    covered = sum(1 for r in event.coverage_by_requirement if r.active >= r.required)
    total = len(event.coverage_by_requirement)
    surge = event.surge
    surge_text = f"surge x{surge.ratio:g}" + (" (surging)" if surge.surging else "")
    lines = [
        f"== MQA  {account.name}  | tier {account.tier} | "
        f"{rule_label(event.rule)} | {when_text(event.qualified_at)} ==",
        f"  {event.summary}",
        f"  Why now : score {event.score:g} / threshold {event.threshold:g} | "
        f"ICP fit {account.icp_fit:g} | coverage {event.coverage:.0%} "
        f"({covered}/{total} requirements) | {event.active_stakeholders} active | "
        f"{surge_text}",
    ]
    lines.append("  Who     :")
    for contact in event.top_contacts:
        active = "" if contact.active else " (inactive)"
        lines.append(
            f"    {contact.contact:<34} {contact.role:<20} {contact.seniority:<10} "
            f"{contact.points:>6.1f} pts  last {when_text(contact.last_touch)}{active}"
        )
    lines.append("  What    :")
    for touch in event.top_touchpoints:
        lines.append(
            f"    {when_text(touch.at)}  {touch.label:<26} {touch.contact:<34} "
            f"{touch.points_now:>6.1f} pts"
        )
    owner = event.owner
    owner_text = owner.email or "unowned"
    if owner.slack_id:
        owner_text += f" (Slack {owner.slack_id})"
    follow = event.follow_up
    lines.append(
        f"  Owner   : {owner_text} | follow up by {when_text(follow.due_at)} "
        f"({_sla(follow.sla_seconds)})"
    )
    lines.append(f"  Id      : {event.mqa_id} | episode {event.episode} | "
                 f"model {event.model_version}")  # fmt: skip
    return "\n".join(lines)
