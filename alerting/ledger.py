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
  We choose **at-most-once**: the delivery becomes `orphaned` (held by the new instance). Where
  the provider can be asked (Slack with a bot token: the conversation's history, by the alert
  id in the message metadata), it is: found, the delivery is `sent`; not found, it goes back to
  `claimed` and is sent. Otherwise (SMTP, a webhook, Slack not answering) the new instance
  writes the alerts dead letter (reason `unconfirmed`) for a person to check, and only then
  marks it `unconfirmed` (final). A take-over of an `orphaned` delivery (the dead letter was
  not written: Kafka down, or a crash in between) writes it again, so it is never lost.

Every move is idempotent for its holder: a call repeated after a lost reply (a Redis error
after the script ran) finds the state it made and succeeds, so a live instance's own retry is
never mistaken for a take-over. The holder's own claim of a delivery it left `sending` (an
error interrupted its request) is `orphaned` too, with reason `interrupted` instead of
`holder_stopped`.

Times inside the scripts are Redis's own clock (`TIME`), so instances on machines with skewed
clocks agree on leases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import redis.asyncio as aioredis

LEDGER_TTL_S: Final = 400 * 86_400
FINAL_STATES: Final = frozenset({"sent", "dead", "unconfirmed"})
ORPHAN_REASONS: Final = ("holder_stopped", "interrupted")
"""Why a delivery became `orphaned`: another holder's lease ran out while it was `sending`, or
this holder's own request was interrupted."""

ClaimState = Literal["claimed", "busy", "sent", "dead", "unconfirmed", "orphaned"]
"""What a claim found: `claimed` (ours now, nothing was sent), `busy` (a live instance has it),
a final state (done: skip it), or `orphaned` (ours now; a request may have left: dead-letter it
as `unconfirmed`, then finish it)."""

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
  local why = 'holder_stopped'
  if token == ARGV[1] then why = 'interrupted' end
  redis.call('HSET', KEYS[1], 'state', 'orphaned', 'token', ARGV[1], 'lease', now + ARGV[2],
             'reason', why)
  return {'orphaned', target, why}
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'lease', now + ARGV[2])
if state == 'orphaned' then
  return {'orphaned', target, redis.call('HGET', KEYS[1], 'reason') or 'holder_stopped'}
end
return {'claimed', target}
"""
)

# KEYS[1]; ARGV token, from_state, to_state, lease_ms
_MOVE: Final = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
if state == ARGV[3] then return 1 end
if state ~= ARGV[2] then return 0 end
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
if state ~= 'claimed' and state ~= 'sending' and state ~= 'orphaned' then return 0 end
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
if state == ARGV[2] then return 1 end
if state ~= 'claimed' and state ~= 'sending' and state ~= 'orphaned' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'ref', ARGV[3], 'reason', ARGV[4], 'done_ms', now)
return 1
"""
)


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    target: str | None
    why: str = ""
    """`orphaned` only: one of `ORPHAN_REASONS`."""


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
        answer = await self._claim(keys=[key], args=[token, self._lease_ms, target, LEDGER_TTL_S])
        state, stored = _text(answer[0]), _text(answer[1]) or None
        why = _text(answer[2]) if len(answer) > 2 else ""
        return Claim(state, stored, why)  # type: ignore[arg-type]

    async def sending(self, key: str, token: str) -> bool:
        """`claimed` -> `sending`, just before the request leaves; False: we lost the claim.
        True as well when it is `sending` already (a repeat after a lost reply)."""
        return bool(await self._move(keys=[key], args=[token, "claimed", "sending",
                                                       self._lease_ms]))  # fmt: skip

    async def not_sent(self, key: str, token: str) -> bool:
        """`sending` -> `claimed`: the provider refused, nothing was delivered."""
        return bool(await self._move(keys=[key], args=[token, "sending", "claimed",
                                                       self._lease_ms]))  # fmt: skip

    async def reopen(self, key: str, token: str) -> bool:
        """`orphaned` -> `claimed`: the provider was asked and does not have the message, so
        nothing was delivered and it may be sent (Slack reconciliation)."""
        return bool(await self._move(keys=[key], args=[token, "orphaned", "claimed",
                                                       self._lease_ms]))  # fmt: skip

    async def renew(self, key: str, token: str) -> bool:
        return bool(await self._renew(keys=[key], args=[token, self._lease_ms]))

    async def finish(
        self, key: str, token: str, state: str, ref: str = "", reason: str = ""
    ) -> bool:
        """`claimed` / `sending` / `orphaned` -> a final state; True as well when the delivery
        is in that state already (a repeat after a lost reply); False: we lost the claim."""
        return bool(await self._finish(keys=[key], args=[token, state, ref, reason]))

    async def state(self, key: str) -> dict[str, str]:
        raw: dict[Any, Any] = await self._redis.hgetall(key)
        return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
