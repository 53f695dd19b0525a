"""The core stays framework-free: no stream, broker or store client is imported under abm/core."""

from __future__ import annotations

from pathlib import Path

import pytest

import abm.core
from tests.support.purity import forbidden_imports

CORE_DIR = Path(abm.core.__file__).parent
CORE_MODULES = sorted(CORE_DIR.rglob("*.py"))


def test_the_core_package_has_modules_to_check() -> None:
    names = {path.name for path in CORE_MODULES}
    assert {"engagement.py", "segment.py", "model.py", "state.py"} <= names


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda path: path.name)
def test_core_module_imports_no_framework(module: Path) -> None:
    assert forbidden_imports(module.read_text("utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import faust", ["faust"]),
        ("import mode.utils.objects", ["mode.utils.objects"]),
        ("from aiokafka import AIOKafkaProducer", ["aiokafka"]),
        ("from kafka.errors import KafkaError", ["kafka.errors"]),
        ("import json, redis", ["redis"]),
        ("def f():\n    import redis.asyncio\n", ["redis.asyncio"]),
        ("import orjson\nfrom abm.core import decay", []),
        ("from . import mode", []),
        ("import modelling, kafkaesque", []),
    ],
    ids=[
        "a plain import of faust is caught",
        "a dotted import of mode is caught",
        "a from-import of aiokafka is caught",
        "a from-import of a kafka submodule is caught",
        "redis among other imports is caught",
        "an import inside a function is caught",
        "pure imports pass",
        "a relative import of a local module named mode passes",
        "packages that merely start with a forbidden name pass",
    ],
)
def test_the_import_check_itself(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source) == expected
