"""The account page (`/accounts/{id}` as HTML), from the view dict of
`abm.core.account_view` with the persons already named (`abm.core.privacy.reveal`) and the AE
verdicts added by the route."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stream.web.templates.base import account_href, badge, esc, num, page, role, table, when
from stream.web.templates.svg import score_chart


def render_account(view: dict[str, Any]) -> str:
    """The account page: score vs threshold, coverage by role, score chart, timeline, MQAs."""
    account = view["account"]
    name = account["name"]
    owner = account.get("owner_email") or "no owner"
    status = (
        badge("in MQA episode", "hot")
        if view["in_episode"]
        else badge("qualifies now", "yes")
        if view["qualifies_now"]
        else badge("not qualified", "no")
    )
    header = (
        f"<h1>{esc(name)}{status}</h1>"
        f'<div class="sub">{esc(account["id"])} · tier {esc(account["tier"])} · ICP fit '
        f"{esc(num(account['icp_fit'], 0))} · {esc(account['lifecycle'])} · owner "
        f"{esc(owner)}</div>"
        f'<div class="sub">as of {esc(when(view["as_of"]))} (event time) · last touchpoint '
        f"{esc(when(view['last_touch']))} · {esc(view['touches'])} touchpoints · model "
        f"{esc(view['model_version'])}</div>"
    )
    share = min(view["score"] / view["threshold"], 1.0) if view["threshold"] else 0.0
    missing = "".join(f"<li>{esc(gap)}</li>" for gap in view["missing"])
    score_card = (
        '<div class="card"><h2>Score</h2>'
        f'<div><span class="big">{esc(num(view["score"]))}</span>'
        f' <span class="sub">of threshold {esc(num(view["threshold"], 0))}'
        f" ({esc(num(100 * view['heat'], 0))}%)</span></div>"
        f'<div class="bar"><span style="width:{100 * share:.1f}%"></span></div>'
        f'<div class="sub">{esc(len([s for s in view["stakeholders"] if s["active"]]))} active '
        f"stakeholders · key roles active: "
        f"{esc(', '.join(role(r) for r in view['key_roles_active']) or 'none')}</div>"
        f'<div class="sub">first engaged {esc(when(view["first_engaged_at"]))} · last '
        f"engaged {esc(when(view['last_engaged_at']))}</div>"
        f'<div class="sub">surge ratio {esc(num(view["surge"]["ratio"], 2))}'
        f"{' (surging)' if view['surge']['surging'] else ''} · MQA episodes "
        f"{esc(view['episode'])} · exit score {esc(num(view['exit_score'], 0))}</div>"
        + (f'<div class="sub">Not an MQA now because:</div><ul>{missing}</ul>' if missing else "")
        + "</div>"
    )
    coverage_rows = [
        (
            esc(role(r["requirement"])),
            esc(", ".join(role(x) for x in r["roles"])),
            f"{esc(r['active'])} / {esc(r['required'])}",
            esc(", ".join(r["contacts"])) or '<span class="muted">nobody active</span>',
        )
        for r in view["coverage_by_requirement"]
    ]
    coverage_card = (
        f'<div class="card"><h2>Buying-group coverage {esc(num(100 * view["coverage"], 0))}%'
        "</h2>" + table(("requirement", "roles", "active", "who"), coverage_rows, {2}) + "</div>"
    )
    stakeholder_rows = [
        (
            esc(s["contact"]) + ("" if s["known"] else ' <span class="muted">(anonymous)</span>'),
            esc(role(s["role"])),
            esc(s["title"] or "-"),
            esc(num(s["points"])),
            esc(when(s["last_touch"])),
            "active" if s["active"] else '<span class="muted">inactive</span>',
        )
        for s in view["stakeholders"]
    ]
    stakeholders = (
        '<div class="card"><h2>Who is engaged</h2>'
        + table(
            ("contact", "role", "title", "points now", "last touch", "stakeholder"),
            stakeholder_rows,
            {3},
        )
        + "</div>"
    )
    history = view["score_history"]
    exact = (
        f'<div class="sub">Older touchpoints are no longer kept in detail: the history is known '
        f"from {esc(when(history['exact_from']))} on.</div>"
        if history["exact_from"]
        else ""
    )
    chart = (
        f'<div class="card"><h2>Score, last {esc(history["days"])} days</h2>'
        + score_chart(
            history["points"],
            view["threshold"],
            view["exit_score"],
            [m for m in view["mqa_history"] if m["in_chart"]],
        )
        + exact
        + "</div>"
    )
    timeline_rows = [
        (
            esc(when(t["at"])),
            esc(t["label"]) + (f'<div class="url">{esc(t["url"])}</div>' if t.get("url") else ""),
            esc(t["contact"]),
            esc(role(t["role"])),
            esc(num(t["points"])),
            esc(num(t["points_now"])),
        )
        for t in view["timeline"]
    ]
    timeline = (
        '<div class="card"><h2>Touchpoint timeline</h2>'
        + (
            table(("when", "what", "who", "role", "points", "worth now"), timeline_rows, {4, 5})
            if timeline_rows
            else '<div class="muted">No scored touchpoint kept.</div>'
        )
        + "</div>"
    )
    mqas = "".join(_mqa(m) for m in view["mqa_history"]) or (
        '<div class="muted">This account has not been an MQA.</div>'
    )
    mqa_card = f'<div class="card"><h2>MQA history</h2>{mqas}</div>'
    json_link = (
        f'<div class="sub">JSON: <a href="{esc(account_href(account["id"]))}?format=json">'
        f"{esc(account_href(account['id']))}?format=json</a></div>"
    )
    body = (
        header
        + f'<div class="grid" style="margin-top:14px">{score_card}{coverage_card}</div>'
        + chart
        + mqa_card
        + stakeholders
        + timeline
        + json_link
    )
    return page(f"{name} - account", body)


def _mqa(entry: dict[str, Any]) -> str:
    event = entry["event"]
    contacts = "".join(
        f"<li>{esc(c['contact'])} ({esc(role(c['role']))}, {esc(c['seniority'])}): "
        f"{esc(num(c['points']))} points, last touch {esc(when(c['last_touch']))}</li>"
        for c in event.get("top_contacts", [])
    )
    touches = "".join(
        f"<li>{esc(when(t['at']))} {esc(t['label'])} by {esc(t['contact'])}: "
        f"{esc(num(t['points']))} points</li>"
        for t in event.get("top_touchpoints", [])
    )
    follow = event.get("follow_up", {})
    return (
        '<div class="mqa">'
        f"<div><b>{esc(when(entry['qualified_at']))}</b> · rule {esc(entry['rule'])} · episode "
        f"{esc(entry['episode'])} · score {esc(num(event.get('score')))} / "
        f"{esc(num(event.get('threshold'), 0))} · coverage "
        f"{esc(num(100 * float(event.get('coverage') or 0), 0))}% · follow up by "
        f"{esc(when(follow.get('due_at')))}</div>"
        f"<div>{esc(event.get('summary', ''))}</div>"
        f'<div class="sub">Engaged contacts</div><ul>{contacts}</ul>'
        f'<div class="sub">Top touchpoints</div><ul>{touches}</ul>'
        + _verdicts(entry.get("verdicts"))
        + f'<div class="muted">{esc(entry["mqa_id"])}</div>'
        "</div>"
    )


def _verdicts(verdicts: Sequence[dict[str, Any]] | None) -> str:
    """The AE verdicts on the MQA's alert (the Slack buttons, the e-mail links)."""
    if verdicts is None:
        return ""
    if not verdicts:
        return '<div class="sub">AE verdict</div><div class="muted">none yet</div>'
    items = "".join(
        f"<li>{badge(v['label'], 'yes' if v['verdict'] == 'good' else 'no')} "
        f"{esc(_verdict_source(v))}, {esc(when(v['at']))}</li>"
        for v in verdicts
    )
    return f'<div class="sub">AE verdict</div><ul>{items}</ul>'


def _verdict_source(verdict: dict[str, Any]) -> str:
    if verdict["source"] == "slack":
        return f"Slack {verdict['by'] or ''}".strip()
    return "e-mail link"
