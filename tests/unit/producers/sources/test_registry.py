"""The registry of webhook sources: what it refuses, that a source registered by one line is
picked up by the settings, the collector and the OpenAPI description, and that the docs, the
example settings and the tests name exactly the registered sources."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from producers.sources import REGISTERED, SOURCES, Registry, Source, load
from tests.conftest import REPO
from tests.unit.producers.sources.tiny_source import SECRET, TinySource

PRODUCERS_MD = REPO / "docs" / "producers.md"


def test_the_registry_holds_the_sources_in_their_order() -> None:
    assert SOURCES.names() == ("email", "zoom", "linkedin")
    assert SOURCES.message_id_prefixes == ("email:", "zoom:", "linkedin:")
    assert [source.path for source in SOURCES] == [
        "/webhooks/email",
        "/webhooks/zoom",
        "/webhooks/linkedin",
    ]


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("tiny", "is taken"),
        ("sdk", "is taken"),
        ("Tiny", "expected lower-case"),
        ("ti-ny", "expected lower-case"),
        ("", "expected lower-case"),
    ],
    ids=["twice", "the SDK id prefix", "upper case", "a dash", "empty"],
)
def test_a_taken_or_unusable_name_is_refused(name: str, refusal: str) -> None:
    registry = Registry()
    registry.register(TinySource())
    source = TinySource()
    source.name = name  # type: ignore[misc]  # an instance attribute, for this test only
    with pytest.raises(ValueError, match=refusal):
        registry.register(source)
    assert registry.names() == ("tiny",)


def test_only_source_classes_load() -> None:
    assert isinstance(load("tests.unit.producers.sources.tiny_source:TinySource"), TinySource)
    with pytest.raises(TypeError, match="not a Source subclass"):
        load("tests.unit.producers.sources.tiny_source:SECRET")


def test_each_source_is_a_module_of_its_own_with_its_test_module() -> None:
    for path, source in zip(REGISTERED, SOURCES, strict=True):
        assert path.partition(":")[0] == f"producers.sources.{source.name}", path
        assert isinstance(source, Source)
        test_module = REPO / "tests/unit/producers/sources" / f"test_{source.name}.py"
        assert test_module.is_file(), test_module


def observe_tiny_source(tmp_path: Path) -> dict[str, Any]:
    """Run `tiny_source` as a program, in a folder without `.env`, with its secret set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABM_")}
    env |= {"ABM_WEBHOOK_TINY_SECRET": SECRET, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.producers.sources.tiny_source"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    observed: dict[str, Any] = orjson.loads(done.stdout)
    return observed


def test_a_source_is_one_module_and_one_registry_line(tmp_path: Path) -> None:
    seen = observe_tiny_source(tmp_path)
    # settings: the secret is read from ABM_WEBHOOK_TINY_SECRET and passed to child processes
    assert seen["secrets"] == ["tiny"]
    assert seen["env"] == SECRET
    assert seen["field"] == TinySource.secret_description
    # the collector routes it, verifies, produces, refuses, and counts under its name
    assert "POST /webhooks/tiny" in seen["routes"]
    assert "GET /webhooks/tiny" not in seen["routes"]  # it has no handshake
    assert (seen["forged"][0], seen["forged"][1]["code"]) == (401, "bad_signature")
    assert seen["genuine"] == [200, {"success": True}]
    (message,) = seen["produced"]
    assert (message["messageId"], message["event"], message["userId"]) == (
        "tiny:t-1",
        "Tiny Signal",
        "dana@acme.com",
    )
    assert seen["not_configured"][0] == 404
    assert "ABM_WEBHOOK_TINY_SECRET" in seen["not_configured"][1]["message"]
    assert seen["counted"] == {"bad_signature": 1.0, "accepted": 1.0, "not_configured": 1.0}
    assert seen["sdk_message_id"] == "sdk:tiny:t-1"  # SDKs stay out of its id namespace
    # the OpenAPI description has its path, with its signature header
    operation = seen["openapi"]["post"]
    assert operation["summary"] == TinySource.summary
    assert [p["name"] for p in operation["parameters"]] == ["x-tiny-token"]


# --- the docs and the example settings name exactly the registered sources -----------------


def test_the_producers_page_documents_each_source_and_no_other() -> None:
    text = PRODUCERS_MD.read_text("utf-8")
    sections = set(re.findall(r"^### .*`POST (/webhooks/[a-z0-9_]+)`$", text, re.M))
    assert sections == {source.path for source in SOURCES}
    (secrets_row,) = [
        line
        for line in text.splitlines()
        if line.startswith("| `ABM_WEBHOOK_") and "_SECRET`" in line.split("|")[1]
    ]
    cell = secrets_row.split("|")[1]
    assert re.findall(r"`(ABM_WEBHOOK_\w+_SECRET)`", cell) == [s.env_var for s in SOURCES]
    (endpoints_row,) = [line for line in text.splitlines() if line.startswith("| `POST /webhooks/")]
    documented = re.findall(r"`(?:POST )?(/webhooks/[a-z0-9_]+)`", endpoints_row.split("|")[1])
    assert documented == [source.path for source in SOURCES]
    handshakes = set(re.findall(r"^\| `GET (/webhooks/[a-z0-9_]+)[?`]", text, re.M))
    assert handshakes == {s.path for s in SOURCES if s.handshake_operation is not None}


def test_the_example_settings_name_each_sources_secret() -> None:
    example = (REPO / ".env.example").read_text("utf-8")
    named = re.findall(r"^# (ABM_WEBHOOK_\w+_SECRET)=", example, re.M)
    assert named == [source.env_var for source in SOURCES]
