"""The Faust application: topics, the engagement table and the agents, built from settings.

Which agents it runs follows `ABM_WORKER_ROLE`: a worker of the `resolution` role subscribes
to the raw topic only and has no table; one of the `engagement` role subscribes to the resolved
touchpoints, the erasure commands and the table's changelog. Faust's assignor shares each group
of co-partitioned topics among the members that subscribe to all of them, so workers of
different roles share one consumer group, and the changelog stays with the touchpoints'
partitions because only engagement-running workers subscribe to either.

A factory instead of module-level globals, so tests and benchmarks can run several isolated
pipelines (own app id, own topic prefix) against one broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from abm.core.model import ScoringModel
from abm.plumbing.redis_clients import SharedStores, open_suppression
from abm.privacy.suppression import SuppressionList
from abm.settings import WorkerSettings
from stream import topics
from stream.partitioning import RememberingPartitioner
from stream.schema import StateGuard
from stream.transport import App, RawSchema
from stream.write_behind import StateCache

PRODUCER_MAX_BATCH_BYTES = 512 * 1024
"""Largest batch of records the producer sends to one partition at once (bytes). A flush writes
thousands of account states at once; with the client's default of 16 KB, every 16 KB of a
partition waits for the batch before it to be drained. The figure `peer`'s aiokafka loop uses
the same."""


@dataclass(frozen=True)
class Pipeline:
    """Everything an agent needs; agents get this object, never globals."""

    app: App
    settings: WorkerSettings
    model: ScoringModel
    raw: Any
    resolved: Any
    """The agents' input topics (Faust topics). What the agents write goes to the producer by
    topic name (`stream.record_io.send_record`)."""
    erasure: Any
    """privacy.erasure: `abm privacy forget`'s commands, co-partitioned with the input."""
    engagement_table: Any
    """The engagement table; None in a worker of the `resolution` role (`worker_role`)."""
    engagement_cache: StateCache
    """Decoded states of the engagement agent between batches (`stream.write_behind`)."""
    state_guard: StateGuard
    suppression: SuppressionList
    """The suppression list's copy, refreshed by the agents (`abm.privacy.suppression`)."""
    """Stops the worker on stored states it cannot read (`stream.schema`)."""

    def topic_name(self, spec: topics.TopicSpec) -> str:
        return spec.name(self.settings.topic_prefix)


def create_app(settings: WorkerSettings, model: ScoringModel) -> Pipeline:
    from stream import gauges
    from stream.agents import engagement, resolution
    from stream.web import routes
    from stream.web.index import AccountIndex

    brokers = [f"kafka://{host.strip()}" for host in settings.kafka_bootstrap_servers.split(",")]
    app = App(
        settings.app_id,
        broker=brokers,
        store=settings.table_store,
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        key_serializer="raw",
        value_serializer="raw",
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=settings.producer_linger_s,
        producer_partitioner=RememberingPartitioner(),
        producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
        producer_compression_type=(
            None if settings.producer_compression == "none" else settings.producer_compression
        ),
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        datadir=str(settings.state_dir / "faust"),
        web_enabled=settings.web_port > 0,
        web_port=settings.web_port or 6066,
        web_bind=settings.web_bind,
        web_host=settings.web_host,
        autodiscover=False,
        stream_buffer_maxsize=settings.stream_buffer_records,
    )
    app.fetch_wait_s = settings.fetch_wait_s
    app.group_changelogs = frozenset({topics.engagement_changelog(settings.app_id)})

    def topic(spec: topics.TopicSpec) -> Any:
        return app.topic(
            spec.name(settings.topic_prefix),
            schema=RawSchema(),  # bytes in, bytes out
            partitions=settings.partitions,
        )

    app.producer.buffer.max_messages = settings.producer_buffer_messages
    resolves = settings.worker_role in ("all", "resolution")
    engages = settings.worker_role in ("all", "engagement")
    table = None  # a worker without the engagement agent neither holds nor recovers it
    if engages:
        table = app.Table(
            topics.ENGAGEMENT_TABLE,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
            default=None,
            help="Per-account engagement state (abm.core.state.AccountState as JSON).",
            extra_topic_configs=topics.changelog_configs(settings),
        )
    pipeline = Pipeline(
        app=app,
        settings=settings,
        model=model,
        raw=topic(topics.RAW),
        resolved=topic(topics.RESOLVED),
        erasure=topic(topics.PRIVACY_ERASURE),
        engagement_table=table,
        engagement_cache=StateCache(settings.engagement_cache_accounts),
        state_guard=StateGuard(),
        suppression=open_suppression(settings),
    )
    if resolves:
        resolution.register(pipeline)
    index = None
    stores = SharedStores(settings)  # opened on first use
    if engages:
        engagement.register(pipeline)
        index = AccountIndex(pipeline)
        routes.register(pipeline, index, stores)
    gauges.register(pipeline, index, stores)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return pipeline
