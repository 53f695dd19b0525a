"""Typed settings, read from environment variables (and `.env`): one model per process.

Defaults are safe for a laptop: everything on loopback, on ports that do not collide with a
Kafka or Redis the user may already run (19092 and 16379). `KAFKA_BOOTSTRAP_SERVERS` and
`REDIS_URL` (the names every Kafka/Redis tool uses) point the engine at existing services; when
either is set, `abm infra up` starts nothing for it.

The models, so that each process's code can read only what is its own (the type checker holds
it to that: `stream/` takes a `WorkerSettings`, `producers/` a `CollectorSettings`, `alerting/`
an `AlertSettings`, the shared plumbing a `CommonSettings`):

- `CommonSettings`: what more than one process reads: Kafka and Redis, the prefixes, the app id,
  the topics' partitions, replication and retention (every process creates the topics it
  needs), the local folders, the event size limit, the consumer session timeout, the pseudonym
  key and the suppression list's refresh, the logging. The rule is plain: a field read by two
  processes (or by the plumbing they share) is common; there is no mixin per pair.
- `WorkerSettings`, `AlertSettings` (here) and `CollectorSettings` (`producers/settings.py`, next
  to the webhook sources' registry its secrets' fields are made from): the common fields plus
  the fields only that process reads.
- `Settings` (`abm_cli/settings.py`, above every process): all of them (it inherits the three).
  The command line, the demo, the benchmarks and the tests build it; it passes as any of the
  process models, and every variable is read and validated whichever process starts.

All share one configuration (the `ABM_` prefix, `.env`) and `to_env`, which passes every field
of whichever model to a child process, so a field cannot be dropped on the way.

This module is in layer 1 (docs/architecture.md, Layers): it imports nothing of the processes
(`stream/`, `producers/`, `alerting/`) nor of the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from abm.core.privacy import DEFAULT_PSEUDONYM_KEY

if TYPE_CHECKING:
    import typer

LOCAL_KAFKA_PORT = 19092
LOCAL_REDIS_PORT = 16379


class CommonSettings(BaseSettings):
    """What more than one process reads (module docstring); the configuration every model
    shares."""

    model_config = SettingsConfigDict(
        env_prefix="ABM_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    kafka_bootstrap_servers: str = Field(
        default=f"127.0.0.1:{LOCAL_KAFKA_PORT}",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "ABM_KAFKA_BOOTSTRAP_SERVERS"),
        description="Comma-separated host:port list of the Kafka brokers.",
    )
    redis_url: SecretStr = Field(
        default=SecretStr(f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0"),
        validation_alias=AliasChoices("REDIS_URL", "ABM_REDIS_URL"),
        description="Redis URL; may carry a password, so it is a secret and never logged.",
    )
    app_id: str = Field(
        default="abm-engine",
        description="Faust application id: consumer group and prefix of its changelog topics.",
    )
    topic_prefix: str = Field(
        default="abm", description="Prefix of every topic name (see stream/topics.py)."
    )
    partitions: int = Field(default=4, ge=1, description="Partitions of topics we create.")
    replication_factor: int = Field(default=1, ge=1)
    redis_prefix: str = Field(default="abm", description="Prefix of every Redis key we write.")
    state_dir: Path = Field(
        default=Path(".abm"),
        description="Local working folder: table data, the local broker and Redis, logs.",
    )
    cache_dir: Path = Field(
        default=Path(".cache"),
        description="Downloaded artefacts (the Kafka jars); safe to delete, fetched again.",
    )
    max_event_bytes: int = Field(
        default=32 * 1024, ge=1024, description="Larger raw messages are dead-lettered (bytes)."
    )
    session_timeout_s: float = Field(
        default=30.0,
        ge=6.0,
        description="Consumer group session timeout: how long a crashed worker's partitions "
        "wait before another worker takes them over (seconds).",
    )
    raw_retention_days: float = Field(
        default=7.0,
        gt=0.0,
        le=36_500.0,
        description="How long touchpoints.raw keeps a message (days). It holds the senders' "
        "identities (e-mail, userId, anonymousId) in the clear, so keep it short; the worker "
        "needs it only until it has resolved the message. Applied to new topics, and to existing "
        "ones by `abm topics configure`.",
    )
    resolved_retention_days: float = Field(
        default=400.0,
        gt=0.0,
        le=36_500.0,
        description="How long touchpoints.resolved keeps a touchpoint (days): the history that "
        "`abm state rebuild` and `abm backtest --from topic` can use. At least the model's "
        "longest half-life window (90 days); 400 covers a year with a margin. Applied to new "
        "topics, and to existing ones by `abm topics configure`.",
    )
    changelog_compaction_max_lag_s: float = Field(
        default=86_400.0,
        ge=60.0,
        le=31_536_000.0,
        description="Longest time a replaced record of the engagement table's changelog stays "
        "on the broker before compaction removes it (seconds; Kafka's max.compaction.lag.ms, "
        "which also rolls the open segment). A scrubbed or deleted account state therefore "
        "replaces the old one on disk within this bound, plus the log cleaner's pass.",
    )
    pseudonym_key: SecretStr = Field(
        default=SecretStr(DEFAULT_PSEUDONYM_KEY.decode()),
        description="The deployment's secret for persons' keyed pseudonyms (HMAC-SHA256; "
        "docs/privacy.md). The default is a documented development key: set your own, long "
        "and random, before real data arrives, and keep it: changing it changes every "
        "pseudonym (see docs/privacy.md, key rotation).",
    )
    privacy_refresh_s: float = Field(
        default=1.0,
        gt=0.0,
        le=60.0,
        description="How often the collector and the workers look whether the suppression list "
        "changed (seconds): a newly suppressed person's events are dropped at the latest this "
        "long after `abm privacy suppress` returns.",
    )
    log_level: str = Field(default="info")
    log_connection_error_interval_s: float = Field(
        default=30.0,
        gt=0.0,
        description="While Kafka or Redis is down, their connection errors are logged once per "
        "this interval per service, with the count of those left out (seconds; abm.log_limit).",
    )

    @field_validator("pseudonym_key")
    @classmethod
    def _pseudonym_key_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty (a long random secret of the deployment)")
        return value

    def pseudonym_secret(self) -> bytes:
        """The pseudonym key as HMAC key bytes (a secret: never log it)."""
        return self.pseudonym_key.get_secret_value().encode()

    @field_validator("topic_prefix", "app_id", "redis_prefix")
    @classmethod
    def _no_blanks(cls, value: str) -> str:
        if not value or any(ch.isspace() for ch in value):
            raise ValueError("must be non-empty and contain no white space")
        return value

    @property
    def external_kafka(self) -> bool:
        """True when the user pointed us at a broker of their own (in the environment, `.env`
        or the constructor): then `abm infra up` starts none."""
        return "kafka_bootstrap_servers" in self.model_fields_set

    @property
    def external_redis(self) -> bool:
        """True when the user pointed us at a Redis of their own (as `external_kafka`)."""
        return "redis_url" in self.model_fields_set

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables, for a child process (contains secrets: pass
        it to the process, never print it). Every field is passed, under the first name it is
        read by (`KAFKA_BOOTSTRAP_SERVERS`, `REDIS_URL`, else `ABM_{FIELD}`), except those that
        are unset (None). Generic on purpose: a field added later (a new alert channel's URL or
        secret, a new source's secret) reaches child processes without being listed anywhere."""
        env: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None:
                continue
            env[env_name(name, field)] = _env_value(value)
        return env

    def redis_url_redacted(self) -> str:
        """The Redis URL with any password replaced, for logs and error messages."""
        return redact_url(self.redis_url.get_secret_value())


class WorkerSettings(CommonSettings):
    """The worker's own fields (`abm worker`, stream/): its agents, table, producer and web
    side."""

    scoring_model: Path | None = Field(
        default=None, description="Scoring model YAML; unset means the bundled default."
    )
    web_port: int = Field(default=6066, ge=0, le=65535, description="Worker HTTP port (/metrics).")
    worker_role: Literal["all", "resolution", "engagement"] = Field(
        default="all",
        description="The agents this worker runs: `all` (resolution and engagement), "
        "`resolution` (raw messages -> touchpoints; no table, no account pages) or `engagement` "
        "(touchpoints -> scores, MQAs, the table and the account pages). Workers of every role "
        "share one consumer group (`ABM_APP_ID`); each topic is shared among the workers that "
        "run its agent. One worker of each role uses two cores where one `all` worker uses one "
        '(docs/operations.md, "Worker roles").',
    )
    table_store: str = Field(
        default="memory://",
        description="Faust table store: memory:// rebuilds the state from the changelog on every "
        "start; rocksdb:// keeps it on disk under state_dir and replays only what is newer "
        "(much faster restarts of large tables; see docs/benchmarks.md).",
    )
    resolution_batch_size: int = Field(
        default=200,
        ge=1,
        description="Raw messages resolved together with one directory lookup (1: one at a time).",
    )
    resolution_batch_wait_s: float = Field(
        default=0.005,
        gt=0.0,
        le=1.0,
        description="Longest wait for a batch to fill before it is resolved (seconds). Must be "
        "above 0: Faust reads a wait of 0 as 'until the batch is full', which would hold "
        "touchpoints back at low rates.",
    )
    engagement_batch_size: int = Field(
        default=500,
        ge=1,
        description="Resolved touchpoints the engagement agent applies together: each account "
        "touched in a batch is written to the table (one changelog record) once per batch.",
    )
    engagement_batch_wait_s: float = Field(
        default=0.005,
        gt=0.0,
        le=0.010,
        description="Longest wait for an engagement batch to fill before it is applied "
        "(seconds; at most 10 ms, it adds to every event -> MQA latency). Must be above 0: "
        "Faust reads a wait of 0 as 'until the batch is full'.",
    )
    engagement_flush_interval_s: float = Field(
        default=10.0,
        gt=0.0,
        le=60.0,
        description="How often, under steady input, the engagement agent writes the account "
        "states it changed to the table (seconds): one changelog record per changed account per "
        "interval, and the input offsets are committed only after that write. MQAs are sent at "
        "once; a longer interval writes less and replays more after a crash (Kafka Streams "
        "commits every 30 s by default, Quix Streams every 5 s).",
    )
    engagement_flush_idle_s: float = Field(
        default=0.5,
        gt=0.0,
        le=60.0,
        description="The changed states are written sooner once no touchpoint arrived for this "
        "long (seconds): when the input pauses, and during a rebalance, which waits for the "
        "write.",
    )
    engagement_cache_accounts: int = Field(
        default=10_000,
        ge=0,
        le=1_000_000,
        description="Decoded account states the engagement agent keeps in memory between "
        "batches (least recently used go first; 0: none, every batch reads the table). Memory: "
        "a decoded state takes about 3.4 times its stored size (measured on the simulated "
        "data), so 10,000 accounts of 1 KB stored take about 35 MB.",
    )
    stream_buffer_records: int = Field(
        default=16_384,
        ge=64,
        le=262_144,
        description="Fetched records each of the worker's streams (resolution, engagement) may "
        "hold before Faust pauses fetching their partitions; fetching resumes once the buffer "
        "is down to 40%. Faust's default of 4,096 leaves the agents idle between fetches during "
        "a backlog (measured in docs/benchmarks.md). Memory: a held record takes about 1-2 KB, "
        "so 16,384 per stream is about 20-30 MB at most, reached only during a backlog.",
    )
    fetch_wait_s: float = Field(
        default=0.02,
        gt=0.0,
        le=1.5,
        description="Longest time the broker holds the worker's fetch request when none of its "
        "partitions has new records (seconds). The Kafka client keeps one fetch in flight per "
        "broker and fetches a partition again only once its prefetched records are used up, so "
        "while the busy partitions are still prefetched the request asks for the idle ones "
        "only (the raw topic, the erasure commands), and the busy ones, once used up, wait for "
        "it to come back. Faust holds it 1.5 s, which left the engagement agent idle for half "
        "of a backlog (docs/benchmarks.md). An idle worker sends one small fetch per this "
        "interval.",
    )
    producer_buffer_messages: int = Field(
        default=10_000,
        ge=100,
        description="Table changelog records Faust may queue before the agent waits for the "
        "producer (Faust's default of 100 throttles and warns on every burst).",
    )
    producer_linger_s: float = Field(
        default=0.005,
        ge=0.0,
        description="How long the worker's producer waits to batch records (seconds).",
    )
    producer_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        default="none",
        description="Compression of the worker's produced batches. Every table update writes the "
        "account's whole state (a few KB of JSON) to the changelog: lz4 or zstd cut those bytes "
        "on the wire and the broker's disk, for the worker's CPU (on one machine with the "
        "broker, lz4 made the engagement agent slower; see docs/benchmarks.md).",
    )

    # --- operations: worker web server, account pages, metrics (docs/operations.md) ---
    web_bind: str = Field(
        default="127.0.0.1",
        description="Address the worker's web server listens on (0.0.0.0: every interface).",
    )
    web_host: str = Field(
        default="127.0.0.1",
        description="Host name other workers reach this one by: account page requests for an "
        "account another worker owns are forwarded to http://{web_host}:{web_port}.",
    )
    account_metrics_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the per-tier account gauges are recomputed (seconds).",
    )
    lag_interval_s: float = Field(
        default=15.0, gt=0, description="How often the consumer lag gauge is refreshed (seconds)."
    )
    peer_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="How long the account list waits for another worker's part (seconds).",
    )


class AlertSettings(CommonSettings):
    """The alert service's own fields (`abm alerts`, alerting/; docs/alerting.md): channels,
    routing, retries, follow-up SLAs and the links its alerts carry."""

    public_base_url: str = Field(
        default="http://127.0.0.1:6066",
        description="Where people reach the worker's web pages; alerts link to "
        "{public_base_url}/accounts/{account_id}.",
    )
    alert_channels: str = Field(
        default="auto",
        description="Comma-separated channels of `abm alerts`: console, slack, email, webhook; "
        "`auto` means slack, email and webhook when configured, else console.",
    )
    alert_port: int = Field(
        default=8089, ge=0, le=65535, description="Alert service HTTP port (/metrics, acks)."
    )
    alert_bind: str = Field(default="127.0.0.1", description="Alert service HTTP bind address.")
    alert_public_url: str = Field(
        default="http://127.0.0.1:8089",
        description="Where people reach the alert service (the e-mail acknowledge link).",
    )
    alert_ack_secret: SecretStr | None = Field(
        default=None, description="Signs e-mail acknowledge links; unset: no link in e-mails."
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, description="Slack bot token (xoxb-...) for chat.postMessage."
    )
    slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming webhook, used when there is no bot token."
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Verifies Slack interactivity requests (acknowledge button)."
    )
    slack_api_url: str = Field(default="https://slack.com/api/", description="Slack Web API.")
    slack_channel: str | None = Field(
        default=None,
        description="Post every MQA here (owner mentioned); unset: a direct message to the owner.",
    )
    slack_fallback_channel: str | None = Field(
        default=None, description="Slack channel for MQAs of accounts without an owner."
    )
    slack_min_interval_s: float = Field(
        default=1.0, ge=0.0, description="Pacing: at most one message per channel per this."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: no e-mail.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = Field(default=None)
    smtp_password: SecretStr | None = Field(default=None)
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection (STARTTLS).")
    smtp_ca_file: Path | None = Field(
        default=None, description="CA bundle to verify the SMTP server with (default: system)."
    )
    smtp_from: str = Field(default="ABM alerts <abm-alerts@localhost>")
    alert_fallback_email: str | None = Field(
        default=None, description="E-mail address for MQAs of accounts without an owner."
    )
    escalation_slack_channel: str | None = Field(
        default=None, description="Slack channel (or user id) for follow-up SLA escalations."
    )
    escalation_email: str | None = Field(
        default=None, description="E-mail address for follow-up SLA escalations."
    )
    alert_webhook_url: SecretStr | None = Field(
        default=None,
        description="Outgoing webhook: every MQA alert and escalation as a signed JSON POST "
        "here (docs/alerting.md). A secret: such URLs often carry a token.",
    )
    alert_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret of the outgoing webhook (Standard Webhooks: whsec_ + "
        "base64 of the key); required with ABM_ALERT_WEBHOOK_URL.",
    )
    alert_webhook_timeout_s: float | None = Field(
        default=None,
        gt=0.0,
        description="Timeout of one outgoing webhook request (seconds); unset: "
        "ABM_ALERT_TIMEOUT_S.",
    )
    crm_webhook_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of POST /crm/activity and POST /crm/opportunity; unset: off.",
    )
    alert_max_attempts: int = Field(
        default=6, ge=1, description="Delivery attempts before an alert is dead-lettered."
    )
    alert_backoff_s: float = Field(
        default=1.0, gt=0.0, description="First retry delay; doubles per attempt (seconds)."
    )
    alert_backoff_max_s: float = Field(default=60.0, gt=0.0, description="Longest retry delay.")
    alert_timeout_s: float = Field(
        default=10.0,
        gt=0.0,
        description="Timeout of one Slack, SMTP or webhook request (seconds).",
    )
    alert_claim_lease_s: float = Field(
        default=60.0,
        gt=0.0,
        description="How long a delivery claim of a silent (crashed) service blocks others.",
    )
    alert_max_in_flight: int = Field(
        default=8,
        ge=1,
        description="Deliveries one service works on at once (each from claim to confirm).",
    )
    alert_sla_poll_s: float = Field(
        default=1.0, gt=0.0, description="How often due follow-up SLAs are checked (seconds)."
    )
    alert_crash_at: str | None = Field(
        default=None, description="Tests only: exit hard at this point (after_claim, after_send)."
    )


def env_name(name: str, field: FieldInfo) -> str:
    """The environment variable a field is read from (its first, if several)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"ABM_{name.upper()}"


def _env_value(value: object) -> str:
    """A field's value as its environment variable's text (secrets in the clear)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, ""))


Model = TypeVar("Model", bound=CommonSettings)


def command_settings(context: typer.Context, model: type[Model]) -> Model:
    """The settings of the running command, as `model`: those the `abm` command line keeps in
    its root context (`abm_cli.settings.get_settings`: the full settings, every variable read
    and validated, once per process), else, for a command run on its own, `model` read now. The
    commands of the lower layers (`abm privacy`, `abm alerts`, ...) read their settings through
    this, so they need not import the model of every process. Raises `ValueError` (a pydantic
    `ValidationError`) for invalid settings."""
    load = context.find_root().obj
    settings = load() if callable(load) else model()
    if not isinstance(settings, model):
        raise TypeError(f"the command line's settings are no {model.__name__}")
    return settings
