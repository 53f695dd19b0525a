"""The pure core's citations of the docs point at what exists: every `docs/<name>.md` that a
docstring or comment of `abm/core/` names is a file, and every section it names after it (in
quotes: `docs/scoring.md, "Decay"` or `docs/events.md ("Bounded account state")`) is one of
that file's headings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "abm" / "core"
CITATION = re.compile(r'docs/([\w.-]+\.md)(?:(?:,\s*|\s+\()("[^"]+"(?:,\s*"[^"]+")*))?')
QUOTED = re.compile(r'"([^"]+)"')
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def sections(match: re.Match[str]) -> list[str]:
    """The sections a citation names; one may run over a line break and an indentation."""
    return [" ".join(q.split()) for q in QUOTED.findall(match.group(2) or "")]


def citations() -> list[tuple[str, str, str | None]]:
    """(citing file, cited doc, cited section or None) for every citation in the core."""
    found: list[tuple[str, str, str | None]] = []
    for path in sorted([*CORE.glob("*.py"), *CORE.glob("*.yaml")]):
        for match in CITATION.finditer(path.read_text("utf-8")):
            named: list[str | None] = [*sections(match)] or [None]
            found.extend((path.name, match.group(1), s) for s in named)
    return found


def headings(doc: str) -> set[str]:
    text = (REPO / "docs" / doc).read_text("utf-8")
    return {m.group(1) for m in HEADING.finditer(text)}


def test_the_core_cites_the_scoring_rules() -> None:
    cited = {(doc, section) for _, doc, section in citations()}
    assert ("scoring.md", "The threshold rule") in cited
    assert ("events.md", "Bounded account state") in cited


@pytest.mark.parametrize(("source", "doc", "section"), citations())
def test_a_cited_doc_and_section_exist(source: str, doc: str, section: str | None) -> None:
    assert (REPO / "docs" / doc).is_file(), f"abm/core/{source} cites docs/{doc}: no such file"
    if section is not None:
        assert section in headings(doc), (
            f'abm/core/{source} cites docs/{doc}, "{section}": no such heading'
        )


def test_the_citation_pattern_reads_both_forms() -> None:
    text = 'see docs/a.md, "One\n    two" and docs/b.md ("Three", "Four") and docs/c.md alone'
    assert [(m.group(1), sections(m)) for m in CITATION.finditer(text)] == [
        ("a.md", ["One two"]),
        ("b.md", ["Three", "Four"]),
        ("c.md", []),
    ]
