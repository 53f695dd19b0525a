"""The registry of webhook sources. A source is one module of this package with a
`producers.sources.base.Source` subclass, plus one line in `REGISTERED`; the collector's routes,
its OpenAPI description, the settings (`ABM_WEBHOOK_{NAME}_SECRET`) and the docs check all
iterate over `SOURCES` (docs/architecture.md, Sources)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Final

from producers.sources.base import Delivery, Source

__all__ = ["REGISTERED", "SOURCES", "Delivery", "Registry", "Source"]

REGISTERED: Final = (
    "producers.sources.email:EmailSource",
    "producers.sources.zoom:ZoomSource",
    "producers.sources.linkedin:LinkedInSource",
)
"""`module:Class` of every source, in the order the collector routes and documents them."""

_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
RESERVED: Final = frozenset({"sdk"})
"""Names no source may take: `sdk:` is the prefix of SDK messageIds moved out of the webhooks'
namespace (`producers.ingest.SDK_ID_PREFIX`)."""


class Registry:
    """The sources by name, in registration order."""

    def __init__(self) -> None:
        self._sources: dict[str, Source] = {}
        self.message_id_prefixes: tuple[str, ...] = ()
        """`{name}:` of every source: the webhooks' own messageId namespace, which SDK
        messages may not enter (`producers.ingest.prepare`)."""

    def register(self, source: Source) -> Source:
        """Add `source`; its name must be new and usable in a path, a metric label and an
        environment variable name (lower-case letters, digits, `_`)."""
        name = getattr(source, "name", None)
        if not isinstance(name, str) or _NAME.fullmatch(name) is None:
            raise ValueError(f"source name {name!r}: expected lower-case letters, digits and _")
        if name in self._sources or name in RESERVED:
            raise ValueError(f"the source name {name!r} is taken")
        self._sources[name] = source
        self.message_id_prefixes = tuple(f"{n}:" for n in self._sources)
        return source

    def get(self, name: str) -> Source | None:
        return self._sources.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def __iter__(self) -> Iterator[Source]:
        return iter(tuple(self._sources.values()))

    def __len__(self) -> int:
        return len(self._sources)


def load(path: str) -> Source:
    """An instance of the `Source` subclass at `module:Class`."""
    module, _, attribute = path.partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise TypeError(f"{path} is not a Source subclass")
    return cls()


SOURCES: Final = Registry()
for _path in REGISTERED:
    SOURCES.register(load(_path))
