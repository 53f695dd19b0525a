"""The account pages served from the table by two workers (stream/web/): every account answers
the same from either worker (table routing), the JSON explains the MQA, the hottest-accounts list
is gathered across workers, bad requests are answered clearly, the HTML escapes what comes from
the data, and headless Chromium renders the page."""

from __future__ import annotations

import html
import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from abm.core.model import load_model
from abm.core.privacy import clear_key_pseudonym, pseudonyms_in, reveal
from abm.core.reach import hottest, reference_ms, standing
from tests.integration.ops.stack import Stack
from tests.support.ops_tools import http_get, png_size, rendered_dom, samples, scrape, screenshot

pytestmark = pytest.mark.integration


def account_json(stack: Stack, worker: int, account_id: str) -> dict[str, Any]:
    status, content_type, body = http_get(
        stack.url(worker, f"/accounts/{account_id}"), accept="application/json"
    )
    assert status == 200, body[:500]
    assert content_type.startswith("application/json")
    answer: dict[str, Any] = orjson.loads(body)
    return answer


def account_requests(stack: Stack) -> list[float]:
    return [
        sum(
            v
            for labels, v in samples(scrape(port), "abm_account_requests_total")
            if labels == {"endpoint": "account", "code": "200"}
        )
        for port in stack.ports
    ]


def test_every_worker_answers_for_every_account_via_table_routing(stack: Stack) -> None:
    ids = sorted(a.account_id for a in stack.story.accounts)
    before = account_requests(stack)
    views = {i: [account_json(stack, w, i) for w in (0, 1)] for i in ids}
    after = account_requests(stack)
    for account_id, (first, second) in views.items():
        assert first == second, account_id
        assert first["account"]["id"] == account_id
    served = [b - a for a, b in zip(before, after, strict=True)]
    # each account is served by its owner only, whichever worker was asked
    assert sum(served) == 2 * len(ids) and all(n % 2 == 0 for n in served), served


def test_the_account_json_explains_the_mqa(stack: Stack) -> None:
    view = account_json(stack, 0, "northwind")
    [mqa] = [m for m in stack.mqas if m["account"]["id"] == "northwind"]
    assert view["mqa_history"][0]["mqa_id"] == mqa["mqa_id"]
    # the topic names persons by pseudonym; the page by the e-mails the directory gives them
    assert "@northwind.example" not in orjson.dumps(mqa).decode()
    secret = stack.settings.pseudonym_secret()
    names = {clear_key_pseudonym(c.email, secret): c.email for c in stack.story.contacts}
    assert view["mqa_history"][0]["event"] == reveal(mqa, names)
    assert not pseudonyms_in(view)
    assert view["threshold"] == 100 and view["coverage"] == 1.0
    assert {s["role"] for s in view["stakeholders"]} >= {"decision_maker", "champion"}
    assert len(view["timeline"]) == 20 and view["timeline"][0]["at"] >= view["timeline"][-1]["at"]
    assert len(view["score_history"]["points"]) == 90
    assert max(p["score"] for p in view["score_history"]["points"]) >= 100


def test_the_hottest_accounts_are_gathered_from_every_worker(stack: Stack) -> None:
    lists = []
    for worker in (0, 1):
        status, _, body = http_get(stack.url(worker, "/accounts?limit=10"), "application/json")
        assert status == 200, body[:300]
        lists.append(orjson.loads(body))
    assert lists[0]["accounts"] == lists[1]["accounts"]
    for payload in lists:
        assert payload["workers"] == 2 and payload["missing_workers"] == []
    model = load_model()
    states = list(stack.reference.states.values())
    at = reference_ms(states)
    expected = hottest([standing(s, model, at) for s in states], None, 10)
    assert [a["account_id"] for a in lists[0]["accounts"]] == [s.account_id for s in expected]
    status, _, body = http_get(stack.url(1, "/accounts?tier=2"), "application/json")
    assert [a["account_id"] for a in orjson.loads(body)["accounts"]] == ["northwind"]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/accounts/nobody-here", 404), ("/accounts?tier=9", 400), ("/accounts?limit=0", 400)],
)
def test_bad_requests_are_answered_clearly(stack: Stack, path: str, status: int) -> None:
    code, _, body = http_get(stack.url(0, path), "application/json")
    assert code == status
    assert orjson.loads(body)["error"]


@pytest.mark.parametrize("worker", [0, 1])
def test_the_account_page_escapes_everything_from_the_data(stack: Stack, worker: int) -> None:
    status, content_type, body = http_get(stack.url(worker, "/accounts/evil"), "text/html")
    page = body.decode()
    assert status == 200 and content_type.startswith("text/html")
    assert "<script" not in page and "<img" not in page
    assert "Evil &lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt; Corp" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_account_page_renders_in_chromium(stack: Stack, tmp_path: Path) -> None:
    url = stack.url(1, "/accounts/northwind")
    dom = rendered_dom(url)
    [mqa] = [m for m in stack.mqas if m["account"]["id"] == "northwind"]
    for text in (
        "Northwind BV",
        "in MQA episode",
        "Buying-group coverage 100%",
        "decision maker",
        "p0@northwind.example",
        "Touchpoint timeline",
        "pricing page",
        "Score, last 90 days",
        "<polyline",
        "threshold 100",
        "MQA history",
        mqa["mqa_id"],
        html.escape(mqa["summary"], quote=False),  # names nobody: a threshold MQA
    ):
        assert text in dom, text
    shot = tmp_path / "account-page.png"
    screenshot(url, shot, height=2300)
    width, height = png_size(shot)
    assert (width, height) == (1280, 2300)
    target = os.environ.get("ABM_SCREENSHOT_OUT")
    if target:
        shutil.copyfile(shot, target)
