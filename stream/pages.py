"""HTML of the account pages, rendered on the server from the view dicts of
`abm.core.account_view` (no JavaScript, no build step).

Every value that comes from data (account names, contact keys, titles, URLs, event names, MQA
summaries) goes through `esc`, so a touchpoint carrying markup cannot inject anything; URLs from
touchpoints are shown as text, never as links. The page also forbids scripts with a
Content-Security-Policy.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any, Final
from urllib.parse import quote

CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"

_STYLE: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f4f6fa}
main{max-width:1040px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:16px;margin:0 0 10px}
.sub{color:#5b6475}.card{background:#fff;border:1px solid #dfe3ea;border-radius:8px;
padding:16px 18px;margin:14px 0}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px}.grid .card{margin:0}
.big{font-size:30px;font-weight:650}.bar{height:10px;background:#e7eaf0;border-radius:5px;
overflow:hidden;margin:8px 0}.bar span{display:block;height:100%;background:#2f6fde}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;
margin-left:6px}.yes{background:#dcf5e3;color:#176b33}.no{background:#eef0f4;color:#4b5363}
.hot{background:#fde3d6;color:#9a3412}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;
border-bottom:1px solid #eef0f4;vertical-align:top}th{font-size:12px;color:#5b6475;
font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#8a92a3}ul{margin:4px 0 0 18px;padding:0}.mqa{border-left:4px solid #2f6fde;
padding-left:12px;margin:12px 0}.url{color:#5b6475;font-size:12px;word-break:break-all}
"""


def esc(value: Any) -> str:
    """Text for HTML (element content and quoted attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def account_href(account_id: str) -> str:
    return "/accounts/" + quote(account_id, safe="")


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _when(iso: str | None) -> str:
    """An ISO time as `2026-03-02 09:00 UTC`."""
    if not iso:
        return "-"
    return f"{iso[:10]} {iso[11:16]} UTC"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _role(role: str) -> str:
    return role.replace("_", " ")


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{esc(text)}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(
        f'<th class="n">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_account(view: dict[str, Any]) -> str:
    """The account page: score vs threshold, coverage by role, score chart, timeline, MQAs."""
    account = view["account"]
    name = account["name"]
    owner = account.get("owner_email") or "no owner"
    status = (
        _badge("in MQA episode", "hot")
        if view["in_episode"]
        else _badge("qualifies now", "yes")
        if view["qualifies_now"]
        else _badge("not qualified", "no")
    )
    header = (
        f"<h1>{esc(name)}{status}</h1>"
        f'<div class="sub">{esc(account["id"])} · tier {esc(account["tier"])} · ICP fit '
        f"{esc(_num(account['icp_fit'], 0))} · {esc(account['lifecycle'])} · owner "
        f"{esc(owner)}</div>"
        f'<div class="sub">as of {esc(_when(view["as_of"]))} (event time) · last touchpoint '
        f"{esc(_when(view['last_touch']))} · {esc(view['touches'])} touchpoints · model "
        f"{esc(view['model_version'])}</div>"
    )
    share = min(view["score"] / view["threshold"], 1.0) if view["threshold"] else 0.0
    missing = "".join(f"<li>{esc(gap)}</li>" for gap in view["missing"])
    score_card = (
        '<div class="card"><h2>Score</h2>'
        f'<div><span class="big">{esc(_num(view["score"]))}</span>'
        f' <span class="sub">of threshold {esc(_num(view["threshold"], 0))}'
        f" ({esc(_num(100 * view['heat'], 0))}%)</span></div>"
        f'<div class="bar"><span style="width:{100 * share:.1f}%"></span></div>'
        f'<div class="sub">{esc(len([s for s in view["stakeholders"] if s["active"]]))} active '
        f"stakeholders · key roles active: "
        f"{esc(', '.join(_role(r) for r in view['key_roles_active']) or 'none')}</div>"
        f'<div class="sub">first engaged {esc(_when(view["first_engaged_at"]))} · last '
        f"engaged {esc(_when(view['last_engaged_at']))}</div>"
        f'<div class="sub">surge ratio {esc(_num(view["surge"]["ratio"], 2))}'
        f"{' (surging)' if view['surge']['surging'] else ''} · MQA episodes "
        f"{esc(view['episode'])} · exit score {esc(_num(view['exit_score'], 0))}</div>"
        + (f'<div class="sub">Not an MQA now because:</div><ul>{missing}</ul>' if missing else "")
        + "</div>"
    )
    coverage_rows = [
        (
            esc(_role(r["requirement"])),
            esc(", ".join(_role(x) for x in r["roles"])),
            f"{esc(r['active'])} / {esc(r['required'])}",
            esc(", ".join(r["contacts"])) or '<span class="muted">nobody active</span>',
        )
        for r in view["coverage_by_requirement"]
    ]
    coverage_card = (
        f'<div class="card"><h2>Buying-group coverage {esc(_num(100 * view["coverage"], 0))}%'
        "</h2>" + _table(("requirement", "roles", "active", "who"), coverage_rows, {2}) + "</div>"
    )
    stakeholder_rows = [
        (
            esc(s["contact"]) + ("" if s["known"] else ' <span class="muted">(anonymous)</span>'),
            esc(_role(s["role"])),
            esc(s["title"] or "-"),
            esc(_num(s["points"])),
            esc(_when(s["last_touch"])),
            "active" if s["active"] else '<span class="muted">inactive</span>',
        )
        for s in view["stakeholders"]
    ]
    stakeholders = (
        '<div class="card"><h2>Who is engaged</h2>'
        + _table(
            ("contact", "role", "title", "points now", "last touch", "stakeholder"),
            stakeholder_rows,
            {3},
        )
        + "</div>"
    )
    history = view["score_history"]
    exact = (
        f'<div class="sub">Older touchpoints are no longer kept in detail: the history is known '
        f"from {esc(_when(history['exact_from']))} on.</div>"
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
            esc(_when(t["at"])),
            esc(t["label"]) + (f'<div class="url">{esc(t["url"])}</div>' if t.get("url") else ""),
            esc(t["contact"]),
            esc(_role(t["role"])),
            esc(_num(t["points"])),
            esc(_num(t["points_now"])),
        )
        for t in view["timeline"]
    ]
    timeline = (
        '<div class="card"><h2>Touchpoint timeline</h2>'
        + (
            _table(("when", "what", "who", "role", "points", "worth now"), timeline_rows, {4, 5})
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
    return _page(f"{name} - account", body)


def _mqa(entry: dict[str, Any]) -> str:
    event = entry["event"]
    contacts = "".join(
        f"<li>{esc(c['contact'])} ({esc(_role(c['role']))}, {esc(c['seniority'])}): "
        f"{esc(_num(c['points']))} points, last touch {esc(_when(c['last_touch']))}</li>"
        for c in event.get("top_contacts", [])
    )
    touches = "".join(
        f"<li>{esc(_when(t['at']))} {esc(t['label'])} by {esc(t['contact'])}: "
        f"{esc(_num(t['points']))} points</li>"
        for t in event.get("top_touchpoints", [])
    )
    follow = event.get("follow_up", {})
    return (
        '<div class="mqa">'
        f"<div><b>{esc(_when(entry['qualified_at']))}</b> · rule {esc(entry['rule'])} · episode "
        f"{esc(entry['episode'])} · score {esc(_num(event.get('score')))} / "
        f"{esc(_num(event.get('threshold'), 0))} · coverage "
        f"{esc(_num(100 * float(event.get('coverage') or 0), 0))}% · follow up by "
        f"{esc(_when(follow.get('due_at')))}</div>"
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
        f"<li>{_badge(v['label'], 'yes' if v['verdict'] == 'good' else 'no')} "
        f"{esc(_verdict_source(v))}, {esc(_when(v['at']))}</li>"
        for v in verdicts
    )
    return f'<div class="sub">AE verdict</div><ul>{items}</ul>'


def _verdict_source(verdict: dict[str, Any]) -> str:
    if verdict["source"] == "slack":
        return f"Slack {verdict['by'] or ''}".strip()
    return "e-mail link"


def score_chart(
    points: Sequence[dict[str, Any]],
    threshold: float,
    exit_score: float,
    mqas: Sequence[dict[str, Any]],
    width: int = 960,
    height: int = 220,
) -> str:
    """An inline SVG line chart of the score, with the threshold, the hysteresis exit and the
    MQA moments; unknown points (None) leave a gap."""
    left, right, top, bottom = 44, 12, 12, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    if not points:
        return '<div class="muted">No score history.</div>'
    t0, t1 = points[0]["at_ms"], points[-1]["at_ms"]
    span = max(t1 - t0, 1)
    known = [p["score"] for p in points if p["score"] is not None]
    top_value = max([threshold * 1.15, *known, 1.0])

    def x(at_ms: int) -> float:
        return float(left + plot_w * (at_ms - t0) / span)

    def y(value: float) -> float:
        return float(top + plot_h * (1 - value / top_value))

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="score over time" xmlns="http://www.w3.org/2000/svg" '
        'style="font:11px system-ui,sans-serif">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafbfd" '
        'stroke="#e3e6ec"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = top_value * fraction
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#5b6475">'
            f"{value:.0f}</text>"
        )
    for line_value, color, label in (
        (threshold, "#c2410c", f"threshold {threshold:g}"),
        (exit_score, "#9aa3b2", f"exit {exit_score:g}"),
    ):
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(line_value):.1f}" '
            f'y2="{y(line_value):.1f}" stroke="{color}" stroke-dasharray="5 4"/>'
            f'<text x="{left + plot_w - 4}" y="{y(line_value) - 4:.1f}" text-anchor="end" '
            f'fill="{color}">{esc(label)}</text>'
        )
    for mqa in mqas:
        mx = x(max(t0, min(t1, mqa["qualified_at_ms"])))
        # the label goes left of the marker when the marker is in the right third
        right_side = mx < left + plot_w * 2 / 3
        tx, anchor = (mx + 4, "start") if right_side else (mx - 4, "end")
        parts.append(
            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top}" y2="{top + plot_h}" '
            'stroke="#2f6fde" stroke-width="1.5"/>'
            f'<text x="{tx:.1f}" y="{top + 12}" text-anchor="{anchor}" fill="#2f6fde">'
            f"MQA ({esc(mqa['rule'].replace('_', ' '))})</text>"
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for p in points:
        if p["score"] is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(p['at_ms']):.1f},{y(p['score']):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(
            f'<polyline points="{" ".join(seg)}" fill="none" stroke="#1d4ed8" '
            'stroke-width="2" stroke-linejoin="round"/>'
        )
    for at_ms, anchor in ((t0, "start"), ((t0 + t1) // 2, "middle"), (t1, "end")):
        label = next((p["at"][:10] for p in points if p["at_ms"] >= at_ms), points[-1]["at"][:10])
        parts.append(
            f'<text x="{x(at_ms):.1f}" y="{height - 8}" text-anchor="{anchor}" '
            f'fill="#5b6475">{esc(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


LIST_COLUMNS: Final = (
    "account",
    "tier",
    "score",
    "threshold",
    "of threshold",
    "coverage",
    "active stakeholders",
    "in MQA episode",
    "last touch",
)


def render_account_list(payload: dict[str, Any]) -> str:
    """The hottest accounts (the `/accounts` JSON as a page)."""
    tier = payload.get("tier")
    title = f"Hottest accounts{f', tier {tier}' if tier else ''}"
    rows = [
        (
            f'<a href="{esc(account_href(a["account_id"]))}">{esc(a["name"])}</a>',
            esc(a["tier"]),
            esc(_num(a["score"])),
            esc(_num(a["threshold"], 0)),
            esc(_num(100 * a["heat"], 0)) + "%",
            esc(_num(100 * a["coverage"], 0)) + "%",
            esc(a["active_stakeholders"]),
            "yes" if a["in_episode"] else "",
            esc(_when(a["last_touch"])),
        )
        for a in payload["accounts"]
    ]
    note = ""
    if payload.get("missing_workers"):
        note = (
            '<div class="sub">Incomplete: no answer from '
            f"{esc(', '.join(payload['missing_workers']))}.</div>"
        )
    body = (
        f"<h1>{esc(title)}</h1>"
        f'<div class="sub">as of {esc(_when(payload.get("as_of")))} (event time) · ranked by '
        "score as a share of the tier threshold</div>"
        + note
        + '<div class="card">'
        + _table(
            LIST_COLUMNS,
            rows,
            {2, 3, 4, 5, 6},
        )
        + "</div>"
    )
    return _page(title, body)


def render_message(title: str, message: str) -> str:
    return _page(title, f"<h1>{esc(title)}</h1><p>{esc(message)}</p>")
