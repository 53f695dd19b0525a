"""How the account routes read a request: JSON or HTML, and the list's parameters."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from stream.web.routes import DEFAULT_LIMIT, MAX_LIMIT, _list_params, _wants_json


def request(query: dict[str, str] | None = None, accept: str | None = None) -> Any:
    return SimpleNamespace(query=query or {}, headers={} if accept is None else {"Accept": accept})


@pytest.mark.parametrize(
    ("query", "accept", "wanted"),
    [
        ({}, None, False),
        ({"format": "json"}, "text/html", True),
        ({}, "application/json", True),
        ({}, "text/html,application/json;q=0.9", False),  # a browser gets the page
        ({"format": "html"}, "text/html", False),
    ],
)
def test_json_is_for_format_json_or_a_client_that_accepts_only_json(
    query: dict[str, str], accept: str | None, wanted: bool
) -> None:
    assert _wants_json(request(query, accept)) is wanted


def test_the_list_parameters_default_and_parse() -> None:
    assert _list_params(request()) == (None, DEFAULT_LIMIT, None)
    parsed = _list_params(request({"tier": "2", "limit": "7", "at": "2026-03-02T09:00:00Z"}))
    assert parsed == (2, 7, 1_772_442_000_000)
    assert _list_params(request({"at": "1772442000000"}))[2] == 1_772_442_000_000


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"tier": "9"}, "tier='9'"),
        ({"tier": "one"}, "tier='one'"),
        ({"limit": "0"}, "limit='0'"),
        ({"limit": str(MAX_LIMIT + 1)}, f"limit='{MAX_LIMIT + 1}'"),
        ({"at": "yesterday"}, "at='yesterday'"),
    ],
)
def test_a_bad_list_parameter_is_refused_by_name(query: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        _list_params(request(query))
