"""Slack Block Kit rendering of alerts, within Block Kit's limits, with escaped text.

Limits respected (https://api.slack.com/reference/block-kit): at most 50 blocks a message; a
header's plain text <= 150 characters; a section's text <= 3000 and its fields <= 10, each
<= 2000; a context block <= 10 elements; a button's text <= 75, its url <= 3000 and its value
<= 2000 characters. The top-level `text` is the notification and screen-reader fallback: it is
plain text and kept under 3000 characters. Text from the event is escaped (`&`, `<`, `>`), so
an account name can never inject a mention or a link. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any, Final

from abm.core.timefmt import iso_ms, parse_iso_ms, when_text
from alerting.content import Escalation, MqaAlert, sla_text

MAX_BLOCKS: Final = 50
HEADER_MAX: Final = 150
SECTION_TEXT_MAX: Final = 3000
FIELD_MAX: Final = 2000
FIELDS_MAX: Final = 10
BUTTON_TEXT_MAX: Final = 75
BUTTON_URL_MAX: Final = 3000
BUTTON_VALUE_MAX: Final = 2000
FALLBACK_MAX: Final = 3000

ACK_ACTION_ID: Final = "abm_ack"
"""action_id of the acknowledge button; its value is the MQA id."""
VIEW_ACTION_ID: Final = "abm_view_account"
VERDICT_ACTION_IDS: Final = {"abm_verdict_good": "good", "abm_verdict_not_a_fit": "not_a_fit"}
"""action_id of each verdict button -> the verdict (`abm.outcomes.verdicts`); value: MQA id."""
_VERDICT_BUTTONS: Final = (
    ("abm_verdict_good", "Good lead"),
    ("abm_verdict_not_a_fit", "Not a fit"),
)

_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def escape(text: str) -> str:
    """Slack's mrkdwn control characters as entities (the only escaping Slack asks for)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mention(slack_id: str | None) -> str | None:
    """`<@U123>` for a well-formed user id, else None (a malformed id is never interpolated)."""
    if slack_id and _SLACK_ID.match(slack_id):
        return f"<@{slack_id}>"
    return None


def slack_date(iso: str, fallback: str) -> str:
    """A time every reader sees in their own zone (`<!date^...>`), with a UTC fallback."""
    try:
        seconds = parse_iso_ms(iso) // 1000
    except ValueError:
        return escape(fallback)
    return f"<!date^{seconds}^{{date_short_pretty}} {{time}}|{escape(fallback)}>"


def _text(kind: str, text: str, limit: int) -> dict[str, Any]:
    block: dict[str, Any] = {"type": kind, "text": clip(text, limit)}
    if kind == "plain_text":
        block["emoji"] = True
    return block


def _lines(header: str, rows: list[str], limit: int = SECTION_TEXT_MAX) -> str:
    """A section text of rows that stays within `limit`, saying how many rows were left out."""
    text = header
    for index, row in enumerate(rows):
        more = f"\n… and {len(rows) - index} more"
        if len(text) + 1 + len(row) + len(more) > limit:
            return text + more
        text += "\n" + row
    return text


def _button(text: str, action_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": _text("plain_text", text, BUTTON_TEXT_MAX),
        "action_id": action_id,
        **extra,
    }


def _actions(account_url: str, ack_value: str | None) -> dict[str, Any]:
    elements = []
    if len(account_url) <= BUTTON_URL_MAX:
        elements.append(_button("View account", VIEW_ACTION_ID, url=account_url))
    if ack_value is not None:
        elements.append(
            _button(
                "Acknowledge",
                ACK_ACTION_ID,
                value=ack_value[:BUTTON_VALUE_MAX],
                style="primary",
            )
        )
        for action_id, label in _VERDICT_BUTTONS:
            elements.append(_button(label, action_id, value=ack_value[:BUTTON_VALUE_MAX]))
    return {"type": "actions", "block_id": "abm_actions", "elements": elements}


def mqa_message(alert: MqaAlert, *, mention_owner: bool = True) -> dict[str, Any]:
    """`text` (fallback) and `blocks` of an MQA alert, for chat.postMessage or a webhook."""
    who = mention(alert.owner.slack_id) if mention_owner else None
    due = slack_date(alert.due_at, when_text(alert.due_at))
    fields = [
        f"*Score*\n{alert.score:g} / {alert.threshold:g} threshold",
        f"*ICP fit*\n{alert.icp_fit:g}",
        f"*Coverage*\n{alert.coverage:.0%} ({alert.requirements_met}/{alert.requirements} "
        f"requirements, {alert.active_stakeholders} active)",
        f"*Surge*\n{alert.surge_text}",
        f"*Qualified*\n{slack_date(alert.qualified_at, when_text(alert.qualified_at))}",
        f"*Follow up by*\n{due} ({sla_text(alert.sla_seconds)})",
    ]
    contacts = [
        f"• {escape(c.contact)}: {escape(c.role)} ({escape(c.seniority)}"
        + (f", {escape(c.title)}" if c.title else "")
        + f"), {c.points:.1f} pts, last {when_text(c.last_touch)}"
        + ("" if c.active else " (inactive)")
        for c in alert.contacts
    ]
    touches = [
        f"• {when_text(t.at)}  {escape(t.label)}: {escape(t.contact)} "
        f"({escape(t.role)}), {t.points_now:.1f} pts"
        for t in alert.touches
    ]
    intro = (f"{who} " if who else "") + escape(alert.summary)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": _text(
                "plain_text",
                f"MQA: {alert.account_name} · tier {alert.tier} · {alert.rule_label}",
                HEADER_MAX,
            ),
        },
        {"type": "section", "text": _text("mrkdwn", intro, SECTION_TEXT_MAX)},
        {
            "type": "section",
            "fields": [_text("mrkdwn", f, FIELD_MAX) for f in fields[:FIELDS_MAX]],
        },
        {"type": "divider"},
        {
            "type": "section",
            "text": _text("mrkdwn", _lines("*Engaged contacts*", contacts), SECTION_TEXT_MAX),
        },
        {
            "type": "section",
            "text": _text("mrkdwn", _lines("*Top touchpoints*", touches), SECTION_TEXT_MAX),
        },
        _actions(alert.account_url, alert.mqa_id),
        {
            "type": "context",
            "elements": [
                _text(
                    "mrkdwn",
                    f"MQA `{escape(alert.mqa_id)}` · episode {alert.episode} · "
                    f"model {escape(alert.model_version)} · account `{escape(alert.account_id)}`",
                    SECTION_TEXT_MAX,
                )
            ],
        },
    ]
    fallback = (
        f"MQA: {alert.account_name} (tier {alert.tier}, {alert.rule_label}) - score "
        f"{alert.score:g}/{alert.threshold:g} - follow up by {when_text(alert.due_at)}"
    )
    fallback = f"{who} {escape(fallback)}" if who else escape(fallback)
    return {"text": clip(fallback, FALLBACK_MAX), "blocks": blocks[:MAX_BLOCKS]}


def escalation_message(escalation: Escalation) -> dict[str, Any]:
    """`text` and `blocks` of a follow-up SLA escalation."""
    who = mention(escalation.owner.slack_id)
    owner = who or escape(escalation.owner.email or "nobody (unowned account)")
    qualified = escalation.qualified_at_ms
    due = escalation.due_at_ms
    body = (
        f"MQA `{escape(escalation.mqa_id)}` of *{escape(escalation.account_name)}* qualified "
        f"{slack_date(iso_ms(qualified), when_text(iso_ms(qualified)))}; follow-up was due "
        f"{slack_date(iso_ms(due), when_text(iso_ms(due)))} "
        f"({sla_text(escalation.sla_seconds)} SLA) and no sales activity or acknowledgement "
        f"was recorded. Owner: {owner}."
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _text("plain_text", escalation.title, HEADER_MAX)},
        {"type": "section", "text": _text("mrkdwn", body, SECTION_TEXT_MAX)},
        _actions(escalation.account_url, None),
    ]
    return {"text": clip(escape(escalation.title), FALLBACK_MAX), "blocks": blocks}
