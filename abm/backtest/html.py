"""The backtest report as one self-contained HTML page: inline CSS and SVG charts, no script,
no external asset (it opens offline and can be mailed as one file).

It renders the figures of `abm.core.backtest.compare` and nothing else, so the page and the
JSON next to it always say the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final

COLORS: Final = ("#8a8f98", "#1f6feb")
"""Baseline grey, candidate blue."""
_CSS: Final = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1080px;color:#1b1f24;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0}td,th{border:1px solid #d0d7de;padding:.3rem .6rem;
text-align:right;vertical-align:top}th{background:#f6f8fa}td.l,th.l{text-align:left}
.muted{color:#57606a}.key{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;
vertical-align:middle}.better{color:#1a7f37;font-weight:600}td.t{white-space:nowrap}
"""


def render(report: Mapping[str, Any]) -> str:
    """The whole page for the figures of one backtest."""
    models: Mapping[str, Any] = report["models"]
    labels = list(models)
    window = report["window"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>Backtest: " + " vs ".join(escape(m["version"]) for m in models.values()),
        f"</title><style>{_CSS}</style></head><body>",
        "<h1>Backtest of the MQA rule</h1>",
        f"<p class=muted>{report['touchpoints']:,} touchpoints, MQAs counted from "
        f"{escape(window['from'][:10])} to {escape(window['to'][:10])} ({window['days']:g} days; "
        f"the state before is built from {escape(window['warmup_from'][:10])}). An MQA converts "
        f"when its account opens an opportunity within {report['conversion_days']} days.</p>",
        _legend(models),
        "<h2>Summary</h2>",
        _summary(models, report),
        "<h2>MQAs per week</h2>",
        _bar_chart(
            report["weeks"],
            {
                label: [sum(w[f"tier_{t}"] for t in (1, 2, 3)) for w in m["per_week"]]
                for label, m in models.items()
            },
            "MQAs",
        ),
        _weekly_table(models, report["weeks"]),
        "<h2>Lead time from MQA to opportunity</h2>",
    ]
    if report["opportunities"] is None:
        parts.append("<p>No opportunities are loaded (<code>abm outcomes load</code>), so there "
                     "are no conversion figures.</p>")  # fmt: skip
    else:
        bins = models[labels[0]]["outcomes"]["lead_time_histogram"]
        parts.append(
            _bar_chart(
                [f"{b['from_days']}-{b['to_days']} d" for b in bins],
                {
                    label: [b["mqas"] for b in m["outcomes"]["lead_time_histogram"]]
                    for label, m in models.items()
                },
                "converted MQAs",
            )
        )
    parts.append("<h2>AE verdicts</h2>")
    parts.append(_verdicts(report))
    parts.append("<h2>Accounts that qualify under one model only</h2>")
    for label in labels:
        parts.append(_only_table(label, report["differences"][f"only_{label}"]))
    parts.append("<h2>Opportunities no MQA preceded (missed)</h2>")
    if report["opportunities"] is None:
        parts.append("<p>No opportunities are loaded.</p>")
    else:
        for label, m in models.items():
            parts.append(_missed_table(label, m["outcomes"]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _legend(models: Mapping[str, Any]) -> str:
    keys = "".join(
        f'<span class=key style="background:{COLORS[i % 2]}"></span>{escape(label)}: '
        f"<code>{escape(m['source'])}</code> (version {escape(m['version'])})"
        for i, (label, m) in enumerate(models.items())
    )
    return f"<p>{keys}</p>"


def _number(value: Any, kind: str = "") -> str:
    if value is None:
        return "–"
    if kind == "share":
        return f"{value:.0%}"
    if kind == "money":
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:g}"
    return f"{value:,}"


_ROWS: Final = (
    ("MQAs", "mqas", "", None),
    ("accounts qualified", "accounts", "", None),
    ("tier 1 / 2 / 3", "by_tier", "", None),
    ("MQAs that converted", "outcomes.converted", "", "up"),
    ("share converted (precision)", "outcomes.precision", "share", "up"),
    ("median lead time, days", "outcomes.median_lead_days", "", None),
    ("MQAs without an opportunity", "outcomes.false_mqas", "", "down"),
    ("opportunities found", "outcomes.opportunities_found", "", "up"),
    ("opportunities missed", "outcomes.opportunities_missed", "", "down"),
    ("recall against opportunities", "outcomes.recall", "share", "up"),
    ("pipeline behind MQAs", "outcomes.pipeline_amount", "money", "up"),
    ("won behind MQAs", "outcomes.won_amount", "money", "up"),
    ("pass time, s", "seconds", "", None),
)


def _get(figures: Mapping[str, Any], path: str) -> Any:
    value: Any = figures
    for part in path.split("."):
        if value is None:
            return None
        value = value[part]
    return value


def _summary(models: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    labels = list(models)
    head = "".join(f"<th>{escape(label)}</th>" for label in labels)
    rows = []
    for title, path, kind, better in _ROWS:
        values = [_get(models[label], path) for label in labels]
        if path == "by_tier":
            cells = [" / ".join(str(v[t]) for t in ("1", "2", "3")) for v in values]
            rows.append(f"<tr><td class=l>{title}</td>" + "".join(f"<td>{c}</td>" for c in cells))
            continue
        best = _best(values, better)
        cells = [
            f"<td{' class=better' if i == best else ''}>{_number(v, kind)}</td>"
            for i, v in enumerate(values)
        ]
        rows.append(f"<tr><td class=l>{title}</td>{''.join(cells)}</tr>")
    total = report["opportunities"]
    note = (
        f"<p class=muted>{total:,} opportunities created in the window or within "
        f"{report['conversion_days']} days after it.</p>"
        if total is not None
        else ""
    )
    return f"<table><tr><th class=l></th>{head}</tr>{''.join(rows)}</table>{note}"


def _best(values: Sequence[Any], better: str | None) -> int | None:
    """Index of the better of two figures, None when equal, missing or not comparable."""
    if better is None or len(values) != 2 or None in values or values[0] == values[1]:
        return None
    higher = 0 if values[0] > values[1] else 1
    return higher if better == "up" else 1 - higher


def _bar_chart(categories: Sequence[str], series: Mapping[str, Sequence[int]], unit: str) -> str:
    """Grouped bars, one colour per model, with the value over each bar."""
    width, height, left, bottom, top = 1000, 260, 40, 40, 16
    top_value = max([1, *(v for values in series.values() for v in values)])
    slot = (width - left) / max(1, len(categories))
    bar = max(2.0, slot * 0.8 / max(1, len(series)))
    plot = height - bottom - top
    shapes = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(unit)}">',
        f'<line x1="{left}" y1="{top + plot}" x2="{width}" y2="{top + plot}" stroke="#57606a"/>',
        f'<text x="4" y="{top + 10}" font-size="11" fill="#57606a">{top_value}</text>',
        f'<text x="4" y="{top + plot}" font-size="11" fill="#57606a">0</text>',
    ]
    for i, category in enumerate(categories):
        x0 = left + i * slot + slot * 0.1
        for j, (label, values) in enumerate(series.items()):
            value = values[i]
            h = plot * value / top_value
            x = x0 + j * bar
            shapes.append(
                f'<rect x="{x:.1f}" y="{top + plot - h:.1f}" width="{bar - 1:.1f}" '
                f'height="{h:.1f}" fill="{COLORS[j % 2]}"><title>{escape(label)}, '
                f"{escape(category)}: {value} {escape(unit)}</title></rect>"
            )
            if value:
                shapes.append(
                    f'<text x="{x + bar / 2:.1f}" y="{top + plot - h - 3:.1f}" font-size="10" '
                    f'text-anchor="middle">{value}</text>'
                )
        shapes.append(
            f'<text x="{x0 + slot * 0.4:.1f}" y="{height - bottom + 16}" font-size="10" '
            f'text-anchor="middle" fill="#57606a">{escape(category)}</text>'
        )
    shapes.append("</svg>")
    return "".join(shapes)


def _weekly_table(models: Mapping[str, Any], weeks: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(label)} tier {t}</th>" for label in models for t in (1, 2, 3))
    rows = []
    for i, week in enumerate(weeks):
        cells = "".join(
            f"<td>{m['per_week'][i][f'tier_{t}']}</td>" for m in models.values() for t in (1, 2, 3)
        )
        rows.append(f"<tr><td class=l>{escape(week)}</td>{cells}</tr>")
    return (
        "<details><summary>MQAs per tier per week (weeks start on Monday, UTC)</summary>"
        f"<table><tr><th class=l>week</th>{head}</tr>{''.join(rows)}</table></details>"
    )


def _only_table(label: str, only: Mapping[str, Any]) -> str:
    title = f"<h3>Only under {escape(label)}: {only['accounts']} account(s)</h3>"
    if not only["listed"]:
        return title
    rows = "".join(
        f"<tr><td class=l>{escape(r['account_name'])} <span class=muted>"
        f"({escape(r['account_id'])})</span></td><td>{r['tier']}</td>"
        f"<td class='l t'>{escape(r['qualified_at'][:16].replace('T', ' '))}</td>"
        f"<td class=l>{escape(r['rule'])}</td><td class=l>{escape(r['why'])}</td></tr>"
        for r in only["listed"]
    )
    more = (
        f"<p class=muted>and {only['not_listed']} more (in the JSON)</p>"
        if only["not_listed"]
        else ""
    )
    return (
        f"{title}<table><tr><th class=l>account</th><th>tier</th><th class=l>first MQA (UTC)</th>"
        f"<th class=l>rule</th><th class=l>why</th></tr>{rows}</table>{more}"
    )


_VERDICT_ROWS: Final = (
    ("MQAs an AE judged", "mqas_judged"),
    ("verdicts: good lead", "good"),
    ("verdicts: not a fit", "not_a_fit"),
    ("MQAs judged good", "mqas_judged_good"),
    ("... of those converted", "good_converted"),
    ("MQAs judged not a fit", "mqas_judged_not_a_fit"),
    ("... of those converted", "not_a_fit_converted"),
)


def _verdicts(report: Mapping[str, Any]) -> str:
    verdicts = report.get("verdicts")
    if verdicts is None:
        why = report.get("verdicts_note") or "they were not read"
        return f"<p>No AE verdicts in this report: {escape(why)}.</p>"
    models = verdicts["models"]
    head = "".join(f"<th>{escape(label)}</th>" for label in models)
    rows = "".join(
        f"<tr><td class=l>{title}</td>"
        + "".join(f"<td>{_number(m[key])}</td>" for m in models.values())
        + "</tr>"
        for title, key in _VERDICT_ROWS
    )
    return (
        f"<p class=muted>{verdicts['mqas_with_verdicts']:,} live MQA(s) have a verdict from the "
        "Slack buttons or the e-mail links (the latest of each person); they are matched to "
        "each model's MQAs by MQA id, which includes the model version, so only a model of the "
        "live version that qualifies the same account at the same moment carries them.</p>"
        f"<table><tr><th class=l></th>{head}</tr>{rows}</table>"
    )


def _missed_table(label: str, outcomes: Mapping[str, Any]) -> str:
    title = f"<h3>{escape(label)}: {outcomes['opportunities_missed']} missed</h3>"
    if not outcomes["missed_list"]:
        return title
    rows = "".join(
        f"<tr><td class=l>{escape(o['opportunity_id'])}</td><td class=l>"
        f"{escape(o['account_id'])}</td><td class=l>{escape(o['created_at'][:10])}</td>"
        f"<td class=l>{escape(o['stage'])}</td><td>{_number(o['amount'], 'money')}</td>"
        f"<td class=l>{escape(o['outcome'])}</td></tr>"
        for o in outcomes["missed_list"]
    )
    more = (
        f"<p class=muted>and {outcomes['missed_not_listed']} more</p>"
        if outcomes["missed_not_listed"]
        else ""
    )
    return (
        f"{title}<table><tr><th class=l>opportunity</th><th class=l>account</th>"
        f"<th class=l>created</th><th class=l>stage</th><th>amount</th>"
        f"<th class=l>outcome</th></tr>{rows}</table>{more}"
    )
