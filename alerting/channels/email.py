"""The e-mail channel: SMTP (aiosmtplib), STARTTLS and login when configured; multipart text +
HTML (`alerting.email_render`). Settings: `ABM_SMTP_*`, `ABM_ALERT_FALLBACK_EMAIL`,
`ABM_ESCALATION_EMAIL`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiosmtplib

from abm.settings import AlertSettings
from alerting import email_render
from alerting.channels.base import Channel, Found, Needs, Outgoing
from alerting.content import MqaAlert, Owner
from alerting.recipients import EMAIL, Route, RoutingError
from alerting.retry import Attempt


class EmailChannel(Channel):
    """One SMTP session per message; a 4xx answer is retried, a 5xx one is permanent."""

    name = EMAIL

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None,
        password: str | None,
        starttls: bool,
        timeout_s: float,
        clock_ms: Callable[[], int],
        ca_file: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout_s
        self._clock_ms = clock_ms
        self._ca_file = ca_file

    @classmethod
    def configured(cls, settings: AlertSettings) -> bool:
        return bool(settings.smtp_host)

    @classmethod
    def check(cls, settings: AlertSettings) -> None:
        if not cls.configured(settings):
            raise RoutingError("email needs ABM_SMTP_HOST")

    @classmethod
    def mqa_route(cls, settings: AlertSettings, owner: Owner) -> Route:
        return Route(EMAIL, owner.email or settings.alert_fallback_email)

    @classmethod
    def escalation_route(cls, settings: AlertSettings) -> Route | None:
        return Route(EMAIL, settings.escalation_email) if settings.escalation_email else None

    @classmethod
    def from_settings(cls, settings: AlertSettings, needs: Needs) -> EmailChannel:
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host or "",
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_user,
            password=password.get_secret_value() if password else None,
            starttls=settings.smtp_starttls,
            timeout_s=settings.alert_timeout_s,
            clock_ms=needs.clock_ms,
            ca_file=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
        )

    def render(self, item: Outgoing, target: str, mention: bool) -> Any:
        """The e-mail (an `email.message.EmailMessage`); its Message-ID is the delivery's."""
        content = item.content
        delivery_id = f"{item.alert_id}:email"
        fields: dict[str, Any] = {
            "sender": self._sender,
            "recipient": target,
            "delivery_id": delivery_id,
            "now_ms": self._clock_ms(),
        }
        if isinstance(content, MqaAlert):
            return email_render.mqa_email(content, **fields)
        return email_render.escalation_email(content, **fields)

    async def send(self, item: Outgoing, target: str, mention: bool) -> Attempt:
        message = self.render(item, target, mention)
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._starttls,
                cert_bundle=self._ca_file,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            return Attempt("permanent", "auth_failed", f"SMTP {exc.code}: {exc.message}")
        except aiosmtplib.SMTPNotSupported as exc:
            return Attempt("permanent", "not_supported", str(exc))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(400 <= c < 500 for c in codes):
                return Attempt("retry", "server_busy", f"recipient deferred: {codes}")
            return Attempt("permanent", "recipient_refused", f"recipient refused: {codes}")
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                return Attempt("retry", "server_busy", f"SMTP {exc.code}: {exc.message}")
            return Attempt("permanent", "rejected", f"SMTP {exc.code}: {exc.message}")
        except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
            return Attempt("retry", "timeout", str(exc) or "timeout")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Attempt("retry", "connection", f"{type(exc).__name__}: {exc}")
        return Attempt("sent", "ok", ref=str(message["Message-ID"]))

    async def find_sent(self, alert_id: str, target: str, since_ms: int) -> Found:
        return Found("unknown", "SMTP cannot be asked what a server received")
