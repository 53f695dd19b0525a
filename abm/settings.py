"""One typed settings object for every process, read from environment variables.

Defaults are safe for a laptop: everything on loopback, on ports that do not collide with a
Kafka or Redis the user may already run (19092 and 16379). `KAFKA_BOOTSTRAP_SERVERS` and
`REDIS_URL` (the names every Kafka/Redis tool uses) point the engine at existing services; when
either is set, `abm infra up` starts nothing for it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_KAFKA_PORT = 19092
LOCAL_REDIS_PORT = 16379


class Settings(BaseSettings):
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
    scoring_model: Path | None = Field(
        default=None, description="Scoring model YAML; unset means the bundled default."
    )
    state_dir: Path = Field(
        default=Path(".abm"),
        description="Local working folder: table data, the local broker and Redis, logs.",
    )
    cache_dir: Path = Field(
        default=Path(".cache"),
        description="Downloaded artefacts (the Kafka jars); safe to delete, fetched again.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:6066",
        description="Where people reach the worker's web pages; alerts link to "
        "{public_base_url}/accounts/{account_id}.",
    )
    web_port: int = Field(default=6066, ge=0, le=65535, description="Worker HTTP port (/metrics).")
    max_event_bytes: int = Field(
        default=32 * 1024, ge=1024, description="Larger raw messages are dead-lettered (bytes)."
    )
    session_timeout_s: float = Field(
        default=30.0,
        ge=6.0,
        description="Consumer group session timeout: how long a crashed worker's partitions "
        "wait before another worker takes them over (seconds).",
    )
    table_store: str = Field(default="memory://", description="Faust table store URL.")
    log_level: str = Field(default="info")

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

    @field_validator("topic_prefix", "app_id", "redis_prefix")
    @classmethod
    def _no_blanks(cls, value: str) -> str:
        if not value or any(ch.isspace() for ch in value):
            raise ValueError("must be non-empty and contain no white space")
        return value

    @property
    def external_kafka(self) -> bool:
        """True when the user pointed us at a broker of their own: then we start none."""
        return bool(
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            or os.environ.get("ABM_KAFKA_BOOTSTRAP_SERVERS")
        )

    @property
    def external_redis(self) -> bool:
        return bool(os.environ.get("REDIS_URL") or os.environ.get("ABM_REDIS_URL"))

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables, for a child process (contains secrets: pass
        it to the process, never print it)."""
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "REDIS_URL": self.redis_url.get_secret_value(),
            "ABM_APP_ID": self.app_id,
            "ABM_TOPIC_PREFIX": self.topic_prefix,
            "ABM_PARTITIONS": str(self.partitions),
            "ABM_REPLICATION_FACTOR": str(self.replication_factor),
            "ABM_REDIS_PREFIX": self.redis_prefix,
            "ABM_STATE_DIR": str(self.state_dir),
            "ABM_CACHE_DIR": str(self.cache_dir),
            "ABM_WEB_PORT": str(self.web_port),
            "ABM_PUBLIC_BASE_URL": self.public_base_url,
            "ABM_MAX_EVENT_BYTES": str(self.max_event_bytes),
            "ABM_TABLE_STORE": self.table_store,
            "ABM_SESSION_TIMEOUT_S": str(self.session_timeout_s),
            "ABM_LOG_LEVEL": self.log_level,
            "ABM_WEB_BIND": self.web_bind,
            "ABM_WEB_HOST": self.web_host,
            "ABM_ACCOUNT_METRICS_INTERVAL_S": str(self.account_metrics_interval_s),
            "ABM_LAG_INTERVAL_S": str(self.lag_interval_s),
            "ABM_PEER_TIMEOUT_S": str(self.peer_timeout_s),
        }
        if self.scoring_model is not None:
            env["ABM_SCORING_MODEL"] = str(self.scoring_model)
        return env

    def redis_url_redacted(self) -> str:
        """The Redis URL with any password replaced, for logs and error messages."""
        return redact_url(self.redis_url.get_secret_value())


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, ""))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
