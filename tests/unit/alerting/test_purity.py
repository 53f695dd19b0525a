"""The alerting rules and renderers stay pure: no broker, store or network client imported."""

from __future__ import annotations

from pathlib import Path

import pytest

import alerting
from tests.support.purity import forbidden_imports

PURE = ("activity", "content", "email_render", "render", "recipients", "retry", "signing", "sla",
        "slack_blocks")  # fmt: skip
NETWORK = frozenset({"aiohttp", "aiosmtplib", "slack_sdk"})


@pytest.mark.parametrize("name", PURE)
def test_pure_alerting_module_imports_no_client(name: str) -> None:
    source = (Path(alerting.__file__).parent / f"{name}.py").read_text("utf-8")
    assert forbidden_imports(source) == []
    assert [line for line in source.splitlines()
            if line.startswith(("import ", "from ")) and line.split()[1].split(".")[0] in NETWORK
            ] == []  # fmt: skip
