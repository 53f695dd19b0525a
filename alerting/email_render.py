"""E-mail rendering of alerts: multipart/alternative, a text part and an HTML part with the same
content. The text part is the console rendering (`alerting.render.render_text`) plus the links;
the HTML part is built from the same alert object, every value HTML-escaped. Pure: no I/O.

The Message-ID is derived from the delivery (alert id and channel), so a mail store that
deduplicates by Message-ID keeps one copy even of a message sent twice.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate
from html import escape

from abm.core.timefmt import when_text
from alerting.content import Escalation, MqaAlert, sla_text
from alerting.render import render_text

_CELL = 'style="padding:2px 10px 2px 0;vertical-align:top"'


def message_id(delivery_id: str) -> str:
    digest = hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
    return f"<{digest}@abm-alerts>"


def _envelope(
    subject: str, sender: str, recipient: str, delivery_id: str, now_ms: int
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject.replace("\n", " ")[:200]
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(now_ms / 1000, usegmt=True)
    message["Message-ID"] = message_id(delivery_id)
    message["X-ABM-Alert-Id"] = delivery_id
    return message


def mqa_text(alert: MqaAlert) -> str:
    lines = [render_text(alert.event), "", f"View account: {alert.account_url}"]
    if alert.ack_url:
        lines.append(f"Acknowledge (counts as your follow-up): {alert.ack_url}")
    lines.extend(f"{label}: {url}" for label, url in alert.verdict_urls)
    return "\n".join(lines) + "\n"


def mqa_html(alert: MqaAlert) -> str:
    e = escape
    facts = [
        ("Score", f"{alert.score:g} / {alert.threshold:g} threshold"),
        ("ICP fit", f"{alert.icp_fit:g}"),
        (
            "Coverage",
            f"{alert.coverage:.0%} ({alert.requirements_met}/{alert.requirements} requirements, "
            f"{alert.active_stakeholders} active)",
        ),
        ("Surge", alert.surge_text),
        ("Qualified", when_text(alert.qualified_at)),
        ("Follow up by", f"{when_text(alert.due_at)} ({sla_text(alert.sla_seconds)})"),
    ]
    fact_rows = "".join(f"<tr><th align=left {_CELL}>{e(k)}</th><td {_CELL}>{e(v)}</td></tr>"
                        for k, v in facts)  # fmt: skip
    contact_rows = "".join(
        f"<tr><td {_CELL}>{e(c.contact)}</td><td {_CELL}>{e(c.role)}</td>"
        f"<td {_CELL}>{e(c.seniority)}</td><td {_CELL}>{e(c.title or '')}</td>"
        f"<td {_CELL} align=right>{c.points:.1f}</td><td {_CELL}>{e(when_text(c.last_touch))}"
        f"{'' if c.active else ' (inactive)'}</td></tr>"
        for c in alert.contacts
    )
    touch_rows = "".join(
        f"<tr><td {_CELL}>{e(when_text(t.at))}</td><td {_CELL}>{e(t.label)}</td>"
        f"<td {_CELL}>{e(t.contact)}</td><td {_CELL}>{e(t.role)}</td>"
        f"<td {_CELL} align=right>{t.points_now:.1f}</td></tr>"
        for t in alert.touches
    )
    owner = alert.owner.email or alert.owner.slack_id or "unowned"
    links = f'<a href="{e(alert.account_url)}">View account</a>'
    if alert.ack_url:
        links += f' &nbsp;|&nbsp; <a href="{e(alert.ack_url)}">Acknowledge</a>'
    for label, url in alert.verdict_urls:
        links += f' &nbsp;|&nbsp; <a href="{e(url)}">{e(label)}</a>'
    return f"""<!doctype html>
<html><body style="font-family:sans-serif;font-size:14px">
<h2 style="margin:0 0 8px">MQA: {e(alert.account_name)} &middot; tier {alert.tier} &middot; \
{e(alert.rule_label)}</h2>
<p>{e(alert.summary)}</p>
<table>{fact_rows}</table>
<h3>Engaged contacts</h3>
<table><tr><th align=left {_CELL}>Contact</th><th align=left {_CELL}>Role</th>\
<th align=left {_CELL}>Seniority</th><th align=left {_CELL}>Title</th>\
<th align=right {_CELL}>Points</th><th align=left {_CELL}>Last touch</th></tr>{contact_rows}</table>
<h3>Top touchpoints</h3>
<table><tr><th align=left {_CELL}>When</th><th align=left {_CELL}>What</th>\
<th align=left {_CELL}>Who</th><th align=left {_CELL}>Role</th>\
<th align=right {_CELL}>Points now</th></tr>{touch_rows}</table>
<p>Owner: {e(owner)}</p>
<p>{links}</p>
<p style="color:#777;font-size:12px">MQA {e(alert.mqa_id)} &middot; episode {alert.episode} \
&middot; model {e(alert.model_version)}</p>
</body></html>
"""


def mqa_email(
    alert: MqaAlert, *, sender: str, recipient: str, delivery_id: str, now_ms: int
) -> EmailMessage:
    subject = (
        f"MQA: {alert.account_name} (tier {alert.tier}, {alert.rule_label}) - "
        f"follow up by {when_text(alert.due_at)}"
    )
    message = _envelope(subject, sender, recipient, delivery_id, now_ms)
    message.set_content(mqa_text(alert))
    message.add_alternative(mqa_html(alert), subtype="html")
    return message


def escalation_email(
    escalation: Escalation, *, sender: str, recipient: str, delivery_id: str, now_ms: int
) -> EmailMessage:
    message = _envelope(escalation.title, sender, recipient, delivery_id, now_ms)
    message.set_content(escalation.text() + "\n")
    paragraphs = "".join(
        f"<p>{escape(line.strip())}</p>" for line in escalation.text().splitlines()[1:]
    )
    message.add_alternative(
        f'<!doctype html><html><body style="font-family:sans-serif"><h2>'
        f'{escape(escalation.title)}</h2>{paragraphs}<p><a href="{escape(escalation.account_url)}">'
        "View account</a></p></body></html>\n",
        subtype="html",
    )
    return message
