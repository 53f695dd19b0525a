"""The count of a fault run: for each alert the run expected (an MQA of the reference, on a
channel), what the provider received and what was dead-lettered, by the fault kind of the round
in which its touchpoints were sent. Pure: no I/O.

- expected: (alert id, channel) pairs the run expects: every MQA of the in-memory reference
  (`abm.core.offline`) for the touchpoints sent, on every channel.
- sent: expected alerts the provider received at least once.
- duplicated: receptions beyond the first of an expected alert (a message received 3 times
  counts 2), plus every reception of an alert nobody expected.
- unconfirmed: expected alerts dead-lettered with reason `unconfirmed` (the provider may or may
  not have them: `unconfirmed_received` says how many it did have).
- dead: expected alerts dead-lettered for another reason (retries exhausted, no route) and not
  received.
- lost: expected alerts the provider never received and that have no dead letter: gone
  without a trace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class DeadLetter:
    alert_id: str
    channel: str
    reason: str


@dataclass
class Row:
    kind: str
    channel: str
    expected: int = 0
    sent: int = 0
    duplicated: int = 0
    unconfirmed: int = 0
    unconfirmed_received: int = 0
    dead: int = 0
    lost: int = 0

    def add(self, other: Row) -> None:
        for name in ("expected", "sent", "duplicated", "unconfirmed", "unconfirmed_received",
                     "dead", "lost"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))


def tally(
    expected: Mapping[tuple[str, str], str],
    received: Mapping[str, Counter[str]],
    dead_letters: Iterable[DeadLetter],
) -> list[Row]:
    """`expected`: (alert id, channel) -> fault kind; `received`: channel -> alert id -> times
    the provider took it. One row per (fault kind, channel) in order of first appearance, then
    a row `unexpected` per channel when a provider received an alert nobody expected."""
    reasons: dict[tuple[str, str], set[str]] = {}
    for letter in dead_letters:
        reasons.setdefault((letter.alert_id, letter.channel), set()).add(letter.reason)
    rows: dict[tuple[str, str], Row] = {}
    for (alert_id, channel), kind in expected.items():
        row = rows.setdefault((kind, channel), Row(kind, channel))
        row.expected += 1
        times = received.get(channel, Counter())[alert_id]
        why = reasons.get((alert_id, channel), set())
        if times:
            row.sent += 1
            row.duplicated += times - 1
        if "unconfirmed" in why:
            row.unconfirmed += 1
            row.unconfirmed_received += 1 if times else 0
        elif why and not times:
            row.dead += 1
        if not times and not why:
            row.lost += 1
    for channel, counts in received.items():
        extra = sum(n for alert_id, n in counts.items() if (alert_id, channel) not in expected)
        if extra:
            rows[("unexpected", channel)] = Row("unexpected", channel, duplicated=extra)
    return list(rows.values())


def total(rows: Iterable[Row]) -> Row:
    whole = Row("total", "all")
    for row in rows:
        whole.add(row)
    return whole


COLUMNS = ("fault", "channel", "expected", "sent", "duplicated", "unconfirmed", "dead", "lost")


def table(rows: list[Row]) -> str:
    """The rows and their total as a fixed-width text table (also valid Markdown)."""
    lines = [
        [r.kind, r.channel, str(r.expected), str(r.sent), str(r.duplicated),
         f"{r.unconfirmed} ({r.unconfirmed_received} received)" if r.unconfirmed
         else "0", str(r.dead), str(r.lost)]
        for r in [*rows, total(rows)]
    ]  # fmt: skip
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(COLUMNS)]

    def fmt(cells: Iterable[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([fmt(COLUMNS), fmt("-" * w for w in widths), *map(fmt, lines)])
