"""The hottest accounts (`/accounts` as HTML): the JSON payload of the route, as a table."""

from __future__ import annotations

from typing import Any, Final

from stream.web.templates.base import account_href, esc, num, page, table, when

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
            esc(num(a["score"])),
            esc(num(a["threshold"], 0)),
            esc(num(100 * a["heat"], 0)) + "%",
            esc(num(100 * a["coverage"], 0)) + "%",
            esc(a["active_stakeholders"]),
            "yes" if a["in_episode"] else "",
            esc(when(a["last_touch"])),
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
        f'<div class="sub">as of {esc(when(payload.get("as_of")))} (event time) · ranked by '
        "score as a share of the tier threshold</div>"
        + note
        + '<div class="card">'
        + table(
            LIST_COLUMNS,
            rows,
            {2, 3, 4, 5, 6},
        )
        + "</div>"
    )
    return page(title, body)
