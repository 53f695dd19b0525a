"""What every page shares: the Content-Security-Policy, the style sheet, the page shell, and the
small formatters the page templates build on.

`esc` is the one way a value from the data reaches the HTML: element content and quoted
attributes alike. The templates call it on every value that comes from the data (account names,
contact keys, titles, URLs, event names, MQA summaries), so a touchpoint carrying markup cannot
inject anything; URLs from touchpoints are shown as text, never as links. The CSP forbids
scripts on top of that.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any, Final
from urllib.parse import quote

from abm.core.timefmt import when_text

CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"

STYLE: Final = """
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


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


when = when_text
"""An ISO time as `2026-03-02 09:00 UTC` (`abm.core.timefmt.when_text`, as the alerts show it)."""


def num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def role(name: str) -> str:
    """A role or requirement key (`decision_maker`) as words."""
    return name.replace("_", " ")


def badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{esc(text)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
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
