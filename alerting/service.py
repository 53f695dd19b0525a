"""`abm alerts`: the alert service. MQA events in, one alert per MQA per channel out, follow-up
SLAs tracked and escalated.

Three loops share one process:

- the MQA consumer (group `{app_id}-alerts`, manual commits): opens the MQA's SLA (which fixes
  its owner and due time once), routes it and delivers it on every channel through the ledger
  (`alerting.delivery`); a batch is committed only when every delivery in it is final, so a
  crash re-reads it and the ledger skips what was done;
- the activity consumer (group `{app_id}-alerts-sla`): sales activities and acknowledgements
  close SLAs (`alerting.sla`);
- the SLA poller: every `ABM_ALERT_SLA_POLL_S`, breaches the SLAs whose due time passed and
  delivers one escalation each (through the same ledger, so it is sent once too). It starts
  only once the activity group has committed the sales activities up to the end offsets of the
  service's start: a follow-up recorded in time while the service was down is applied before
  any SLA is judged, instead of an escalation for an SLA that was met.

Plus an HTTP server on `ABM_ALERT_PORT` (`alerting.web`): /metrics, the Slack interactivity
endpoint, the e-mail acknowledge link and the CRM webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from abm.core.mqa_event import MqaEvent, MqaEventError
from abm.core.opportunities import WON, Opportunity, parse_opportunity_object
from abm.core.privacy import pseudonyms_in
from abm.outcomes.store import OutcomeStore
from abm.outcomes.verdicts import LABELS as VERDICT_LABELS
from abm.outcomes.verdicts import VERDICTS, Recorded, Verdict, VerdictStore
from abm.plumbing.idempotent_producer import RenewingProducer
from abm.plumbing.redis_clients import open_directory, redis_client
from abm.plumbing.topics_admin import ensure_topics, partitions_of
from abm.settings import AlertSettings
from alerting import metrics
from alerting.activity import ActivityError, SalesActivity
from alerting.channels.base import Channel, Needs, Outgoing
from alerting.channels.registry import CHANNELS
from alerting.content import Escalation, Owner, account_url, build_alert
from alerting.delivery import DeadLetter, Deliverer, Delivery, Outage, RetryPolicy
from alerting.ledger import Ledger
from alerting.recipients import Route, enabled_channels, escalation_routes, mqa_routes
from alerting.retry import Backoff
from alerting.signing import ack_url, verdict_url
from alerting.sla import SlaRecord, Transition
from alerting.sla_store import SlaStore
from stream.topics import (
    ALERTS_DEAD_LETTER,
    HEADER_DETAIL,
    HEADER_INGEST_MS,
    HEADER_REASON,
    HEADER_SOURCE,
    MQA,
    SALES_ACTIVITY,
    account_key,
    header_text,
)

log = logging.getLogger(__name__)


BATCH_RETRY_BASE_S = 0.5
BATCH_RETRY_MAX_S = 30.0
"""Seconds between tries of a batch whose handling failed (doubling)."""


def wall_ms() -> int:
    return int(time.time() * 1000)


def parse_mqa(raw: bytes | None) -> tuple[Any, MqaEvent | None, str]:
    """An MQA record's value parsed once: (the decoded JSON, or None when it is not JSON; the
    event, or None when it cannot be alerted; why not, or '' when it can). The problem names
    the field (`follow_up.due_at_ms: missing`) or starts `not JSON`."""
    try:
        data = orjson.loads(raw)  # type: ignore[arg-type]  # None (a tombstone) is not JSON
    except orjson.JSONDecodeError as exc:
        return None, None, f"not JSON: {exc}"
    try:
        return data, MqaEvent.from_dict(data), ""
    except MqaEventError as exc:
        return data, None, str(exc)


def backlog_read(
    ends: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int]
) -> bool:
    """Whether a group has committed every partition up to `ends` (offsets); a partition it
    never committed counts as read only when it was empty."""
    return all(committed.get(tp, 0) >= end for tp, end in ends.items())


def channel_types(settings: AlertSettings) -> tuple[type[Channel], ...]:
    """The registered channels `ABM_ALERT_CHANNELS` turns on; `RoutingError` names the setting
    that cannot work."""
    return enabled_channels(settings.alert_channels, settings, CHANNELS)


def build_channels(
    settings: AlertSettings,
    types: Sequence[type[Channel]],
    out: IO[str],
    clock_ms: Callable[[], int],
    redis: Any = None,
) -> dict[str, Channel]:
    """The channels that are on, by name; with `redis`, Slack's Retry-After holds are shared
    there."""
    needs = Needs(out=out, clock_ms=clock_ms, redis=redis)
    return {channel.name: channel.from_settings(settings, needs) for channel in types}


class AlertService:
    def __init__(
        self,
        settings: AlertSettings,
        *,
        out: IO[str] | None = None,
        clock_ms: Callable[[], int] = wall_ms,
        on_alert: Callable[[MqaEvent], None] | None = None,
        channels: dict[str, Channel] | None = None,
    ) -> None:
        """`clock_ms` is the SLA clock (tests pass their own); `on_alert` sees every MQA the
        first time the service handles it (the demo counts them)."""
        self.settings = settings
        self.channel_types = channel_types(settings)
        self.clock_ms = clock_ms
        self._out = out or sys.stdout
        self._on_alert = on_alert
        self._channels = channels
        self._redis: Any = None
        self._producer: RenewingProducer | None = None
        self._directory: Any = None
        self.deliverer: Deliverer | None = None
        self.slas: SlaStore | None = None
        self.outcomes: OutcomeStore | None = None
        self.verdicts: VerdictStore | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._web: Any = None
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.redis_outage = Outage()
        """Shared by every loop that retries Redis: one call that goes through ends their
        waits (the SLA poller's check, at least every `ABM_ALERT_SLA_POLL_S`, finds Redis back
        first)."""
        self.sla_checks_on = asyncio.Event()
        """Set once the activity backlog of the start is read (the SLA poller runs after)."""

    def topic(self, spec: Any) -> str:
        return str(spec.name(self.settings.topic_prefix))

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        metrics.start_series()
        await ensure_topics(s)
        self._redis = redis_client(s)
        await self._redis.ping()
        self._directory = await open_directory(s)
        self.slas = SlaStore(self._redis, s.redis_prefix)
        self.outcomes = OutcomeStore(self._redis, s.redis_prefix)
        self.verdicts = VerdictStore(self._redis, s.redis_prefix)
        self._producer = RenewingProducer(
            lambda: AIOKafkaProducer(
                bootstrap_servers=s.kafka_bootstrap_servers, acks="all", enable_idempotence=True
            )
        )
        await self._producer.start()
        channels = self._channels or build_channels(
            s, self.channel_types, self._out, self.clock_ms, self._redis
        )
        self.deliverer = Deliverer(
            Ledger(self._redis, s.redis_prefix, s.alert_claim_lease_s),
            channels,
            RetryPolicy(s.alert_max_attempts, s.alert_backoff_s, s.alert_backoff_max_s),
            self._send_dead_letter,
            lease_s=s.alert_claim_lease_s,
            max_in_flight=s.alert_max_in_flight,
            crash_at=s.alert_crash_at,
            outage=self.redis_outage,
        )
        if s.alert_port:
            from alerting.web import start_web

            self._web = await start_web(self, s.alert_bind, s.alert_port)
        log.info("alert service: channels %s", ", ".join(c.name for c in self.channel_types))

    async def run(self) -> None:
        """Start, consume and poll until `stopping` is set (or a loop fails)."""
        await self.start()
        try:
            self._tasks = [
                asyncio.ensure_future(self._consume_mqas()),
                asyncio.ensure_future(self._consume_activities()),
                asyncio.ensure_future(self._poll_sla()),
            ]
            stop = asyncio.ensure_future(self.stopping.wait())
            done, _ = await asyncio.wait([stop, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            stop.cancel()
        finally:
            await self.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._web is not None:
            await self._web.cleanup()
            self._web = None
        if self.deliverer is not None:
            await self.deliverer.close()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._directory is not None:
            await self._directory.close()
            self._directory = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # --- MQA alerts ------------------------------------------------------------------------

    def _consumer(self, topic: str, group: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(self.settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(min(3.0, self.settings.session_timeout_s / 3) * 1000),
            max_poll_interval_ms=30 * 60_000,
        )

    async def _consume(
        self, topic: str, group: str, handle: Callable[[Sequence[ConsumerRecord]], Any]
    ) -> None:
        consumer = self._consumer(topic, group)
        await consumer.start()
        try:
            self.ready.set()
            while not self.stopping.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=100)
                for tp, records in batch.items():
                    await self._until_done(handle, records)
                    try:
                        await consumer.commit({tp: records[-1].offset + 1})
                    except (CommitFailedError, IllegalStateError) as exc:
                        # a rebalance took the partition: its new owner re-reads the records
                        # and the ledger skips what was delivered here
                        log.warning("commit of %s failed (%s); records will be re-read", tp, exc)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _until_done(
        self, handle: Callable[[Sequence[ConsumerRecord]], Any], records: Sequence[ConsumerRecord]
    ) -> None:
        """Handle a batch, retrying it whole while Redis or Kafka fail (handling is
        idempotent, so a repeat does nothing twice). The delay doubles from
        `BATCH_RETRY_BASE_S` to `BATCH_RETRY_MAX_S`, and starts again as soon as a Redis call
        anywhere in the service goes through (`redis_outage`): alerts resume within a poll
        interval of Redis coming back, not after the rest of a long delay."""
        backoff = Backoff(BATCH_RETRY_BASE_S, BATCH_RETRY_MAX_S)
        while True:
            try:
                await handle(records)
            except (asyncio.CancelledError, SystemExit):
                raise
            except Exception:
                delay = backoff.failed()
                log.exception("handling a batch failed; retrying in %.1f s", delay)
                if await self.redis_outage.wait(delay):
                    backoff.succeeded()
            else:
                self.redis_outage.over()
                return

    async def _consume_mqas(self) -> None:
        await self._consume(self.topic(MQA), f"{self.settings.app_id}-alerts", self._mqa_batch)

    async def _mqa_batch(self, records: Sequence[ConsumerRecord]) -> None:
        events: dict[str, tuple[MqaEvent, int | None]] = {}
        for record in records:
            data, event, problem = parse_mqa(record.value)
            if event is None:
                metrics.MQAS_INVALID.inc()
                log.error("MQA record %s/%s cannot be alerted: %s", record.partition,
                          record.offset, problem)  # fmt: skip
                await self._send_invalid(record, data, problem)
                continue
            if event.mqa_id in events:
                metrics.MQAS_RECEIVED.labels(repeat="true").inc()
                continue
            events[event.mqa_id] = (event, _header_ms(record, HEADER_INGEST_MS))
        await asyncio.gather(*(self.handle_mqa(e, ingest) for e, ingest in events.values()))

    async def _owner(self, event: MqaEvent) -> Owner:
        """The account's owner now: the directory's record (an account may have changed hands
        since the touchpoint), else the owner the MQA carries."""
        fallback = Owner(event.owner.email, event.owner.slack_id)
        try:
            record = await self._directory.account(event.account.id)
        except Exception as exc:
            log.warning("directory lookup failed, using the MQA's owner: %r", exc)
            return fallback
        if record is None:
            return fallback
        return Owner(record.owner_email, record.owner_slack_id)

    async def _revealed(self, event: MqaEvent) -> MqaEvent:
        """The event as the AE reads it: the persons it names by pseudonym named by the
        directory's index (the e-mail, or `user:<id>`), anonymous visitors as such. Only the
        rendered alert holds the names; the SLA record and the dead letters keep the event as
        it came, with its pseudonyms (a delivery's dead letter: the fields the typed event
        knows, `MqaEvent.to_dict`)."""
        pseudonyms = pseudonyms_in(event.to_dict())
        names: dict[str, str] = {}
        if pseudonyms:
            try:
                names = await self._directory.names_of(pseudonyms)
            except Exception as exc:
                log.warning("pseudonym lookup failed, the alert names persons as visitors: %r",
                            exc)  # fmt: skip
        return event.revealed(names)

    async def handle_mqa(self, event: MqaEvent, ingest_ms: int | None = None) -> list[str]:
        """Open the SLA and deliver on every channel; the final state per route. `ingest_ms`
        is when the triggering touchpoint was ingested (epoch ms, for the latency metric)."""
        assert self.slas is not None and self.deliverer is not None
        owner = await self._owner(event)
        record, transition, created = await self.slas.open(
            event, self.clock_ms(), owner.email, owner.slack_id
        )
        metrics.MQAS_RECEIVED.labels(repeat="false" if created else "true").inc()
        self._observe(record, transition)
        assert self.outcomes is not None
        await self.outcomes.remember_mqa(
            record.account_id, record.mqa_id, record.qualified_at_ms, record.tier, record.rule
        )
        fixed = Owner(record.owner_email, record.owner_slack_id)
        s = self.settings
        account_id = record.account_id
        alert = build_alert(
            await self._revealed(event),
            owner=fixed,
            due_at_ms=record.due_ms,
            account_link=account_url(s.public_base_url, account_id),
            ack_url=(
                ack_url(s.alert_public_url, s.alert_ack_secret.get_secret_value(),
                        record.mqa_id, account_id)
                if s.alert_ack_secret is not None else None
            ),
            verdict_urls=tuple(
                (VERDICT_LABELS[v], verdict_url(s.alert_public_url,
                                                s.alert_ack_secret.get_secret_value(),
                                                record.mqa_id, account_id, v))
                for v in VERDICTS if s.alert_ack_secret is not None
            ),
        )  # fmt: skip
        if created and self._on_alert is not None:
            self._on_alert(alert.event)
        item = Outgoing(record.mqa_id, alert)
        routes = mqa_routes(self.channel_types, s, fixed)
        return await self._deliver_all(item, "mqa", routes, account_id, event.to_dict(), ingest_ms)

    async def _deliver_all(
        self,
        item: Outgoing,
        kind: str,
        routes: list[Route],
        account_id: str,
        event: dict[str, Any],
        ingest_ms: int | None,
    ) -> list[str]:
        assert self.deliverer is not None
        deliveries = [
            Delivery(item, kind, r.channel, r.target or "", r.mention, account_id, event, ingest_ms)
            for r in routes
        ]
        return list(await asyncio.gather(*(self.deliverer.deliver(d) for d in deliveries)))

    async def _send_dead_letter(self, dead: DeadLetter) -> None:
        assert self._producer is not None
        d = dead.delivery
        value = {
            "v": 1,
            "alert_id": d.item.alert_id,
            "kind": d.kind,
            "mqa_id": d.event.get("mqa_id"),
            "account_id": d.account_id,
            "channel": d.channel,
            "target": d.target or None,
            "reason": dead.reason,
            "detail": dead.detail,
            "attempts": dead.attempts,
            "at_ms": wall_ms(),
            "event": d.event,
        }
        await self._producer.send_and_wait(
            self.topic(ALERTS_DEAD_LETTER),
            key=account_key(d.account_id),
            value=orjson.dumps(value),
            headers=[
                (HEADER_REASON, dead.reason.encode()),
                (HEADER_DETAIL, dead.detail[:1000].encode()),
                ("abm-channel", d.channel.encode()),
            ],
        )

    async def _send_invalid(self, record: ConsumerRecord, event: Any, problem: str) -> None:
        """An MQA record that cannot be alerted goes to the alerts dead letters with reason
        `not_json` or `invalid_mqa`, the problem as detail, and the record as it was (`event`
        when it is JSON, else `raw`, its bytes as text); written before the batch is committed,
        so a failure retries the batch (and may write it twice, never zero times)."""
        assert self._producer is not None
        reason = "not_json" if problem.startswith("not JSON") else "invalid_mqa"
        parsed = event if isinstance(event, dict) else {}
        account = parsed.get("account")
        account_id = account.get("id") if isinstance(account, dict) else None
        value = {
            "v": 1,
            "alert_id": None,
            "kind": "mqa",
            "mqa_id": parsed.get("mqa_id"),
            "account_id": account_id if isinstance(account_id, str) else None,
            "channel": None,
            "target": None,
            "reason": reason,
            "detail": problem,
            "attempts": 0,
            "at_ms": wall_ms(),
            "event": event,
            "raw": None
            if event is not None
            else bytes(record.value or b"").decode("utf-8", "replace"),
        }
        source = f"{record.topic}/{record.partition}/{record.offset}"
        await self._producer.send_and_wait(
            self.topic(ALERTS_DEAD_LETTER),
            key=record.key,
            value=orjson.dumps(value),
            headers=[
                (HEADER_REASON, reason.encode()),
                (HEADER_DETAIL, problem[:1000].encode()),
                (HEADER_SOURCE, source.encode()),
            ],
        )
        metrics.DEAD_LETTERS.labels(channel="none", reason=reason).inc()

    # --- follow-ups and the SLA ------------------------------------------------------------

    def _observe(self, record: SlaRecord, transition: Transition) -> None:
        tier = str(record.tier)
        if transition.outcome is not None:
            metrics.SLA_OUTCOMES.labels(tier=tier, outcome=transition.outcome).inc()
        if transition.follow_up_seconds is not None:
            metrics.FOLLOWUP_SECONDS.labels(tier=tier).observe(transition.follow_up_seconds)

    async def _consume_activities(self) -> None:
        await self._consume(
            self.topic(SALES_ACTIVITY), f"{self.settings.app_id}-alerts-sla", self._activities
        )

    async def _activities(self, records: Sequence[ConsumerRecord]) -> None:
        for record in records:
            try:
                activity = SalesActivity.from_json(record.value)
            except ActivityError as exc:
                metrics.ACTIVITY_REJECTED.inc()
                log.warning("sales activity at %s/%s rejected: %s", record.partition,
                            record.offset, exc)  # fmt: skip
                continue
            await self.handle_activity(activity)

    async def handle_activity(self, activity: SalesActivity) -> None:
        assert self.slas is not None
        metrics.ACTIVITIES.labels(kind=activity.kind).inc()
        for record, transition in await self.slas.record_activity(
            activity.account_id, activity.follow_up()
        ):
            self._observe(record, transition)

    async def _activity_offsets(
        self,
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        """(end offsets of `sales.activity` now, the activity group's committed offsets)."""
        s = self.settings
        topic = self.topic(SALES_ACTIVITY)
        partitions = await partitions_of(s.kafka_bootstrap_servers, [topic])
        tps = [TopicPartition(topic, p) for p in partitions[topic]]
        consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap_servers, group_id=None)
        admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap_servers)
        await consumer.start()
        try:
            await admin.start()
            try:
                ends = await consumer.end_offsets(tps)
                found = await admin.list_consumer_group_offsets(
                    f"{s.app_id}-alerts-sla", partitions=tps
                )
            finally:
                await admin.close()
        finally:
            await consumer.stop()
        committed = {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}
        return dict(ends), committed

    async def _wait_activity_backlog(self) -> None:
        """Until the activity group has committed what `sales.activity` held at the start."""
        ends: dict[TopicPartition, int] | None = None
        delay = 0.2
        while not self.stopping.is_set():
            try:
                now_ends, committed = await self._activity_offsets()
            except (KafkaError, OSError) as exc:
                log.warning("reading the sales activity offsets failed (%s); trying again", exc)
            else:
                if ends is None:
                    ends = now_ends
                    log.info("SLA checks start once the sales activities up to offsets %s are "
                             "read", {tp.partition: end for tp, end in ends.items()})  # fmt: skip
                if backlog_read(ends, committed):
                    self.sla_checks_on.set()
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _poll_sla(self) -> None:
        await self._wait_activity_backlog()
        while not self.stopping.is_set():
            try:
                await self.check_sla()
            except (asyncio.CancelledError, SystemExit):
                raise
            except Exception:
                log.exception("SLA check failed; trying again")
            else:
                self.redis_outage.over()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.settings.alert_sla_poll_s)

    async def check_sla(self) -> int:
        """Breach what is due at the SLA clock's now and escalate; the escalations delivered."""
        assert self.slas is not None
        delivered = 0
        for record, transition in await self.slas.due(self.clock_ms()):
            self._observe(record, transition)
            if await self.escalate(record):
                delivered += 1
        return delivered

    async def escalate(self, record: SlaRecord) -> bool:
        assert self.slas is not None
        escalation = Escalation(
            mqa_id=record.mqa_id,
            account_id=record.account_id,
            account_name=record.account_name,
            tier=record.tier,
            rule=record.rule,
            qualified_at_ms=record.qualified_at_ms,
            due_at_ms=record.due_ms,
            sla_seconds=record.sla_seconds,
            owner=Owner(record.owner_email, record.owner_slack_id),
            account_url=account_url(self.settings.public_base_url, record.account_id),
        )
        routes = escalation_routes(self.channel_types, self.settings)
        if not routes:
            log.warning("SLA of %s breached; no escalation target configured", record.mqa_id)
            metrics.DELIVERIES.labels(channel="none", kind="escalation", outcome="no_route").inc()
        event = {"mqa_id": record.mqa_id, "account": {"id": record.account_id}}
        await self._deliver_all(
            Outgoing(f"esc_{record.mqa_id}", escalation), "escalation", routes,
            record.account_id, event, None,
        )  # fmt: skip
        if await self.slas.escalated(record.mqa_id, self.clock_ms()) and routes:
            metrics.ESCALATIONS.labels(tier=str(record.tier)).inc()
            return True
        return False

    # --- AE verdicts ------------------------------------------------------------------------

    async def record_verdict(
        self, mqa_id: str, account_id: str | None, verdict: str, *, giver: str,
        by: str | None, source: str,
    ) -> Recorded | None:  # fmt: skip
        """Store a giver's verdict on an MQA the service alerted (None: an MQA it does not know,
        or of another account) and count it: a giver's first verdict once, a changed one as
        the new verdict plus the old one withdrawn, a repeated one not at all."""
        assert self.slas is not None and self.verdicts is not None
        record = await self.slas.get(mqa_id)
        if record is None or (account_id is not None and record.account_id != account_id):
            return None
        recorded = await self.verdicts.record(
            Verdict(mqa_id, record.account_id, giver, verdict, self.clock_ms(), by, source,
                    record.tier, record.rule)
        )  # fmt: skip
        labels = {"tier": str(record.tier), "rule": record.rule}
        if recorded.result in ("new", "changed"):
            metrics.FEEDBACK.labels(**labels, verdict=verdict).inc()
        if recorded.result == "changed" and recorded.previous is not None:
            metrics.FEEDBACK_WITHDRAWN.labels(**labels, verdict=recorded.previous).inc()
        return recorded

    # --- CRM opportunities -----------------------------------------------------------------

    async def record_opportunity(self, data: Any) -> tuple[Opportunity, Opportunity | None]:
        """Check one opportunity of the CRM webhook as `abm outcomes load` checks a row (its
        account must be in the directory) and store it; (stored, the one it replaced).
        Raises `OpportunitiesError` naming each field and why."""
        assert self.outcomes is not None
        account_id = data.get("account_id") if isinstance(data, dict) else None
        wanted = [account_id.strip()] if isinstance(account_id, str) else []
        known = await self._directory.known_account_ids(wanted)
        opportunity = parse_opportunity_object(data, known)
        before = await self.outcomes.put(opportunity)
        await self._count_opportunity(opportunity, before)
        return opportunity, before

    async def _count_opportunity(self, after: Opportunity, before: Opportunity | None) -> None:
        """The live funnel: a new opportunity (and the MQAs it converts), a newly won one.
        Only what the webhook changes counts, so a redelivery counts nothing."""
        assert self.outcomes is not None
        won = after.outcome == WON and (before is None or before.outcome != WON)
        if before is not None and not won:
            return
        record = await self._directory.account(after.account_id)
        tier = str(record.tier) if record is not None else "unknown"
        if before is None:
            metrics.OPPORTUNITIES_CREATED.labels(tier=tier).inc()
            for mqa_tier, rule in await self.outcomes.convert(after):
                metrics.MQA_CONVERTED.labels(tier=str(mqa_tier), rule=rule).inc()
        if won:
            metrics.OPPORTUNITIES_WON.labels(tier=tier).inc()

    async def publish_activity(self, activity: SalesActivity) -> None:
        """Produce a follow-up (the acknowledge endpoints and the CRM webhook use this)."""
        assert self._producer is not None
        await self._producer.send_and_wait(
            self.topic(SALES_ACTIVITY),
            key=account_key(activity.account_id),
            value=activity.to_json(),
        )


def _header_ms(record: ConsumerRecord, name: str) -> int | None:
    """An epoch-ms header of the record (`abm-ingest-ms`), or None when missing or not a number."""
    text = header_text(record.headers, name)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


async def produce_activity(settings: AlertSettings, activity: SalesActivity) -> None:
    """One sales activity onto its topic (`abm sales activity`)."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            SALES_ACTIVITY.name(settings.topic_prefix),
            key=account_key(activity.account_id),
            value=activity.to_json(),
        )
    finally:
        await producer.stop()
