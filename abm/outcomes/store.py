"""The CRM's opportunities in Redis, next to the directory they refer to.

Key schema. Every key starts with `{prefix}:out:`; values are UTF-8 text.

| key                                 | type   | value                                            |
|-------------------------------------|--------|--------------------------------------------------|
| `{prefix}:out:opp:{opportunity_id}` | string | the opportunity as JSON (`Opportunity.to_dict`)   |
| `{prefix}:out:opps`                 | set    | every stored opportunity id                      |

Loading is a replace per record (an opportunity loaded again takes its new stage, amount and
outcome), in one MULTI/EXEC transaction: a load lands completely or not at all. The CRM webhook
(`POST /crm/opportunity`) stores one opportunity the same way (`put`), and learns what was
stored before, so a redelivered webhook is recognized as changing nothing. Nothing is
deleted by omission. The store grows with the CRM, not with traffic; each load is bounded by
`MAX_OPPORTUNITIES_PER_FILE`, and `all` reads the ids in pages of `_PAGE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import redis.asyncio as aioredis

from abm.core.opportunities import Opportunity

_PAGE: Final = 1000
"""Opportunities read per MGET (round trip) in `all`."""


@dataclass(frozen=True, slots=True)
class OutcomesLoad:
    opportunities: int
    """Opportunities written."""
    replaced: int
    """Of those, how many replaced a stored one."""
    stored: int
    """Opportunities in the store after the load."""


class OutcomeStore:
    """Opportunities in Redis, for one key prefix."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._base = f"{prefix}:out:"

    def opportunity_key(self, opportunity_id: str) -> str:
        return f"{self._base}opp:{opportunity_id}"

    @property
    def index_key(self) -> str:
        return f"{self._base}opps"

    async def load(self, opportunities: Sequence[Opportunity]) -> OutcomesLoad:
        """Write validated opportunities in one transaction (all or nothing)."""
        keys = [self.opportunity_key(o.opportunity_id) for o in opportunities]
        existing = 0
        async with self._redis.pipeline(transaction=False) as check:
            for key in keys:
                check.exists(key)
            existing = sum(bool(found) for found in await check.execute())
        async with self._redis.pipeline(transaction=True) as pipe:
            for key, opportunity in zip(keys, opportunities, strict=True):
                pipe.set(key, orjson.dumps(opportunity.to_dict()))
            if opportunities:
                pipe.sadd(self.index_key, *(o.opportunity_id for o in opportunities))
            pipe.scard(self.index_key)
            replies = await pipe.execute()
        return OutcomesLoad(len(opportunities), existing, int(replies[-1]))

    async def put(self, opportunity: Opportunity) -> Opportunity | None:
        """Store one validated opportunity (a replace, as `load`); the one it replaced, if any.
        Atomic (SET ... GET in a transaction), so of two deliveries of the same new
        opportunity exactly one sees None."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(
                self.opportunity_key(opportunity.opportunity_id),
                orjson.dumps(opportunity.to_dict()),
                get=True,
            )
            pipe.sadd(self.index_key, opportunity.opportunity_id)
            before, _ = await pipe.execute()
        return None if before is None else Opportunity.from_dict(orjson.loads(before))

    async def all(self) -> list[Opportunity]:
        """Every stored opportunity, ordered by creation time then id."""
        ids = sorted(_text(i) for i in await self._redis.smembers(self.index_key))
        found: list[Opportunity] = []
        for start in range(0, len(ids), _PAGE):
            page = [self.opportunity_key(i) for i in ids[start : start + _PAGE]]
            for raw in await self._redis.mget(page):
                if raw is not None:
                    found.append(Opportunity.from_dict(orjson.loads(raw)))
        return sorted(found, key=lambda o: (o.created_ms, o.opportunity_id))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
