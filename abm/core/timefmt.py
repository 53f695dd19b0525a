"""Event-time helpers. Every time inside the engine is integer epoch milliseconds (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def parse_iso_ms(text: str) -> int:
    """ISO-8601 (Segment's `timestamp`) to epoch ms. A missing zone means UTC.

    Raises ValueError with a readable message for anything else.
    """
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Integer arithmetic: float seconds * 1000 truncates some times one millisecond short.
    return (parsed - _EPOCH) // _ONE_MS


def iso_ms(epoch_ms: int) -> str:
    """Epoch ms to ISO-8601 UTC with millisecond precision and a `Z`."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def day_index(epoch_ms: int) -> int:
    """The UTC calendar day number of an event time (days since 1970-01-01)."""
    return epoch_ms // DAY_MS


def when_text(iso: str | None) -> str:
    """An ISO time for people, to the minute: `2026-03-02T09:00:00.000Z` -> `2026-03-02 09:00
    UTC`; `-` for none. What the alerts, the console and the account pages show."""
    if not iso:
        return "-"
    return iso.replace("T", " ")[:16] + " UTC"
