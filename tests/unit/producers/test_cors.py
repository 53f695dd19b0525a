"""Which pages may send to the collector from a browser (CORS)."""

from __future__ import annotations

import pytest

from producers.cors import DEFAULT_HEADERS, CorsPolicy, normalize_origin


@pytest.mark.parametrize(
    ("origin", "normal"),
    [
        ("https://www.Example.com", "https://www.example.com"),
        ("https://www.example.com:443", "https://www.example.com"),
        ("http://localhost:3000/", "http://localhost:3000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("null", None),
        ("file:///tmp/x.html", None),
        ("https://www.example.com/path", None),
        ("https://user@www.example.com", None),
        ("https://www.example.com:99999", None),
    ],
)
def test_normalize_origin(origin: str, normal: str | None) -> None:
    assert normalize_origin(origin) == normal


@pytest.mark.parametrize(
    ("setting", "origin", "allowed"),
    [
        ("", "http://localhost:3000", True),
        ("", "http://127.0.0.1:8000", True),
        ("", "http://[::1]", True),
        ("", "https://www.example.com", False),
        ("", "null", False),
        ("", "http://localhost.evil.example", False),
        ("https://www.example.com", "https://www.example.com", True),
        ("https://www.example.com", "https://WWW.example.com:443", True),
        ("https://www.example.com", "http://www.example.com", False),
        ("https://www.example.com", "https://example.com", False),
        ("https://www.example.com, https://shop.example.com", "https://shop.example.com", True),
        ("*", "https://anyone.example", True),
        ("*", "null", True),
    ],
)
def test_allowed_origins(setting: str, origin: str, allowed: bool) -> None:
    assert CorsPolicy.parse(setting).allows(origin) is allowed


@pytest.mark.parametrize("setting", ["www.example.com", "https://www.example.com/shop", "x, *"])
def test_a_setting_that_is_not_a_list_of_origins_is_refused_by_name(setting: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        CorsPolicy.parse(setting)


def test_preflight_headers() -> None:
    policy = CorsPolicy.parse("")
    origin = "http://localhost:3000"
    asked = {"Access-Control-Request-Headers": "authorization,content-type,x-retry-count"}
    headers = policy.preflight_headers(origin, asked)
    assert headers["Access-Control-Allow-Origin"] == origin
    assert headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert headers["Access-Control-Allow-Headers"] == asked["Access-Control-Request-Headers"]
    # a malformed list gets the default one, never echoed
    bad = {"Access-Control-Request-Headers": "x\r\nSet-Cookie: a=b"}
    assert policy.preflight_headers(origin, bad)["Access-Control-Allow-Headers"] == DEFAULT_HEADERS
    assert policy.answer_headers(origin)["Vary"] == "Origin"
