"""The delivery ledger: one Redis hash per (alert, channel) that makes each delivery happen once.

Key `{prefix}:alert:dlv:{alert_id}:{channel}` (hash), kept `LEDGER_TTL_S` (400 days, longer
than any replay window), fields: `state`, `token` (the service instance holding it), `lease`
(Redis time, ms, until which the holder counts as alive), `target`, `claimed_ms`, `done_ms`,
`ref` (provider reference: Slack `ts`, SMTP Message-ID), `reason`.

States: `claimed` -> `sending` (the request is about to leave) -> `sent` | `dead`; back from
`sending` to `claimed` when the provider said no (a retry). A holder renews its lease while it
works; another instance may take over a delivery only when the lease ran out:

- found `claimed`: nothing left the building; take it over and send (at-least-once here is
  exactly-once, since nothing was sent);
- found `sending`: the holder died while the provider may or may not have accepted the
  message. Sending again could give the AE the same alert twice; not sending could lose it.
  We choose **at-most-once**: the delivery becomes `unconfirmed` and goes to the alerts
  dead-letter topic (reason `unconfirmed`) for a person to check, instead of a second alert.

Times inside the scripts are Redis's own clock (`TIME`), so instances on machines with skewed
clocks agree on leases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import redis.asyncio as aioredis

LEDGER_TTL_S: Final = 400 * 86_400
FINAL_STATES: Final = frozenset({"sent", "dead", "unconfirmed"})

ClaimState = Literal["claimed", "busy", "sent", "dead", "unconfirmed", "orphaned"]

_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "

# KEYS[1] ledger key; ARGV token, lease_ms, target, ttl_s
_CLAIM: Final = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'state', 'claimed', 'token', ARGV[1], 'lease', now + ARGV[2],
             'target', ARGV[3], 'claimed_ms', now)
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return {'claimed', ARGV[3]}
end
local target = redis.call('HGET', KEYS[1], 'target') or ''
if state == 'sent' or state == 'dead' or state == 'unconfirmed' then return {state, target} end
local token = redis.call('HGET', KEYS[1], 'token')
local lease = tonumber(redis.call('HGET', KEYS[1], 'lease') or '0')
if token ~= ARGV[1] and lease > now then return {'busy', target} end
if state == 'sending' then
  redis.call('HSET', KEYS[1], 'state', 'unconfirmed', 'token', ARGV[1], 'done_ms', now,
             'reason', 'unconfirmed')
  return {'orphaned', target}
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'lease', now + ARGV[2])
return {'claimed', target}
"""
)

# KEYS[1]; ARGV token, from_state, to_state, lease_ms
_MOVE: Final = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'lease', now + ARGV[4])
return 1
"""
)

# KEYS[1]; ARGV token, lease_ms
_RENEW: Final = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'claimed' and state ~= 'sending' then return 0 end
redis.call('HSET', KEYS[1], 'lease', now + ARGV[2])
return 1
"""
)

# KEYS[1]; ARGV token, final_state, ref, reason
_FINISH: Final = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'claimed' and state ~= 'sending' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'ref', ARGV[3], 'reason', ARGV[4], 'done_ms', now)
return 1
"""
)


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    target: str | None


class Ledger:
    def __init__(self, redis: aioredis.Redis, prefix: str, lease_s: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_ms = max(1, int(lease_s * 1000))
        self._claim = redis.register_script(_CLAIM)
        self._move = redis.register_script(_MOVE)
        self._renew = redis.register_script(_RENEW)
        self._finish = redis.register_script(_FINISH)

    def key(self, alert_id: str, channel: str) -> str:
        return f"{self._prefix}:alert:dlv:{alert_id}:{channel}"

    async def claim(self, key: str, token: str, target: str) -> Claim:
        """Claim a delivery for `token`, or say why not (see the module docstring). The target
        stored by the first claim wins, so a take-over sends where the first try meant to."""
        state, stored = await self._claim(keys=[key], args=[token, self._lease_ms, target,
                                                            LEDGER_TTL_S])  # fmt: skip
        return Claim(_text(state), _text(stored) or None)  # type: ignore[arg-type]

    async def sending(self, key: str, token: str) -> bool:
        """`claimed` -> `sending`, just before the request leaves; False: we lost the claim."""
        return bool(await self._move(keys=[key], args=[token, "claimed", "sending",
                                                       self._lease_ms]))  # fmt: skip

    async def not_sent(self, key: str, token: str) -> bool:
        """`sending` -> `claimed`: the provider refused, nothing was delivered."""
        return bool(await self._move(keys=[key], args=[token, "sending", "claimed",
                                                       self._lease_ms]))  # fmt: skip

    async def renew(self, key: str, token: str) -> bool:
        return bool(await self._renew(keys=[key], args=[token, self._lease_ms]))

    async def finish(
        self, key: str, token: str, state: str, ref: str = "", reason: str = ""
    ) -> bool:
        return bool(await self._finish(keys=[key], args=[token, state, ref, reason]))

    async def state(self, key: str) -> dict[str, str]:
        raw: dict[Any, Any] = await self._redis.hgetall(key)
        return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
