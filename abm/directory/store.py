"""The account/contact directory in Redis: loaded from CSV, read on every touchpoint.

Key schema. Every key starts with `{prefix}:dir:`; values are UTF-8 text.

| key                                    | type   | value                                          |
|----------------------------------------|--------|------------------------------------------------|
| `{prefix}:dir:account:{account_id}`    | string | the account record as JSON (`AccountRecord`)   |
| `{prefix}:dir:domain:{domain}`         | string | id of the account that owns the domain         |
| `{prefix}:dir:contact:{email}`         | string | the contact record as JSON (`ContactRecord`)   |
| `{prefix}:dir:person:{person_key}`     | hash   | `account_id`, `email`, `title` learned from    |
|                                        |        | group/identify calls; `person_key` is          |
|                                        |        | `user:{userId}` or `anon:{anonymousId}`        |
| `{prefix}:dir:email-persons:{email}`   | set    | person keys that were linked to the e-mail     |
|                                        |        | (so that erasing a contact finds its links)    |
| `{prefix}:dir:tier:{n}`                | set    | ids of the target accounts of tier n (1-3)     |
| `{prefix}:dir:pseudonym:{pseudonym}`   | string | the known person a pseudonym names: the        |
|                                        |        | e-mail, or `user:{userId}`; expires (below)    |

The pseudonym index is how the edges (the alerts, the account pages) name the persons the
long-lived data names by pseudonym only (`abm.core.privacy`). The resolution agent writes an
entry for each known person it resolves, expiring `ABM_RESOLVED_RETENTION_DAYS` after that
person's latest touchpoint (renewed at most once a day per process): the index holds no one the
resolved topic no longer names. Anonymous visitors get no entry (they are never named).

E-mails and domains are lower-case. The `email-persons` index may hold a person whose e-mail
changed since; erasing checks the person's current e-mail before deleting it.

Writes: `load` is one MULTI/EXEC transaction, guarded by WATCH on every key it read to decide
(it retries when another writer got in between), so a load is applied completely or not at all.
Reads: `views_for` answers a batch of messages in at most two round trips (one script call, one
MGET of the account records not cached); account records and domain owners are cached in the
process for `cache_ttl` seconds, so a worker sees a change made by another process after at most
that long. The store needs a standalone Redis (not Cluster):
its keys share no hash slot and the one script reads keys it derives.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from abm.core.directory_csv import (
    TIERS,
    DirectoryError,
    RowError,
    normalize_domain,
    normalize_email,
)
from abm.core.records import AccountRecord, ContactRecord
from abm.core.resolution import DirectoryView, LearnedLinks, person_key
from abm.core.segment import FREE_MAIL_DOMAINS, SegmentMessage, email_domain

DEFAULT_CACHE_TTL: Final = 30.0
DEFAULT_CACHE_SIZE: Final = 10_000
_MAX_ATTEMPTS: Final = 10

# The directory lookup of a batch of messages, in one script call (one round trip, one command
# for redis-py to pack and one reply for it to parse, where a pipeline had about three per
# message). ARGV[1-3] are the key prefixes of persons, contacts and domains; ARGV[4] is a JSON
# array with an array of five strings per message (one argument, so packing the call costs
# redis-py one string, not five per message): its person key, its e-mail, the domain to ask
# (empty: none, or cached in the process), the e-mail learned earlier in the batch and not yet
# written, and "1" when the message carries no e-mail, so the person's linked e-mail (the
# learned one over the stored one) is followed to its contact and its domain's owner. Five
# replies per message: the person's hash (HGETALL's flat list), the contact, the domain owner,
# the followed contact and the followed domain's owner (nil when not asked or not there). Each
# key is read once per call. The domain of a followed e-mail is read even when it is a
# free-mail one: the caller ignores that reply.
_LOOKUP: Final = """
local person_prefix, contact_prefix, domain_prefix = ARGV[1], ARGV[2], ARGV[3]
local hashes, strings = {}, {}
local function hash(key)
  local value = hashes[key]
  if value == nil then
    value = redis.call('HGETALL', key)
    hashes[key] = value
  end
  return value
end
local function get(key)
  local value = strings[key]
  if value == nil then
    value = redis.call('GET', key)
    strings[key] = value
  end
  return value
end
local out = {}
for _, asked in ipairs(cjson.decode(ARGV[4])) do
  local person, email, domain, learned, follow = asked[1], asked[2], asked[3], asked[4], asked[5]
  local link = {}
  if person ~= '' then link = hash(person_prefix .. person) end
  local contact, owner, followed, followed_owner = false, false, false, false
  if email ~= '' then contact = get(contact_prefix .. email) end
  if domain ~= '' then owner = get(domain_prefix .. domain) end
  if follow == '1' then
    local target = learned
    if target == '' then
      for j = 1, #link, 2 do
        if link[j] == 'email' then target = link[j + 1] end
      end
    end
    if target ~= '' then
      followed = get(contact_prefix .. target)
      local target_domain = string.match(target, '@([^@]*)$') or target
      if target_domain ~= '' then followed_owner = get(domain_prefix .. target_domain) end
    end
  end
  out[#out + 1] = link
  out[#out + 1] = contact
  out[#out + 1] = owner
  out[#out + 1] = followed
  out[#out + 1] = followed_owner
end
return out
"""
_LOOKUP_FIELDS: Final = 5
"""Arguments per message of `_LOOKUP`, and replies."""


@dataclass(frozen=True, slots=True)
class DirectoryKeys:
    """The Redis keys of the directory (see the module docstring)."""

    prefix: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:dir:"

    def account(self, account_id: str) -> str:
        return f"{self.base}account:{account_id}"

    def domain(self, domain: str) -> str:
        return f"{self.base}domain:{domain}"

    def contact(self, email: str) -> str:
        return f"{self.base}contact:{email}"

    def person(self, person: str) -> str:
        return f"{self.base}person:{person}"

    def email_persons(self, email: str) -> str:
        return f"{self.base}email-persons:{email}"

    def tier(self, tier: int) -> str:
        return f"{self.base}tier:{tier}"

    def pseudonym(self, pseudonym: str) -> str:
        return f"{self.base}pseudonym:{pseudonym}"


@dataclass(frozen=True, slots=True)
class LoadReport:
    accounts: int
    """Account records written."""
    accounts_replaced: int
    """Of those, how many replaced a stored record."""
    contacts: int
    contacts_replaced: int
    domains: int
    """Domains of the loaded accounts (all written)."""
    domains_removed: int
    """Domains a reloaded account no longer lists, now owned by nobody."""
    tiers: Mapping[int, int]
    """Loaded accounts per tier."""


V = TypeVar("V")


class _TtlCache(Generic[V]):
    """A bounded in-process cache; entries (None too) expire `ttl` seconds after being stored."""

    def __init__(self, ttl: float, size: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V | None]] = OrderedDict()

    def lookup(self, key: str) -> tuple[bool, V | None]:
        """(hit, value); a miss when the cache is disabled (ttl 0) or the entry expired."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, value

    def store(self, key: str, value: V | None) -> None:
        if self._ttl <= 0:
            return
        self._entries[key] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def discard(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)


def _text(value: Any) -> str | None:
    """A Redis reply as text, whether the client decodes responses or not."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _account_record(raw: Any) -> AccountRecord | None:
    return None if raw is None else AccountRecord.from_dict(orjson.loads(raw))


def _contact_record(raw: Any) -> ContactRecord | None:
    return None if raw is None else ContactRecord.from_dict(orjson.loads(raw))


def _company_domain(email: str | None) -> str | None:
    """The domain of an e-mail worth looking up: free-mail domains never name an account."""
    if not email:
        return None
    domain = email_domain(email)
    return None if domain in FREE_MAIL_DOMAINS else domain


@dataclass
class _Pending:
    """One message of `views_for` between the script call and the account records."""

    message: SegmentMessage
    domain: str | None
    """The company domain of its e-mail (`_company_domain`)."""
    domain_asked: bool = False
    """Whether the script reads its owner (not cached in the process)."""
    domain_account: str | None = None
    link: dict[str, str] = field(default_factory=dict)
    contact: ContactRecord | None = None
    account_ids: set[str | None] = field(default_factory=set)


class DirectoryStore:
    """Accounts, contacts and learned person links in Redis, for one key prefix."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        *,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        cache_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`cache_ttl` seconds (0 disables the cache) for account records and domain owners."""
        self._redis = redis
        self.keys = DirectoryKeys(prefix)
        self._accounts: _TtlCache[AccountRecord] = _TtlCache(cache_ttl, cache_size, clock)
        self._domains: _TtlCache[str] = _TtlCache(cache_ttl, cache_size, clock)

    async def close(self) -> None:
        """Close the Redis connection pool this store was given."""
        await self._redis.aclose()

    # --- loading -------------------------------------------------------------------------------

    async def load(
        self, accounts: Sequence[AccountRecord], contacts: Sequence[ContactRecord] = ()
    ) -> LoadReport:
        """Write accounts and contacts in one transaction, or nothing (`DirectoryError`).

        A reloaded account replaces its record: domains it no longer lists are released and it
        moves to its new tier set. The records are expected to be validated already
        (`abm.core.directory_csv`); what depends on the stored directory is checked again here,
        under WATCH, because the directory may have changed since the files were validated.
        """
        batch_errors = _batch_errors(accounts, contacts)
        if batch_errors:
            raise DirectoryError(batch_errors)
        if not accounts and not contacts:
            return LoadReport(0, 0, 0, 0, 0, 0, {})
        loaded_ids = {a.account_id for a in accounts}
        new_owner = {d: a.account_id for a in accounts for d in a.domains}
        outside_ids = sorted({c.account_id for c in contacts} - loaded_ids)
        keys = self.keys
        account_keys = [keys.account(a.account_id) for a in accounts]
        contact_keys = [keys.contact(c.email) for c in contacts]
        outside_keys = [keys.account(i) for i in outside_ids]

        async with self._redis.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    await pipe.watch(*account_keys, *contact_keys, *outside_keys)
                    old_accounts = {
                        a.account_id: old
                        for a, raw in zip(accounts, await _mget(pipe, account_keys), strict=True)
                        if (old := _account_record(raw)) is not None
                    }
                    old_contacts = sum(v is not None for v in await _mget(pipe, contact_keys))
                    outside = await _mget(pipe, outside_keys)
                    released = {
                        d
                        for old in old_accounts.values()
                        for d in old.domains
                        if d not in new_owner
                    }
                    domains = sorted(new_owner.keys() | released)
                    domain_keys = [keys.domain(d) for d in domains]
                    if domain_keys:
                        await pipe.watch(*domain_keys)
                    owners = dict(
                        zip(domains, map(_text, await _mget(pipe, domain_keys)), strict=True)
                    )

                    errors = [
                        RowError(
                            "accounts",
                            0,
                            "domains",
                            f"account `{new_owner[d]}`: `{d}` belongs to account `{owner}` "
                            "in the directory",
                        )
                        for d in sorted(new_owner)
                        if (owner := owners[d]) is not None
                        and owner != new_owner[d]
                        and owner not in loaded_ids
                    ]
                    errors += [
                        RowError("contacts", 0, "account_id", f"no account `{i}` in the directory")
                        for i, raw in zip(outside_ids, outside, strict=True)
                        if raw is None
                    ]
                    if errors:
                        raise DirectoryError(errors)

                    pipe.multi()  # type: ignore[no-untyped-call]
                    for account in accounts:
                        pipe.set(keys.account(account.account_id), orjson.dumps(account.to_dict()))
                        pipe.sadd(keys.tier(account.tier), account.account_id)
                        for tier in TIERS:
                            if tier != account.tier:
                                pipe.srem(keys.tier(tier), account.account_id)
                    # A released domain is deleted only while it still points at its old owner.
                    removed = [d for d in sorted(released) if owners[d] in loaded_ids]
                    for domain in removed:
                        pipe.delete(keys.domain(domain))
                    for domain, account_id in new_owner.items():
                        pipe.set(keys.domain(domain), account_id)
                    for contact in contacts:
                        pipe.set(keys.contact(contact.email), orjson.dumps(contact.to_dict()))
                    await pipe.execute()
                except WatchError:
                    continue
                break
            else:
                raise RuntimeError(
                    f"the directory kept changing during the load ({_MAX_ATTEMPTS} attempts); "
                    "try again"
                )

        self._accounts.discard(loaded_ids)
        self._domains.discard(domains)
        tiers: dict[int, int] = {}
        for account in accounts:
            tiers[account.tier] = tiers.get(account.tier, 0) + 1
        return LoadReport(
            accounts=len(accounts),
            accounts_replaced=len(old_accounts),
            contacts=len(contacts),
            contacts_replaced=old_contacts,
            domains=len(new_owner),
            domains_removed=len(removed),
            tiers=dict(sorted(tiers.items())),
        )

    async def known_account_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of `ids` are accounts in the directory."""
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for account_id in wanted:
                pipe.exists(self.keys.account(account_id))
            found = await pipe.execute()
        return {i for i, exists in zip(wanted, found, strict=True) if exists}

    async def domain_owners(self, domains: Iterable[str]) -> dict[str, str]:
        """The owning account of each of `domains` that has one."""
        wanted = sorted({normalize_domain(d) for d in domains})
        owners = await _mget(self._redis, [self.keys.domain(d) for d in wanted])
        return {d: o for d, raw in zip(wanted, owners, strict=True) if (o := _text(raw))}

    # --- resolution ----------------------------------------------------------------------------

    async def view_for(self, message: SegmentMessage) -> DirectoryView:
        """Everything `abm.core.resolution.resolve` needs about one message.

        Round trip 1, one script call: the person's links, the contact and the domain owner of
        the message's e-mail, and, when only the person's link knows the e-mail, that e-mail's
        contact and domain owner. Round trip 2, one MGET: the records of the accounts found
        (the one named on the message among them). Cached domain owners and accounts are not
        asked; when every account is cached, there is no second round trip.
        """
        return (await self.views_for([message]))[0]

    async def views_for(
        self,
        messages: Sequence[SegmentMessage],
        learned: Sequence[Mapping[str, str] | None] | None = None,
    ) -> list[DirectoryView]:
        """`view_for` of many messages in the same two round trips (a collector's or a worker's
        batch): one script call (`_LOOKUP`) for the persons' links, the contacts and the domain
        owners, the linked e-mails followed; then one MGET of the account records not cached.

        `learned[i]`, when given, holds the person-link fields (`link_fields`) learned for
        message i's person from calls earlier in the same batch that are not written yet: they
        override what Redis holds, so message i is resolved as if they had been written before
        it was looked up, and the e-mail they name is followed."""
        if learned is not None and len(learned) != len(messages):
            raise ValueError(f"{len(learned)} learned links for {len(messages)} messages")
        if not messages:
            return []
        keys = self.keys
        pending: list[_Pending] = []
        asked: list[tuple[str, str, str, str, str]] = []
        for index, message in enumerate(messages):
            item = _Pending(message, _company_domain(message.email))
            if item.domain:
                hit, item.domain_account = self._domains.lookup(item.domain)
                item.domain_asked = not hit
            overlay = learned[index] if learned is not None else None
            asked.append(
                (
                    person_key(message.user_id, message.anonymous_id) or "",
                    message.email or "",
                    (item.domain if item.domain_asked else None) or "",
                    (overlay.get("email") if overlay else None) or "",
                    "" if message.email else "1",
                )
            )
            if overlay:
                item.link.update(overlay)
            pending.append(item)
        replies = await self._redis.eval(
            _LOOKUP, 0, keys.person(""), keys.contact(""), keys.domain(""), orjson.dumps(asked)
        )

        accounts: dict[str, AccountRecord | None] = {}
        contacts: dict[Any, ContactRecord | None] = {None: None}  # raw reply -> record

        def contact_of(raw: Any) -> ContactRecord | None:
            """Each contact record of the batch parsed once."""
            if raw not in contacts:
                contacts[raw] = _contact_record(raw)
            return contacts[raw]

        for index, item in enumerate(pending):
            at = index * _LOOKUP_FIELDS
            raw_link, raw_contact, raw_owner, raw_followed, raw_followed_owner = replies[
                at : at + _LOOKUP_FIELDS
            ]
            stored = {
                _text(raw_link[j]) or "": _text(raw_link[j + 1]) or ""
                for j in range(0, len(raw_link), 2)
            }
            item.link = {**stored, **item.link}  # the links learned in the batch win
            if item.message.email:
                item.contact = contact_of(raw_contact)
                if item.domain_asked:
                    item.domain_account = _text(raw_owner)
                    self._domains.store(item.domain or "", item.domain_account)
            elif followed := item.link.get("email"):
                item.contact = contact_of(raw_followed)
                followed_domain = _company_domain(followed)
                if followed_domain:
                    item.domain_account = _text(raw_followed_owner)
                    self._domains.store(followed_domain, item.domain_account)
            item.account_ids = {
                item.message.group_id,
                item.link.get("account_id"),
                item.contact.account_id if item.contact else None,
                item.domain_account,
            }
            for account_id in item.account_ids:
                if account_id and account_id not in accounts:
                    hit, record = self._accounts.lookup(account_id)
                    if hit:
                        accounts[account_id] = record
        missing = sorted(
            {i for item in pending for i in item.account_ids if i and i not in accounts}
        )
        for account_id, raw in zip(
            missing, await _mget(self._redis, [keys.account(i) for i in missing]), strict=True
        ):
            self._take_account(account_id, raw, accounts)

        return [
            DirectoryView(
                linked_account=item.link.get("account_id"),
                linked_email=item.link.get("email"),
                linked_title=item.link.get("title"),
                contact=item.contact,
                domain_account=item.domain_account,
                accounts={
                    i: record
                    for i in item.account_ids
                    if i and (record := accounts.get(i)) is not None
                },
            )
            for item in pending
        ]

    def _take_account(
        self, account_id: str, raw: Any, accounts: dict[str, AccountRecord | None]
    ) -> None:
        record = _account_record(raw)
        accounts[account_id] = record
        self._accounts.store(account_id, record)

    async def learn(self, links: LearnedLinks) -> None:
        """Remember what an identify/group call taught about a person (only what it says)."""
        await self.learn_many([links])

    async def learn_many(self, calls: Sequence[LearnedLinks]) -> None:
        """`learn` each of `calls` in order, in one transaction (one round trip): all of them
        are written or none."""
        writes = [(links, fields) for links in calls if (fields := link_fields(links))]
        if not writes:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for links, fields in writes:
                pipe.hset(
                    self.keys.person(links.person), items=[p for kv in fields.items() for p in kv]
                )
                if "email" in fields:
                    pipe.sadd(self.keys.email_persons(fields["email"]), links.person)
            await pipe.execute()

    # --- the pseudonym index ---------------------------------------------------------------------

    async def remember_pseudonyms(self, names: Mapping[str, str], ttl_s: int) -> None:
        """Index pseudonym -> the person's clear key (the e-mail, or `user:<id>`), each entry
        expiring after `ttl_s` seconds; one round trip."""
        if not names:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for pseudonym, name in names.items():
                pipe.set(self.keys.pseudonym(pseudonym), name, ex=ttl_s)
            await pipe.execute()

    async def names_of(self, pseudonyms: Iterable[str]) -> dict[str, str]:
        """The clear keys of the indexed pseudonyms among `pseudonyms` (the others are anonymous
        visitors, or persons forgotten or not seen for the index's lifetime)."""
        wanted = sorted(set(pseudonyms))
        values = await _mget(self._redis, [self.keys.pseudonym(p) for p in wanted])
        return {p: text for p, v in zip(wanted, values, strict=True) if (text := _text(v))}

    async def forget_pseudonyms(self, pseudonyms: Iterable[str]) -> int:
        """Erase index entries; the number that existed."""
        keys = [self.keys.pseudonym(p) for p in pseudonyms]
        return int(await self._redis.delete(*keys)) if keys else 0

    # --- inspection and erasure ----------------------------------------------------------------

    async def account(self, account_id: str) -> AccountRecord | None:
        """The stored record, read from Redis (not the cache)."""
        return _account_record(await self._redis.get(self.keys.account(account_id)))

    async def contact(self, email: str) -> ContactRecord | None:
        return _contact_record(await self._redis.get(self.keys.contact(normalize_email(email))))

    async def target_accounts_by_tier(self) -> dict[int, int]:
        """How many target accounts each tier has (every tier, zeros included)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for tier in TIERS:
                pipe.scard(self.keys.tier(tier))
            counts = await pipe.execute()
        return {tier: int(n) for tier, n in zip(TIERS, counts, strict=True)}

    async def linked_persons(self, email: str) -> list[str]:
        """The person keys (`user:<id>`, `anon:<id>`) whose learned e-mail is `email`."""
        email = normalize_email(email)
        persons = sorted(
            _text(p) or "" for p in await self._redis.smembers(self.keys.email_persons(email))
        )
        linked = []
        for person in persons:
            if _text(await self._redis.hget(self.keys.person(person), "email")) == email:
                linked.append(person)
        return linked

    async def linked_email(self, person: str) -> str | None:
        """The e-mail an identify call linked to a person key, if any."""
        return _text(await self._redis.hget(self.keys.person(person), "email"))

    async def forget_person(self, person: str) -> bool:
        """Erase a person key's links (and its place in its e-mail's index); True when it had
        any."""
        email = await self.linked_email(person)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.person(person))
            if email:
                pipe.srem(self.keys.email_persons(email), person)
            deleted, *_ = await pipe.execute()
        return bool(deleted)

    async def forget_contact(self, email: str) -> bool:
        """GDPR erase: the contact record and every person link to the e-mail.

        True when something was erased. Touchpoints already resolved are not in the directory
        and are not touched here.
        """
        email = normalize_email(email)
        contact_key = self.keys.contact(email)
        index_key = self.keys.email_persons(email)
        async with self._redis.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    await pipe.watch(index_key)
                    persons = sorted(_text(p) or "" for p in await pipe.smembers(index_key))
                    person_keys = [self.keys.person(p) for p in persons]
                    linked: list[str] = []
                    if person_keys:
                        await pipe.watch(*person_keys)
                        for key in person_keys:
                            if _text(await pipe.hget(key, "email")) == email:
                                linked.append(key)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.delete(contact_key)
                    pipe.delete(index_key, *linked)
                    contact_count, _ = await pipe.execute()
                except WatchError:
                    continue
                return bool(contact_count) or bool(linked)
        raise RuntimeError(f"the links of {email} kept changing ({_MAX_ATTEMPTS} attempts)")


def link_fields(links: LearnedLinks) -> dict[str, str]:
    """The fields of the person hash a call sets: only what it says, the e-mail normalized (an
    empty dict when it says nothing)."""
    learned = (
        ("account_id", links.account_id),
        ("email", normalize_email(links.email) if links.email else None),
        ("title", links.title),
    )
    return {name: value for name, value in learned if value}


async def _mget(client: Any, keys: Sequence[str]) -> list[Any]:
    """MGET that accepts no keys (Redis refuses an empty MGET)."""
    if not keys:
        return []
    return list(await client.mget(keys))


def _batch_errors(
    accounts: Sequence[AccountRecord], contacts: Sequence[ContactRecord]
) -> list[RowError]:
    """What makes a batch contradict itself: the same account, domain or contact twice."""
    errors: list[RowError] = []
    seen_ids: set[str] = set()
    owner: dict[str, str] = {}
    for account in accounts:
        if account.account_id in seen_ids:
            errors.append(RowError("accounts", 0, "id", f"`{account.account_id}` is there twice"))
        seen_ids.add(account.account_id)
        if len(set(account.domains)) != len(account.domains):
            errors.append(
                RowError(
                    "accounts", 0, "domains", f"account `{account.account_id}` lists a domain twice"
                )
            )
        for domain in account.domains:
            first = owner.setdefault(domain, account.account_id)
            if first != account.account_id:
                errors.append(
                    RowError(
                        "accounts",
                        0,
                        "domains",
                        f"`{domain}` is claimed by accounts `{first}` and `{account.account_id}`",
                    )
                )
    emails: set[str] = set()
    for contact in contacts:
        if contact.email in emails:
            errors.append(RowError("contacts", 0, "email", f"`{contact.email}` is there twice"))
        emails.add(contact.email)
    return errors
