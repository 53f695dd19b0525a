"""The collector's settings (`abm collector`; docs/producers.md): `CollectorSettings`, the common
fields (`abm.settings.CommonSettings`) plus the collector's own, among them one secret per
registered webhook source (`webhook_{name}_secret`, `ABM_WEBHOOK_{NAME}_SECRET`), made from the
registry (`producers.sources.SOURCES`) when this module is imported. The model lives here, next
to that registry, so that `abm/` imports nothing of the processes (docs/architecture.md,
Layers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, create_model

from abm.settings import CommonSettings
from producers.sources import SOURCES


def _source_secret_fields() -> dict[str, Any]:
    """`webhook_{name}_secret` (`ABM_WEBHOOK_{NAME}_SECRET`) of every registered webhook source:
    unset, the source's webhook answers 404."""
    return {
        source.setting: (
            SecretStr | None,
            Field(default=None, description=source.secret_description),
        )
        for source in SOURCES
    }


# The sources' secrets are fields made from the registry, so a new source needs no line here.
# The type checker cannot see fields made at run time: code reads them by source
# (`CollectorSettings.webhook_secrets`), never by attribute name.
if TYPE_CHECKING:
    _SourceSecrets = CommonSettings
else:
    _SourceSecrets = create_model(
        "_SourceSecrets", __base__=CommonSettings, **_source_secret_fields()
    )


class CollectorSettings(_SourceSecrets):
    """The collector's own fields (`abm collector`, producers/; docs/producers.md): its HTTP
    server, write keys, webhooks (with every registered source's secret, `webhook_{name}_secret`,
    from `_SourceSecrets`) and the privacy endpoint."""

    privacy_admin_key: SecretStr | None = Field(
        default=None,
        description="Bearer key of the collector's POST /v1/regulations (forget, suppress, "
        "unsuppress over HTTP; docs/privacy.md); its own secret, never a write key. Unset: the "
        "endpoint answers 404.",
    )
    collector_host: str = Field(
        default="127.0.0.1", description="Address the collector listens on (0.0.0.0: all)."
    )
    collector_port: int = Field(default=8088, ge=0, le=65535, description="Collector HTTP port.")
    collector_write_keys: SecretStr = Field(
        default=SecretStr("abm-dev-write-key"),
        description="Accepted write keys, comma-separated. The default is a documented "
        "development key: set your own before the collector listens beyond loopback.",
    )
    collector_max_batch_bytes: int = Field(
        default=500 * 1024, ge=1024, description="Largest /v1/batch body after decompression."
    )
    collector_ack_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="How long a request waits for Kafka's acknowledgement before it is "
        "answered 503 (seconds; below the SDKs' 15 s request timeout).",
    )
    collector_retry_after_s: int = Field(
        default=5, ge=1, description="Retry-After of a 503 answer (seconds)."
    )
    collector_max_pending: int = Field(
        default=100_000, ge=1, description="Records waiting for Kafka before new requests get 503."
    )
    collector_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest wait for a request's line and headers, from the connection's "
        "opening or the previous answer; also how long an idle keep-alive connection stays "
        "open (seconds).",
    )
    collector_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest wait for a request's whole body once its headers arrived; a slower "
        "upload is answered 408 and its connection closed (seconds).",
    )
    collector_max_connections: int = Field(
        default=512,
        ge=1,
        description="Open client connections at most; more are answered 503 and closed at once "
        "(keep it below the process's file descriptor limit).",
    )
    collector_cors_origins: str = Field(
        default="",
        description="Web pages (origins, comma-separated: https://www.example.com) whose "
        "browser trackers may send to the collector; `*`: any. Pages on loopback always may.",
    )
    collector_dedupe_ttl_s: int = Field(
        default=86_400,
        ge=0,
        description="How long accepted messageIds are remembered to drop SDK retries "
        "(seconds; 0 turns it off).",
    )
    # webhook_{name}_secret of each webhook source: in _SourceSecrets, from producers.sources
    webhook_tolerance_s: int = Field(
        default=300, ge=1, description="Replay window of signed webhook timestamps (seconds)."
    )
    webhook_ack_timeout_s: float = Field(
        default=2.5,
        gt=0,
        description="Kafka acknowledgement wait of a webhook: providers allow about 3 s.",
    )

    def webhook_secrets(self) -> dict[str, str]:
        """The secret of each webhook source that has one set, by source name (secrets: never
        log them); a source without is off."""
        secrets: dict[str, str] = {}
        for source in SOURCES:
            secret = getattr(self, source.setting)
            if isinstance(secret, SecretStr) and secret.get_secret_value():
                secrets[source.name] = secret.get_secret_value()
        return secrets

    def write_keys(self) -> tuple[str, ...]:
        """The accepted collector write keys (secrets: never log them)."""
        raw = self.collector_write_keys.get_secret_value()
        return tuple(k.strip() for k in raw.split(",") if k.strip())
