"""The collector's configuration checks, and its routes against its OpenAPI description."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pydantic import SecretStr

from abm.settings import Settings
from producers.collector import Collector, config_problem, make_app
from producers.openapi import openapi_document


@pytest.mark.parametrize(
    ("host", "keys", "problem"),
    [
        ("127.0.0.1", "abm-dev-write-key", None),
        ("0.0.0.0", "my-own-key", None),
        ("0.0.0.0", "my-own-key,abm-dev-write-key", "development write key"),
        ("127.0.0.1", " , ", "names no write key"),
    ],
    ids=[
        "the dev key on loopback is fine",
        "own keys anywhere",
        "the dev key beyond loopback is refused",
        "no key at all",
    ],
)
def test_config_problem(host: str, keys: str, problem: str | None) -> None:
    settings = Settings(collector_host=host, collector_write_keys=SecretStr(keys))
    found = config_problem(settings)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_every_route_is_described_in_the_openapi_document() -> None:
    collector = Collector(Settings(), cast(Any, None), cast(Any, None), cast(Any, None))
    app = make_app(collector)
    routes = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    described = {
        (method, path) for path, item in openapi_document()["paths"].items() for method in item
    } | {("get", "/openapi.json")}
    assert routes == described
