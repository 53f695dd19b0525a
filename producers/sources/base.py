"""What a webhook source is: the provider's signature check, its payload mapping, its secret
setting and its path. The collector, the OpenAPI description, the settings and the docs check
iterate over the registered sources (`producers.sources.SOURCES`), so a new source is one module
with a `Source` subclass plus one line in the registry (docs/architecture.md, Sources)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from producers.webhooks import DEFAULT_TOLERANCE_S, WebhookResult, load_json


@dataclass(frozen=True)
class Delivery:
    """One webhook request as a source sees it: nothing of HTTP but the headers and the raw body
    (signatures are over the exact bytes)."""

    headers: Mapping[str, str]
    body: bytes
    secret: str
    """The source's secret (`Source.env_var`), never empty."""
    received_ms: int
    """Receive time (epoch milliseconds): the replay window and default event times."""
    tolerance_s: int = DEFAULT_TOLERANCE_S
    """Replay window of signed timestamps (seconds; `ABM_WEBHOOK_TOLERANCE_S`)."""

    @property
    def now_s(self) -> int:
        """The receive time in epoch seconds, the unit of the providers' timestamp headers."""
        return self.received_ms // 1000


class Source(ABC):
    """A provider that pushes events to `POST /webhooks/{name}`. Subclasses set the class
    attributes and implement `verify` and `map`; a source that answers a validation `GET` on
    its path also sets `handshake_operation` and overrides `handshake`."""

    name: ClassVar[str]
    """Lower-case identifier: the path `/webhooks/{name}`, the `provider` label of
    `abm_webhook_requests_total`, the `webhook_{name}` endpoint label, the prefix of the
    messageIds it builds (`{name}:...`) and the secret `ABM_WEBHOOK_{NAME}_SECRET`."""
    summary: ClassVar[str]
    """One line for the OpenAPI description."""
    signature_headers: ClassVar[tuple[str, ...]]
    """The request headers its signature needs (OpenAPI: required)."""
    secret_description: ClassVar[str]
    """What the secret is (the setting's description)."""
    handshake_operation: ClassVar[dict[str, Any] | None] = None
    """OpenAPI operation of a validation `GET` on the path, if the provider sends one."""

    @property
    def path(self) -> str:
        return f"/webhooks/{self.name}"

    @property
    def setting(self) -> str:
        """The field of `producers.settings.CollectorSettings` that holds the secret."""
        return f"webhook_{self.name}_secret"

    @property
    def env_var(self) -> str:
        return f"ABM_WEBHOOK_{self.name.upper()}_SECRET"

    @abstractmethod
    def verify(self, delivery: Delivery) -> str | None:
        """Check the provider's signature (and its timestamp against the replay window); the
        provider's event id when the signed request carries one. Raises
        `producers.webhooks.WebhookError` (401: `bad_signature` or `stale`)."""

    @abstractmethod
    def map(
        self, payload: Mapping[str, Any], delivery: Delivery, event_id: str | None
    ) -> WebhookResult:
        """The verified payload as Segment track messages, a handshake reply, or why it was
        ignored. Raises `WebhookError` (400 `invalid`) for a payload that cannot be used."""

    def handle(self, delivery: Delivery) -> WebhookResult:
        """Verify, then map: nothing of an unsigned body is even parsed."""
        event_id = self.verify(delivery)
        return self.map(load_json(delivery.body), delivery, event_id)

    def handshake(self, query: Mapping[str, str], secret: str) -> dict[str, Any]:
        """The answer to the provider's validation `GET` (query parameters in); only called
        when `handshake_operation` is set. Raises `WebhookError` for a refused request."""
        raise NotImplementedError(f"the {self.name} source answers no GET")
