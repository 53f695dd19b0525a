"""What a pure module may not import (the core, the alerting rules and renderers), and the
check that reads a module's imports with `ast`."""

from __future__ import annotations

import ast

FORBIDDEN = frozenset({"faust", "mode", "aiokafka", "kafka", "redis"})


def forbidden_imports(source: str) -> list[str]:
    """Top-level packages from FORBIDDEN that `source` imports, in order of appearance."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.extend(name for name in names if name.split(".")[0] in FORBIDDEN)
    return found
