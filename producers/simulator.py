"""Seeded synthetic ABM traffic: target accounts, their buying groups and what they do.

Most accounts are idle, some research (one person, the blog), some buy (several roles, pricing,
security, the demo page, a surge in the last weeks), a few raise their hand (demo request).
Customers, partners and competitors behave like anyone else and must be suppressed; anonymous
visitors, free-mail readers and a share of malformed messages come along, as they do in real
traffic. The same seed gives the same files, byte for byte.
"""

from __future__ import annotations

import csv
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from abm.core.opportunities import LOST, OPEN, WON, Opportunity
from abm.core.records import AccountRecord, ContactRecord
from abm.core.timefmt import DAY_MS, iso_ms

HOUR_MS = 3_600_000

DEFAULT_END = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
SITE = "https://www.vendor.example"

_NAME_A = (
    "North",
    "Blue",
    "Silver",
    "Iron",
    "Bright",
    "Green",
    "Swift",
    "Clear",
    "Stone",
    "Polar",
    "Red",
    "Deep",
    "Sun",
    "Oak",
    "River",
    "Cloud",
    "Summit",
    "Harbor",
    "Prime",
    "Vector",
    "Lumen",
    "Atlas",
    "Nova",
    "Quant",
    "Delta",
    "Echo",
    "Falcon",
    "Granite",
    "Helix",
    "Orbit",
)
_NAME_B = (
    "wind",
    "field",
    "point",
    "gate",
    "works",
    "line",
    "bridge",
    "forge",
    "path",
    "peak",
    "scale",
    "stack",
    "wave",
    "grid",
    "ware",
    "logic",
    "mark",
    "shore",
    "craft",
    "labs",
)
_NAME_C = (
    "Logistics",
    "Health",
    "Systems",
    "Bank",
    "Energy",
    "Retail",
    "Foods",
    "Analytics",
    "Insurance",
    "Manufacturing",
    "Media",
    "Telecom",
    "Software",
    "Pharma",
    "Mobility",
)
_FIRST = (
    "Anna",
    "Bram",
    "Carla",
    "Daan",
    "Eva",
    "Femke",
    "Guus",
    "Hanna",
    "Ivo",
    "Julia",
    "Kees",
    "Lotte",
    "Milan",
    "Noor",
    "Otto",
    "Pien",
    "Ruben",
    "Sanne",
    "Thijs",
    "Vera",
    "Wouter",
    "Yara",
    "Zoe",
    "Liam",
    "Emma",
    "Noah",
    "Sophie",
    "Lucas",
    "Mila",
    "Sem",
    "Tess",
    "Finn",
)
_LAST = (
    "Jansen",
    "de Vries",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "Mulder",
    "de Boer",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Dekker",
    "Brouwer",
    "Kok",
    "Jacobs",
    "Vermeulen",
    "Willems",
    "Schouten",
    "van Dijk",
    "Hoekstra",
    "Koster",
    "Prins",
    "Huisman",
    "Kuipers",
    "Maas",
)
_FREE_MAIL = ("gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com")

# Buying group roles with plausible titles and seniority.
_ROLES: dict[str, tuple[tuple[str, str], ...]] = {
    "decision_maker": (("VP Operations", "vp"), ("Chief Technology Officer", "c_level"),
                       ("Director of IT", "director")),
    "budget_holder": (("Chief Financial Officer", "c_level"), ("Finance Director", "director")),
    "champion": (("Operations Manager", "manager"), ("Product Manager", "manager"),
                 ("Team Lead Platform", "manager")),
    "technical_evaluator": (("Security Architect", "individual"), ("IT Manager", "manager"),
                            ("Head of Security", "director")),
    "influencer": (("Business Analyst", "individual"), ("Senior Consultant", "individual")),
    "end_user": (("Planner", "individual"), ("Data Analyst", "individual"),
                 ("Customer Service Agent", "individual")),
    "legal_procurement": (("Procurement Officer", "individual"), ("Legal Counsel", "individual")),
    "executive_sponsor": (("Chief Operating Officer", "c_level"),),
}  # fmt: skip

_OWNERS = (
    ("sanne.ae@vendor.example", "U01SANNE"),
    ("milan.ae@vendor.example", "U02MILAN"),
    ("eva.ae@vendor.example", "U03EVA"),
    ("ruben.ae@vendor.example", "U04RUBEN"),
)

PAGES: dict[str, tuple[str, ...]] = {
    "pricing": ("/pricing", "/pricing/enterprise", "/plans"),
    "security": ("/security", "/trust", "/compliance/soc2", "/security/gdpr"),
    "demo": ("/demo",),
    "integrations": ("/integrations/salesforce", "/integrations/sap", "/docs/api"),
    "case_study": ("/case-studies/retail", "/customers/logistics"),
    "product": ("/product", "/features/routing", "/platform", "/solutions/finance"),
    "blog": tuple(f"/blog/post-{n}" for n in range(1, 40)),
    "other": ("/", "/about", "/partners"),
    "no_value": ("/careers", "/login"),
}


@dataclass
class SimContact:
    email: str
    user_id: str
    first: str
    last: str
    title: str
    role: str
    seniority: str
    identified: bool
    """True: the tracker sends the e-mail in context.traits; False: only the userId, linked
    by an earlier identify call."""


@dataclass
class SimAccount:
    account_id: str
    name: str
    domain: str
    tier: int
    icp_fit: int
    lifecycle: str
    owner_email: str
    owner_slack_id: str
    value_score: int | None
    profile: str
    contacts: list[SimContact] = field(default_factory=list)


@dataclass(frozen=True)
class SimConfig:
    accounts: int = 200
    days: int = 90
    seed: int = 7
    end: datetime = DEFAULT_END
    malformed_share: float = 0.003
    anonymous_share: float = 0.08
    free_mail_share: float = 0.02


class Simulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.end_ms = int(config.end.timestamp() * 1000)
        self.start_ms = self.end_ms - config.days * DAY_MS
        self.accounts = self._accounts()

    # -- directory -------------------------------------------------------------------------

    def _accounts(self) -> list[SimAccount]:
        rng = self.rng
        accounts: list[SimAccount] = []
        names: set[str] = set()
        for index in range(self.config.accounts):
            while True:
                name = f"{rng.choice(_NAME_A)}{rng.choice(_NAME_B)} {rng.choice(_NAME_C)}"
                if name not in names:
                    names.add(name)
                    break
            slug = name.lower().replace(" ", "-")
            tier = rng.choices((1, 2, 3), weights=(10, 30, 60))[0]
            lifecycle = rng.choices(
                ("prospect", "customer", "open_opportunity", "partner", "competitor"),
                weights=(80, 10, 4, 4, 2),
            )[0]
            profile = rng.choices(
                ("idle", "researching", "warming", "buying", "hand_raiser"),
                weights=(55, 20, 10, 12, 3),
            )[0]
            owner_email, owner_slack = rng.choice(_OWNERS)
            account = SimAccount(
                account_id=f"acc-{index + 1:05d}",
                name=name,
                domain=f"{slug}.example",
                tier=tier,
                icp_fit=rng.choice((20, 35, 45, 55, 60, 70, 80, 90, 100)),
                lifecycle=lifecycle,
                owner_email=owner_email,
                owner_slack_id=owner_slack,
                value_score=rng.choice((None, 1, 2, 3, 4)),
                profile=profile,
            )
            account.contacts = self._contacts(account)
            accounts.append(account)
        return accounts

    def _contacts(self, account: SimAccount) -> list[SimContact]:
        rng = self.rng
        roles = ["decision_maker", "champion", "technical_evaluator", "end_user"]
        roles += rng.sample(
            ["budget_holder", "influencer", "end_user", "legal_procurement", "executive_sponsor"],
            k=rng.randint(0, 4),
        )
        contacts = []
        used: set[str] = set()
        for role in roles:
            title, seniority = rng.choice(_ROLES[role])
            while True:
                first, last = rng.choice(_FIRST), rng.choice(_LAST)
                local = f"{first}.{last}".lower().replace(" ", "")
                if local not in used:
                    used.add(local)
                    break
            email = f"{local}@{account.domain}"
            contacts.append(
                SimContact(
                    email=email,
                    user_id=f"u-{uuid.UUID(int=self.rng.getrandbits(128)).hex[:12]}",
                    first=first,
                    last=last,
                    title=title,
                    role=role,
                    seniority=seniority,
                    identified=rng.random() < 0.7,
                )
            )
        return contacts

    def records(self) -> tuple[list[AccountRecord], list[ContactRecord]]:
        """The directory as records (what `write_directory` writes as CSV)."""
        accounts = [
            AccountRecord(a.account_id, a.name, (a.domain,), a.tier, float(a.icp_fit),
                          a.lifecycle, a.owner_email, a.owner_slack_id, a.value_score)
            for a in self.accounts
        ]  # fmt: skip
        contacts = [
            ContactRecord(c.email, a.account_id, c.title, c.role, c.seniority)
            for a in self.accounts
            for c in a.contacts
        ]
        return accounts, contacts

    def write_directory(self, accounts_csv: Path, contacts_csv: Path) -> None:
        with accounts_csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "name", "domains", "tier", "icp_fit", "lifecycle",
                             "owner_email", "owner_slack_id", "value_score"])  # fmt: skip
            for a in self.accounts:
                writer.writerow([a.account_id, a.name, a.domain, a.tier, a.icp_fit, a.lifecycle,
                                 a.owner_email, a.owner_slack_id,
                                 "" if a.value_score is None else a.value_score])  # fmt: skip
        with contacts_csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "account_id", "title", "role", "seniority"])
            for a in self.accounts:
                for c in a.contacts:
                    writer.writerow([c.email, a.account_id, c.title, c.role, c.seniority])

    # -- traffic ---------------------------------------------------------------------------

    def messages(self) -> list[dict[str, Any] | str]:
        """Every message of the run in event-time order; malformed ones included (a `str` is a
        line that is not even JSON)."""
        timed: list[tuple[int, int, dict[str, Any] | str]] = []
        seq = 0
        for account in self.accounts:
            for at_ms, message in self._account_traffic(account):
                timed.append((at_ms, seq, message))
                seq += 1
        for at_ms, message in self._background_traffic(len(timed)):
            timed.append((at_ms, seq, message))
            seq += 1
        timed.sort(key=lambda item: (item[0], item[1]))
        out: list[dict[str, Any] | str] = [message for _, _, message in timed]
        return self._with_malformed(out)

    # -- outcomes ------------------------------------------------------------------------------

    def opportunities(self) -> list[Opportunity]:
        """The CRM's opportunities of the run: the ground truth a backtest is measured against.

        Real buyers open one: every prospect of the buying and hand-raiser profiles with an ICP
        fit of 50 or more, and a quarter of the unfit ones (an unfit account rarely gets as far),
        1-21 days after the last day of traffic (their surge runs to it). A fifth of the warming
        prospects open one too, at the same time, without a buying journey to see (inbound from
        elsewhere): the opportunities no MQA can precede. About a third of the opportunities are
        won or lost 10-45 days after they opened; the others are open. Drawn from a generator of
        their own, so the directory and touchpoints do not change with them.
        """
        rng = random.Random(f"{self.config.seed}:opportunities")
        found: list[Opportunity] = []
        for account in self.accounts:
            chance = 0.0
            if account.lifecycle == "prospect":
                if account.profile in ("buying", "hand_raiser"):
                    chance = 1.0 if account.icp_fit >= 50 else 0.25
                elif account.profile == "warming":
                    chance = 0.2
            draw = rng.random()
            day = self.end_ms // DAY_MS + rng.randint(1, 21)
            created = day * DAY_MS + rng.randint(8, 17) * HOUR_MS
            amount = float(rng.choice((12, 18, 25, 40, 60, 90, 150)) * 1000 * (4 - account.tier))
            closes = rng.random()
            closed = created + rng.randint(10, 45) * DAY_MS
            if draw >= chance:
                continue
            outcome = WON if closes < 0.2 else LOST if closes < 0.35 else OPEN
            stage = {WON: "Closed Won", LOST: "Closed Lost", OPEN: "Discovery"}[outcome]
            found.append(
                Opportunity(
                    opportunity_id=f"opp-{account.account_id.removeprefix('acc-')}",
                    account_id=account.account_id,
                    created_ms=created,
                    stage=stage,
                    amount=amount,
                    closed_ms=closed,
                    outcome=outcome,
                )
            )
        return found

    def buyers(self) -> set[str]:
        """Ids of the accounts on a buying journey (buying and hand-raiser profiles)."""
        return {a.account_id for a in self.accounts if a.profile in ("buying", "hand_raiser")}

    def write_opportunities(self, path: Path) -> int:
        """opportunities.csv in the format of `abm outcomes load` (docs/backtest.md)."""
        opportunities = self.opportunities()
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["account_id", "opportunity_id", "created_at", "stage", "amount",
                             "closed_at", "outcome"])  # fmt: skip
            for o in opportunities:
                closed = iso_ms(o.closed_ms)[:10] if o.closed_ms is not None else ""
                writer.writerow([o.account_id, o.opportunity_id, iso_ms(o.created_ms), o.stage,
                                 f"{o.amount:.0f}" if o.amount is not None else "", closed,
                                 o.outcome])  # fmt: skip
        return len(opportunities)

    def write_jsonl(self, path: Path) -> int:
        count = 0
        with path.open("wb") as handle:
            for message in self.messages():
                line = message.encode() if isinstance(message, str) else orjson.dumps(message)
                handle.write(line + b"\n")
                count += 1
        return count

    def _account_traffic(self, account: SimAccount) -> Iterator[tuple[int, dict[str, Any]]]:
        rng = self.rng
        for contact in account.contacts:
            if not contact.identified:
                # an identify call early on links the userId to the e-mail
                yield self.start_ms, self._identify(contact, self.start_ms)
        profile = account.profile
        if profile == "idle":
            for _ in range(rng.randint(0, 3)):
                yield from self._visit(account, rng.choice(account.contacts), ("blog", "other"))
        elif profile == "researching":
            reader = rng.choice(account.contacts[3:] or account.contacts)
            for _ in range(rng.randint(10, 60)):
                yield from self._visit(account, reader, ("blog", "blog", "blog", "product"))
            for _ in range(rng.randint(0, 4)):
                yield from self._track(account, reader, "Email Opened", self._any_time())
        elif profile == "warming":
            for contact in rng.sample(account.contacts, k=min(3, len(account.contacts))):
                for _ in range(rng.randint(3, 10)):
                    yield from self._visit(
                        account, contact, ("product", "integrations", "case_study", "blog"),
                        before_ms=self.end_ms - 10 * DAY_MS,
                    )  # fmt: skip
                yield from self._track(account, contact, "Webinar Registered", self._any_time())
        elif profile in ("buying", "hand_raiser"):
            yield from self._buying(account)
        if rng.random() < 0.5:  # anonymous visitors resolved by reverse IP (context.groupId)
            for _ in range(rng.randint(1, 6)):
                at = self._any_time()
                yield at, self._page(None, f"anon-{self._hex(10)}", at,
                                     rng.choice(PAGES["product"] + PAGES["blog"]),
                                     group_id=account.account_id)  # fmt: skip

    def _buying(self, account: SimAccount) -> Iterator[tuple[int, dict[str, Any]]]:
        rng = self.rng
        surge_start = self.end_ms - rng.randint(8, 20) * DAY_MS
        for contact in account.contacts:
            for _ in range(rng.randint(1, 5)):  # early, light research
                yield from self._visit(account, contact, ("blog", "product", "case_study"),
                                       before_ms=surge_start)  # fmt: skip
        engaged = [c for c in account.contacts if c.role != "legal_procurement"]
        for contact in engaged:
            if rng.random() < 0.15:
                continue  # not everyone shows up
            for _ in range(rng.randint(2, 6)):
                yield from self._visit(
                    account, contact,
                    ("pricing", "security", "integrations", "product", "demo", "case_study"),
                    after_ms=surge_start,
                )  # fmt: skip
            for name in rng.sample(
                ("Webinar Attended", "Content Downloaded", "Email Link Clicked", "Email Replied",
                 "LinkedIn Ad Clicked", "Webinar Registered"), k=rng.randint(1, 3),
            ):  # fmt: skip
                yield from self._track(account, contact, name, self._time_after(surge_start),
                                       premium=rng.random() < 0.3)  # fmt: skip
        if account.profile == "hand_raiser":
            asker = rng.choice(account.contacts[:3])
            at = self._time_after(self.end_ms - 3 * DAY_MS)
            yield from self._track(account, asker, "Demo Requested", at)

    def _background_traffic(self, volume: int) -> Iterator[tuple[int, dict[str, Any]]]:
        rng = self.rng
        for _ in range(int(volume * self.config.anonymous_share)):
            at = self._any_time()
            yield at, self._page(None, f"anon-{self._hex(10)}", at, rng.choice(PAGES["blog"]))
        for _ in range(int(volume * self.config.free_mail_share)):
            at = self._any_time()
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(_FREE_MAIL)}".lower()
            email = email.replace(" ", "")
            message = self._page(f"u-{self._hex(12)}", None, at, rng.choice(PAGES["pricing"]))
            message["context"]["traits"] = {"email": email}
            yield at, message

    def _with_malformed(self, messages: list[dict[str, Any] | str]) -> list[dict[str, Any] | str]:
        rng = self.rng
        count = int(len(messages) * self.config.malformed_share)
        for _ in range(count):
            index = rng.randrange(len(messages))
            template = messages[index]
            if isinstance(template, str):
                continue
            broken = orjson.loads(orjson.dumps(template))
            broken["messageId"] = f"bad-{self._hex(16)}"
            defect = rng.choice(("no_id", "bad_time", "user_number", "bad_type", "not_json"))
            if defect == "no_id":
                del broken["messageId"]
            elif defect == "bad_time":
                broken["timestamp"] = "yesterday afternoon"
            elif defect == "user_number":
                broken["userId"] = 12345
                broken.pop("anonymousId", None)
            elif defect == "bad_type":
                broken["type"] = "pageview"
            else:
                messages.insert(index, orjson.dumps(broken).decode()[:-7])
                continue
            messages.insert(index, broken)
        return messages

    # -- message builders ------------------------------------------------------------------

    def _visit(
        self,
        account: SimAccount,
        contact: SimContact,
        categories: tuple[str, ...],
        *,
        before_ms: int | None = None,
        after_ms: int | None = None,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        category = self.rng.choice(categories)
        at = self._time_after(after_ms) if after_ms is not None else self._any_time(before_ms)
        message = self._page(contact.user_id, None, at, self.rng.choice(PAGES[category]))
        self._identity(message, contact)
        yield at, message

    def _track(
        self,
        account: SimAccount,
        contact: SimContact,
        name: str,
        at: int,
        *,
        premium: bool = False,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        message = self._base("track", contact.user_id, None, at)
        message["event"] = name
        if name == "Content Downloaded":
            message["properties"] = {"asset": "ABM playbook", "premium": premium}
        if name == "Demo Requested":
            message["properties"] = {"form": "demo", "url": f"{SITE}/demo"}
        self._identity(message, contact)
        yield at, message

    def _identity(self, message: dict[str, Any], contact: SimContact) -> None:
        if contact.identified:
            message["context"]["traits"] = {"email": contact.email, "title": contact.title}

    def _identify(self, contact: SimContact, at: int) -> dict[str, Any]:
        message = self._base("identify", contact.user_id, None, at)
        message["traits"] = {"email": contact.email, "title": contact.title,
                             "firstName": contact.first, "lastName": contact.last}  # fmt: skip
        return message

    def _page(
        self,
        user_id: str | None,
        anonymous_id: str | None,
        at: int,
        path: str,
        group_id: str | None = None,
    ) -> dict[str, Any]:
        message = self._base("page", user_id, anonymous_id, at)
        message["properties"] = {"url": f"{SITE}{path}", "path": path}
        if group_id is not None:
            message["context"]["groupId"] = group_id
        return message

    def _base(
        self, kind: str, user_id: str | None, anonymous_id: str | None, at: int
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": kind,
            "messageId": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "timestamp": iso_ms(at),
            "context": {"library": {"name": "abm-simulator", "version": "1"}},
        }
        if user_id is not None:
            message["userId"] = user_id
        if anonymous_id is not None:
            message["anonymousId"] = anonymous_id
        return message

    def _any_time(self, before_ms: int | None = None) -> int:
        return self.rng.randint(self.start_ms, before_ms or self.end_ms)

    def _time_after(self, after_ms: int) -> int:
        return self.rng.randint(after_ms, self.end_ms)

    def _hex(self, size: int) -> str:
        return f"{self.rng.getrandbits(size * 4):0{size}x}"


def generate(out_dir: Path, config: SimConfig) -> dict[str, Path]:
    """Write accounts.csv, contacts.csv, touchpoints.jsonl and opportunities.csv into
    `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    simulator = Simulator(config)
    paths = {
        "accounts": out_dir / "accounts.csv",
        "contacts": out_dir / "contacts.csv",
        "touchpoints": out_dir / "touchpoints.jsonl",
        "opportunities": out_dir / "opportunities.csv",
    }
    simulator.write_directory(paths["accounts"], paths["contacts"])
    simulator.write_jsonl(paths["touchpoints"])
    simulator.write_opportunities(paths["opportunities"])
    return paths
