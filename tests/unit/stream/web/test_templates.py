"""The account pages' HTML: every value from the data is escaped, the chart draws what is known."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from abm.core.account_view import account_view
from abm.core.records import AccountRecord
from stream.web.templates.account import render_account
from stream.web.templates.account_list import render_account_list
from stream.web.templates.base import account_href
from stream.web.templates.svg import score_chart
from tests.support.factories import (
    DM,
    HOUR,
    T0,
    account,
    default_model,
    page,
    qualifying_group,
    replay,
    touchpoint,
)

OUR_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "div", "span", "table",
    "thead", "tbody", "tr", "th", "td", "ul", "li", "b", "a", "p", "svg", "rect", "line", "text",
    "polyline",
}  # fmt: skip
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(name for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page_html: str) -> Tags:
    parser = Tags()
    parser.feed(page_html)
    return parser


def evil_view() -> dict[str, Any]:
    record: AccountRecord = account("ev/il", name=f"Corp {EVIL}", owner_email=f"ae{EVIL}")
    who = {**DM, "contact": f"dana{EVIL}@acme.com", "role": "decision_maker"}
    state, _ = replay(
        [
            *qualifying_group(T0, record),
            page(f"/pricing/{EVIL}", at_ms=T0 + HOUR, account_record=record, **who),
            touchpoint(f"Custom {EVIL}", at_ms=T0 + 2 * HOUR, account_record=record,
                       title=EVIL, **who),
        ]
    )  # fmt: skip
    return account_view(state, default_model())


def test_no_markup_from_the_data_reaches_the_page() -> None:
    view = evil_view()
    html_text = render_account(view)
    parsed = parse(html_text)
    assert set(parsed.tags) <= OUR_TAGS
    assert not [a for a in parsed.attributes if a.startswith("on")]
    assert "<script" not in html_text and "<img" not in html_text
    text = "".join(parsed.text)
    assert f"Corp {EVIL}" in text  # shown as text, exactly
    assert f"https://www.vendor.example/pricing/{EVIL}" in text


def test_the_list_page_escapes_names_and_links() -> None:
    row = {
        "account_id": 'a"b/c', "name": EVIL, "tier": 1, "score": 80.0, "threshold": 70.0,
        "heat": 1.14, "coverage": 0.75, "active_stakeholders": 3, "in_episode": True,
        "last_touch": "2026-03-02T09:00:00.000Z",
    }  # fmt: skip
    page_html = render_account_list({"tier": 1, "as_of": None, "accounts": [row]})
    parsed = parse(page_html)
    assert set(parsed.tags) <= OUR_TAGS
    assert 'href="/accounts/a%22b%2Fc"' in page_html


def test_account_href_quotes_every_reserved_character() -> None:
    assert account_href("acme") == "/accounts/acme"
    assert account_href("a/b?c#d e") == "/accounts/a%2Fb%3Fc%23d%20e"


def test_chart_leaves_a_gap_where_the_history_is_unknown() -> None:
    points = [
        {"at": f"2026-03-0{d}T00:00:00.000Z", "at_ms": T0 + d * 24 * HOUR, "score": s}
        for d, s in ((1, None), (2, 10.0), (3, 20.0), (4, None), (5, 30.0), (6, 40.0))
    ]
    svg = score_chart(points, 70.0, 42.0, [])
    assert svg.count("<polyline") == 2
    assert "threshold 70" in svg and "exit 42" in svg


def test_chart_marks_the_mqas() -> None:
    points = [
        {"at": "2026-03-01T00:00:00.000Z", "at_ms": T0, "score": 0.0},
        {"at": "2026-03-02T00:00:00.000Z", "at_ms": T0 + 24 * HOUR, "score": 90.0},
    ]
    svg = score_chart(points, 70.0, 42.0, [{"qualified_at_ms": T0 + 12 * HOUR, "rule": "act_now"}])
    assert "MQA (act now)" in svg
