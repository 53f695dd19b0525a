"""The import layering (docs/architecture.md, Layers), read from the source with `ast`:

0. `abm.core`: the pure core;
1. the rest of `abm` (settings, directory, plumbing, the offline tools) and the topic contract
   `stream.topics`;
2. `stream`, `producers`, `alerting`: the processes, each on its own (none imports another,
   apart from the topic contract);
3. `abm_cli` (the command line and the demo) and `bench`: on top.

A module imports only from its own layer and below, wherever the import sits (module level,
inside a function, under TYPE_CHECKING), with no exception, and the imports that run (all but
TYPE_CHECKING's, deferred ones inside functions included) form no circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("abm", "abm_cli", "stream", "producers", "alerting", "bench")
PROCESSES = ("stream", "producers", "alerting")


def layer(module: str) -> int:
    if module == "abm.core" or module.startswith("abm.core."):
        return 0
    if module.split(".")[0] == "abm" or module == "stream.topics":
        return 1
    if module.split(".")[0] in PROCESSES:
        return 2
    return 3


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def project_module(name: str) -> str | None:
    """The project module an imported name lives in (`pkg.mod.attr` -> `pkg.mod`)."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(path: Path, *, runtime_only: bool) -> Iterator[str]:
    """What a module imports; `runtime_only` leaves out the imports for the type checker
    (under `if TYPE_CHECKING:`), which never run."""
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` imports pkg.mod; `from mod import name` imports mod
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def arrows(*, runtime_only: bool) -> set[tuple[str, str]]:
    found = set()
    for name, path in modules().items():
        for imported in imports(path, runtime_only=runtime_only):
            target = project_module(imported)
            if target is not None and target != name:
                found.add((name, target))
    return found


def test_no_arrow_runs_up() -> None:
    upward = sorted(
        (source, target)
        for source, target in arrows(runtime_only=False)
        if layer(target) > layer(source)
    )
    assert upward == [], "imports that run up a layer:\n" + "\n".join(
        f"  {s} (layer {layer(s)}) -> {t} (layer {layer(t)})" for s, t in upward
    )


def test_the_processes_do_not_import_each_other() -> None:
    across = sorted(
        (source, target)
        for source, target in arrows(runtime_only=False)
        if layer(source) == layer(target) == 2 and source.split(".")[0] != target.split(".")[0]
    )
    assert across == [], "\n".join(f"  {s} -> {t}" for s, t in across)


def test_the_imports_that_run_form_no_circle() -> None:
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for source, target in arrows(runtime_only=True):
        graph[source].add(target)
    circles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert circles == [], f"import circles: {circles}"


def test_the_layers_are_read_as_documented() -> None:
    """The test guards what it claims: an upward arrow and a circle are seen."""
    assert layer("abm.core.state") == 0 and layer("abm.settings") == 1
    assert layer("stream.topics") == 1 and layer("stream.app") == 2
    assert layer("abm_cli.main") == 3 and layer("bench.common") == 3
    assert layer("producers.settings") == 2 and layer("abm_cli.settings") == 3
    assert ("abm_cli.main", "stream.worker") in arrows(runtime_only=False)
    circle = strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert sorted(map(sorted, circle)) == [["a", "b", "c"], ["d"]]


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found
