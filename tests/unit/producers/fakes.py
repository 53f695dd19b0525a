"""Stand-ins for the collector's Kafka sink, dedupe memory, router and suppression list, for
tests that run its HTTP handlers without Kafka or Redis."""

from __future__ import annotations

from typing import Any


class AcknowledgingSink:
    """A sink that acknowledges everything at once."""

    ready = True
    last_error = None

    def __init__(self) -> None:
        self.values: list[bytes] = []

    async def deliver(
        self, records: list[tuple[bytes, bytes]], timeout_s: float | None = None
    ) -> None:
        self.values.extend(value for _key, value in records)


class EmptyMemory:
    """A dedupe memory that has seen nothing and forgets everything."""

    async def seen(self, ids: list[str]) -> set[str]:
        return set()

    async def remember(self, ids: list[str]) -> None:
        return None


class FallbackRouter:
    """A router without a directory: every message keyed by its fallback (the person)."""

    async def keys_for(self, keyed: list[tuple[Any, str]]) -> list[str]:
        return [fallback for _message, fallback in keyed]


class NobodySuppressed:
    """An empty suppression list."""

    async def refresh(self) -> None:
        return None

    def suppresses(self, message: Any) -> bool:
        return False
