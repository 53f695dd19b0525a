"""`abm collector`: Segment's HTTP Tracking API and provider webhooks, into the raw topic.

Endpoints (docs/producers.md; the OpenAPI description is served on /openapi.json):
`POST /v1/track|page|identify|group|batch`, `POST /webhooks/{name}` of every registered source
(`producers.sources`; a `GET` on the path for a source with a validation handshake),
`GET /healthz`, `GET /metrics`.

The handlers are thin: the rules live in `producers.ingest` (auth, limits, batch merging, clock
skew) and `producers.sources` (each provider's signature and payload mapping). A request is
answered 200 only after Kafka acknowledged every record it carried; 503 with Retry-After when
Kafka (or Redis, which the routing keys and the dedupe memory need) cannot take them, so the SDK
retries.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

import orjson
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_runner import BaseSite
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from redis.exceptions import RedisError

from abm import waiting
from abm.directory.store import DirectoryStore
from abm.log_limit import configure_logging
from abm.privacy.suppression import SuppressionList
from producers import ingest, metrics, regulations, webhooks
from producers.cors import CorsPolicy
from producers.ingest import Limits, Prepared, RequestError
from producers.openapi import openapi_document
from producers.partition_keys import Router, routable
from producers.settings import CollectorSettings
from producers.sink import KafkaSink, SeenIds, Unavailable
from producers.sources import SOURCES, Delivery, Source
from stream.topics import RAW

log = logging.getLogger(__name__)
http_log = logging.getLogger("producers.collector.http")
"""Problems of the HTTP layer (malformed requests, clients gone): one line each, no bytes."""

_BODY_MARGIN = 64 * 1024
"""Read up to this much more than the batch limit: a gzip body may be a little larger than
what it inflates to, and a body over the limit deserves a JSON 413, not a dropped connection."""


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


@dataclass
class Accepted:
    produced: int
    duplicate_ids: set[str]
    """Ids accepted before (not produced again)."""
    suppressed_ids: set[str] = field(default_factory=set)
    """Ids of persons on the suppression list: acknowledged, never produced."""


REDIS_CONNECTIONS: Final = 64
"""Per pool. Many concurrent requests queue for a connection instead of failing."""


def _redis(settings: CollectorSettings) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url.get_secret_value(),
        max_connections=REDIS_CONNECTIONS,
        timeout=settings.collector_ack_timeout_s,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


class Collector:
    """The collector's state: Kafka sink, dedupe memory, router, limits and keys."""

    def __init__(
        self,
        settings: CollectorSettings,
        sink: KafkaSink,
        seen: SeenIds,
        router: Router,
        suppression: SuppressionList,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.seen = seen
        self.router = router
        self.suppression = suppression
        self.limits = Limits(
            max_event_bytes=settings.max_event_bytes,
            max_batch_bytes=settings.collector_max_batch_bytes,
        )
        self.write_keys = settings.write_keys()
        self.cors = CorsPolicy.parse(settings.collector_cors_origins)
        self.clock: Callable[[], float] = time.time
        self.webhook_secrets = settings.webhook_secrets()

    @classmethod
    async def open(cls, settings: CollectorSettings) -> Collector:
        metrics.start_series()
        sink = KafkaSink(
            settings,
            RAW.name(settings.topic_prefix),
            ack_timeout_s=settings.collector_ack_timeout_s,
            max_pending=settings.collector_max_pending,
        )
        seen = SeenIds(_redis(settings), settings.redis_prefix, settings.collector_dedupe_ttl_s)
        router = Router(DirectoryStore(_redis(settings), settings.redis_prefix))
        suppression = SuppressionList(
            _redis(settings),
            settings.redis_prefix,
            settings.pseudonym_secret(),
            refresh_s=settings.privacy_refresh_s,
        )
        collector = cls(settings, sink, seen, router, suppression)
        await sink.start()
        metrics.KAFKA_READY.set(1 if sink.ready else 0)
        return collector

    async def close(self) -> None:
        await self.sink.stop()
        await self.seen.close()
        await self.router.close()
        await self.suppression.close()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # --- the shared path: dedupe, key, produce, remember --------------------------------------

    async def accept(self, prepared: list[Prepared], timeout_s: float | None = None) -> Accepted:
        """Produce what was not accepted before; raises `Unavailable` (answer 503)."""
        if not prepared:
            return Accepted(0, set())
        try:
            await self.suppression.refresh()
            seen = await self.seen.seen([p.message_id for p in prepared])
            fresh, keyed, suppressed = [], [], set()
            for p in prepared:
                if p.message_id in seen:
                    continue
                message = routable(p.value)
                if message is not None and self.suppression.suppresses(message):
                    suppressed.add(p.message_id)  # nothing of it is stored, not even its id
                    continue
                fresh.append(p)
                keyed.append((message, f"message:{p.message_id}"))
            keys = await self.router.keys_for(keyed)
        except (RedisError, OSError) as exc:
            raise Unavailable(f"the directory (Redis) is not reachable: {exc}") from None
        try:
            await self.sink.deliver(
                [(k, p.value) for k, p in zip(keys, fresh, strict=True)], timeout_s=timeout_s
            )
        finally:
            metrics.KAFKA_READY.set(1 if self.sink.ready else 0)
        try:
            await self.seen.remember([p.message_id for p in fresh])
        except (RedisError, OSError) as exc:  # produced already: a retry is a duplicate at worst
            log.warning("could not remember %d accepted messageIds: %s", len(fresh), exc)
        if suppressed:
            metrics.SUPPRESSED.labels(stage=metrics.SUPPRESSED_STAGE).inc(len(suppressed))
        return Accepted(len(fresh), seen, suppressed)

    def _unavailable(self, exc: Exception) -> web.Response:
        log.warning("answering 503: %s", exc)
        return _json(
            {"code": "unavailable", "message": f"{exc}; retry later"},
            status=503,
            headers={"Retry-After": str(self.settings.collector_retry_after_s)},
        )

    # --- Segment HTTP API --------------------------------------------------------------------

    async def segment(self, endpoint: str, request: web.Request) -> web.Response:
        started = time.perf_counter()
        origin = request.headers.get("Origin")
        try:
            if origin is not None and not self.cors.allows(origin):
                response = _forbidden_origin(origin)
            else:
                response = await self._segment(endpoint, request)
        except ClientGone:
            response = _client_gone(endpoint, request)
        if origin is not None and self.cors.allows(origin):
            response.headers.update(self.cors.answer_headers(origin))
        metrics.REQUESTS.labels(endpoint=endpoint, code=str(response.status)).inc()
        metrics.REQUEST_SECONDS.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response

    async def _segment(self, endpoint: str, request: web.Request) -> web.Response:
        received_ms = self.now_ms()
        header_key = ingest.basic_auth_user(request.headers.get("Authorization"))
        if endpoint == ingest.BEACON_ENDPOINT:  # a beacon cannot set headers
            header_key = header_key or ingest.query_write_key(request.query)
            endpoint = ingest.BATCH_ENDPOINT
        if header_key is not None and not ingest.key_allowed(header_key, self.write_keys):
            return self._unauthorized(0)
        try:
            raw = await _read(request, self.settings.collector_body_timeout_s)
            data = ingest.decode_body(
                raw,
                request.headers.get("Content-Encoding"),
                self.limits,
                batch=endpoint == ingest.BATCH_ENDPOINT,
            )
            doc = ingest.parse_json_object(data)
        except RequestError as exc:
            if exc.status == 408:
                return _closing(_json(exc.body(), status=exc.status))
            if header_key is None:
                return self._unauthorized(0)  # nobody unauthenticated learns about the body
            return self._refused(exc)
        if header_key is None and not ingest.key_allowed(
            ingest.body_write_key(doc), self.write_keys
        ):
            return self._unauthorized(0)
        try:
            prepared = ingest.prepare(endpoint, doc, received_ms, self.limits)
        except RequestError as exc:
            return self._refused(exc)
        for p in prepared.messages:
            if p.clamped:
                metrics.TIMES_CLAMPED.labels(why=p.clamped).inc()
        try:
            accepted = await self.accept(prepared.messages)
        except Unavailable as exc:
            for p in prepared.messages:
                metrics.EVENTS.labels(type=ingest.event_type(p.doc), outcome="unavailable").inc()
            return self._unavailable(exc)
        for p in prepared.messages:
            outcome = (
                "duplicate"
                if p.message_id in accepted.duplicate_ids
                else "suppressed"
                if p.message_id in accepted.suppressed_ids
                else "accepted"
            )
            metrics.EVENTS.labels(type=ingest.event_type(p.doc), outcome=outcome).inc()
        if prepared.duplicates_in_request:
            metrics.EVENTS.labels(type="other", outcome="duplicate").inc(
                prepared.duplicates_in_request
            )
        return _json({"success": True})

    def _unauthorized(self, events: int) -> web.Response:
        if events:
            metrics.EVENTS.labels(type="other", outcome="rejected").inc(events)
        return _json(
            {
                "code": ingest.UNAUTHORIZED,
                "message": "missing or unknown write key: send it as the HTTP Basic user "
                "(empty password) or as `writeKey` in the body",
            },
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="abm collector"'},
        )

    def _refused(self, exc: RequestError) -> web.Response:
        if exc.events:
            metrics.EVENTS.labels(type="other", outcome="rejected").inc(exc.events)
        return _json(exc.body(), status=exc.status)

    # --- browsers ----------------------------------------------------------------------------

    async def preflight(self, request: web.Request) -> web.Response:
        """A browser's `OPTIONS` before a cross-origin POST: 204 with the CORS headers when the
        page's origin may send, else 403."""
        origin = request.headers.get("Origin")
        if origin is None:
            response = web.Response(status=204, headers={"Allow": "POST, OPTIONS"})
        elif self.cors.allows(origin):
            response = web.Response(
                status=204, headers=self.cors.preflight_headers(origin, request.headers)
            )
        else:
            response = _forbidden_origin(origin)
        metrics.REQUESTS.labels(endpoint=PREFLIGHT, code=str(response.status)).inc()
        return response

    async def library_metrics(self, request: web.Request) -> web.Response:
        """`/v1/m`: analytics-next's reports about itself (no write key, not touchpoints):
        read and dropped, so the library does not log an error for each."""
        origin = request.headers.get("Origin")
        if origin is not None and not self.cors.allows(origin):
            response = _forbidden_origin(origin)
        else:
            try:
                await _read(request, self.settings.collector_body_timeout_s)
                response = _json({"success": True})
            except ClientGone:
                response = _client_gone(LIBRARY_METRICS, request)
            except RequestError as exc:
                response = _json(exc.body(), status=exc.status)
            if origin is not None:
                response.headers.update(self.cors.answer_headers(origin))
        metrics.REQUESTS.labels(endpoint=LIBRARY_METRICS, code=str(response.status)).inc()
        return response

    # --- webhooks ----------------------------------------------------------------------------

    async def webhook(self, provider: str, request: web.Request) -> web.Response:
        started = time.perf_counter()
        endpoint = f"webhook_{provider}"
        source = SOURCES.get(provider)
        assert source is not None, provider  # routes exist for registered sources only
        try:
            response, outcome = await self._webhook(source, request)
        except ClientGone:
            response, outcome = _client_gone(endpoint, request), webhooks.DROPPED
        metrics.WEBHOOKS.labels(provider=provider, outcome=outcome).inc()
        metrics.REQUESTS.labels(endpoint=endpoint, code=str(response.status)).inc()
        metrics.REQUEST_SECONDS.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response

    async def _webhook(self, source: Source, request: web.Request) -> tuple[web.Response, str]:
        secret = self.webhook_secrets.get(source.name)
        if secret is None:
            message = f"the {source.name} webhook is not configured ({source.env_var})"
            return _json({"code": webhooks.NOT_CONFIGURED, "message": message}, 404), (
                webhooks.NOT_CONFIGURED
            )
        received_ms = self.now_ms()
        try:
            try:
                body = await _read(request, self.settings.collector_body_timeout_s)
            except RequestError as exc:
                raise webhooks.WebhookError(exc.status, webhooks.INVALID, exc.message) from None
            delivery = Delivery(
                headers=dict(request.headers),
                body=body,
                secret=secret,
                received_ms=received_ms,
                tolerance_s=self.settings.webhook_tolerance_s,
            )
            result = source.handle(delivery)
            prepared = [
                p
                for message in result.messages
                for p in ingest.prepare(
                    "track", message, received_ms, self.limits, webhook=True
                ).messages
            ]
        except webhooks.WebhookError as exc:
            response = _json({"code": exc.outcome, "message": exc.message}, exc.status)
            return (_closing(response) if exc.status == 408 else response), exc.outcome
        except RequestError as exc:
            return _json(exc.body(), exc.status), webhooks.INVALID
        if result.reply is not None:
            return _json(result.reply), webhooks.HANDSHAKE
        if result.ignored is not None:
            return _json({"success": True, "ignored": result.ignored}), webhooks.IGNORED
        try:
            accepted = await self.accept(prepared, timeout_s=self.settings.webhook_ack_timeout_s)
        except Unavailable as exc:
            return self._unavailable(exc), webhooks.UNAVAILABLE
        if accepted.produced:
            outcome = webhooks.ACCEPTED
        elif accepted.suppressed_ids:
            outcome = webhooks.SUPPRESSED
        else:
            outcome = webhooks.DUPLICATE
        return _json({"success": True}), outcome

    async def handshake(self, provider: str, request: web.Request) -> web.Response:
        """A provider's validation `GET` on its webhook path (LinkedIn's `challengeCode`)."""
        source = SOURCES.get(provider)
        assert source is not None, provider  # routes exist for registered sources only
        secret = self.webhook_secrets.get(provider)
        if secret is None:
            metrics.WEBHOOKS.labels(provider=provider, outcome=webhooks.NOT_CONFIGURED).inc()
            return _json({"code": webhooks.NOT_CONFIGURED, "message": "not configured"}, 404)
        try:
            answer = source.handshake(request.query, secret)
        except webhooks.WebhookError as exc:
            metrics.WEBHOOKS.labels(provider=provider, outcome=exc.outcome).inc()
            return _json({"code": exc.outcome, "message": exc.message}, exc.status)
        metrics.WEBHOOKS.labels(provider=provider, outcome=webhooks.HANDSHAKE).inc()
        return _json(answer)

    # --- operations --------------------------------------------------------------------------

    def may_see_details(self, request: web.Request) -> bool:
        """Health details (addresses, errors) are for the machine itself and for write-key
        holders: a request from loopback that no proxy forwarded, or one with a write key."""
        key = ingest.basic_auth_user(request.headers.get("Authorization"))
        if key is not None and ingest.key_allowed(key, self.write_keys):
            return True
        forwarded = any(h in request.headers for h in ("Forwarded", "X-Forwarded-For"))
        return not forwarded and _is_loopback(request.remote)

    async def healthz(self, request: web.Request) -> web.Response:
        problems = []
        if not self.sink.ready:
            problems.append(f"kafka: {self.sink.last_error or 'not ready'}")
        try:
            await asyncio.wait_for(self.seen.ping(), timeout=2)
        except (RedisError, OSError, TimeoutError) as exc:
            problems.append(f"redis: {exc or 'no answer'}")
        metrics.KAFKA_READY.set(1 if self.sink.ready else 0)
        if problems:
            if not self.may_see_details(request):
                return _json({"status": "unavailable"}, 503)
            return _json({"status": "unavailable", "problems": problems}, 503)
        return _json({"status": "ok"})

    async def metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(openapi_document())


MAX_BODY: Final = web.AppKey("max_body", int)
COLLECTOR: Final = web.AppKey("collector", Collector)
CLIENT_GONE: Final = "499"
"""The `code` label of a request whose client went away before its body was read (no answer
could be sent; the code nginx uses for it)."""


PREFLIGHT: Final = "preflight"
"""The `endpoint` label of CORS preflight requests (OPTIONS on /v1/...)."""
LIBRARY_METRICS: Final = "library_metrics"
"""The `endpoint` label of analytics-next's reports about itself (`/v1/m`, dropped)."""
FORBIDDEN_ORIGIN: Final = "forbidden_origin"


def _forbidden_origin(origin: str) -> web.Response:
    return _json(
        {
            "code": FORBIDDEN_ORIGIN,
            "message": "pages of this origin may not send to this collector "
            "(ABM_COLLECTOR_CORS_ORIGINS)",
        },
        status=403,
    )


class ClientGone(Exception):
    """The client closed its connection before its request body was read."""


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return address == "localhost"


def _closing(response: web.Response) -> web.Response:
    """The connection closes after this answer (what is left of a slow body is not waited for)."""
    response.force_close()
    return response


def _client_gone(endpoint: str, request: web.Request) -> web.Response:
    http_log.info("client %s went away before its %s body was read", request.remote, endpoint)
    return _closing(web.Response(status=int(CLIENT_GONE)))


async def _read(request: web.Request, timeout_s: float) -> bytes:
    """The whole body within `timeout_s`: 413 when over the limit, 408 when too slow,
    `ClientGone` when the client closed the connection."""
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestError(
            413,
            ingest.TOO_LARGE,
            f"the body is larger than {request.app[MAX_BODY]} bytes",
        ) from None
    except TimeoutError:
        raise RequestError(
            408,
            ingest.REQUEST_TIMEOUT,
            f"the body did not arrive within {timeout_s:g} s (ABM_COLLECTOR_BODY_TIMEOUT_S)",
        ) from None
    except ConnectionError:
        raise ClientGone from None


def make_app(collector: Collector) -> web.Application:
    limit = collector.limits.max_batch_bytes + _BODY_MARGIN
    app = web.Application(client_max_size=limit)
    app[MAX_BODY] = limit
    app[COLLECTOR] = collector

    def bind(
        method: Callable[[str, web.Request], Awaitable[web.Response]], name: str
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        return partial(method, name)

    paths = {endpoint: endpoint for endpoint in (*ingest.SINGLE_ENDPOINTS, ingest.BATCH_ENDPOINT)}
    paths.update(ingest.BROWSER_PATHS)
    for path, endpoint in paths.items():
        app.router.add_post(f"/v1/{path}", bind(collector.segment, endpoint))
    app.router.add_post(ingest.BEACON_PATH, bind(collector.segment, ingest.BEACON_ENDPOINT))
    app.router.add_post("/v1/m", collector.library_metrics)
    for path in (*paths, "m"):
        app.router.add_route("OPTIONS", f"/v1/{path}", collector.preflight)
    for source in SOURCES:
        app.router.add_post(source.path, bind(collector.webhook, source.name))
        if source.handshake_operation is not None:
            app.router.add_get(source.path, bind(collector.handshake, source.name))
    app.router.add_post("/v1/regulations", partial(regulations.handle, collector.settings))
    app.router.add_get("/healthz", collector.healthz)
    app.router.add_get("/metrics", collector.metrics_page)
    app.router.add_get("/openapi.json", collector.openapi)
    return app


def make_runner(app: web.Application) -> web.AppRunner:
    """No automatic decompression: the collector inflates gzip bodies itself, with a cap
    (`ingest.decode_body`). A request's line and headers must arrive within the header timeout
    of the connection's opening or of the previous answer (aiohttp's keep-alive timer closes a
    connection that has not completed a request by then, idle or half-sent alike). aiohttp's
    own error log gets `ServerLog`, which never writes a request's bytes."""
    settings = app[COLLECTOR].settings
    return web.AppRunner(
        app,
        access_log=None,
        auto_decompress=False,
        keepalive_timeout=settings.collector_header_timeout_s,
        logger=ServerLog(http_log),
    )


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The logger aiohttp's request handler writes to. aiohttp logs a request it cannot parse
    with the parser's error, which quotes the raw request (its `Authorization` header too) and
    a traceback; here that becomes one line naming the kind of error, counted in
    `abm_collector_requests_total{endpoint="malformed"}`. A client gone is a debug line.
    Everything else (a bug's traceback) passes unchanged."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            code = str(exc.code) if isinstance(exc.code, int) and exc.code else "400"
            metrics.REQUESTS.labels(endpoint=MALFORMED, code=code).inc()
            self.logger.info("refused a malformed HTTP request (%s)", type(exc).__name__)
            return
        if isinstance(exc, ConnectionError):
            self.logger.debug("client went away (%s)", type(exc).__name__)
            return
        super().log(level, msg, *args, **kwargs)


MALFORMED: Final = "malformed"
"""The `endpoint` label of requests refused before routing (not parseable HTTP)."""
TOO_MANY_CONNECTIONS: Final = "too_many_connections"
"""The `endpoint` label of connections refused over `ABM_COLLECTOR_MAX_CONNECTIONS`."""

_OVER_CAPACITY: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nRetry-After: %d\r\nContent-Length: %d\r\n\r\n%s"
)


class _Refuse(asyncio.Protocol):
    """A connection over the cap: answered 503 and closed at once, without reading it."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        body = orjson.dumps(
            {"code": "unavailable", "message": "too many open connections; retry later"}
        )
        assert isinstance(transport, asyncio.Transport)
        transport.write(_OVER_CAPACITY % (self.retry_after_s, len(body), body))
        transport.close()


class CollectorSite(BaseSite):
    """aiohttp's TCP site with a cap on open connections (`ABM_COLLECTOR_MAX_CONNECTIONS`): a
    connection beyond it is answered 503 and closed, so slow or idle clients cannot take every
    file descriptor of the process."""

    __slots__ = ("_host", "_max_connections", "_port", "_retry_after_s")

    def __init__(
        self,
        runner: web.AppRunner,
        settings: CollectorSettings,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(runner)
        self._host = host or settings.collector_host
        self._port = settings.collector_port if port is None else port
        self._max_connections = settings.collector_max_connections
        self._retry_after_s = settings.collector_retry_after_s

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            if len(server.connections) >= self._max_connections:
                metrics.REQUESTS.labels(endpoint=TOO_MANY_CONNECTIONS, code="503").inc()
                return _Refuse(self._retry_after_s)
            return server()

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            protocol, self._host, self._port, reuse_address=True
        )


DEV_WRITE_KEY: Final = "abm-dev-write-key"
EXAMPLE_WRITE_KEYS: Final = frozenset({DEV_WRITE_KEY, "change-me-write-key"})
"""Keys printed in the project (the development default, .env.example's): known to everyone."""
MIN_PUBLIC_KEY_LENGTH: Final = 24


def config_problem(settings: CollectorSettings) -> str | None:
    """Why the collector must not start with these settings, if it must not: no key; or,
    listening beyond loopback, a key of the project's examples or one shorter than 24
    characters."""
    keys = settings.write_keys()
    if not keys:
        return "ABM_COLLECTOR_WRITE_KEYS names no write key"
    try:
        CorsPolicy.parse(settings.collector_cors_origins)
    except ValueError as exc:
        return f"ABM_COLLECTOR_CORS_ORIGINS: {exc}"
    if _is_loopback(settings.collector_host):
        return None
    where = f"while listening on {settings.collector_host}"
    for n, key in enumerate(keys, start=1):
        if key == DEV_WRITE_KEY:
            return (
                f"the development write key {DEV_WRITE_KEY!r} is accepted {where}: set "
                "ABM_COLLECTOR_WRITE_KEYS to your own keys"
            )
        if key in EXAMPLE_WRITE_KEYS:
            return (
                f"write key {n} of ABM_COLLECTOR_WRITE_KEYS is the example of .env.example "
                f"{where}: set your own keys"
            )
        if len(key) < MIN_PUBLIC_KEY_LENGTH:
            return (
                f"write key {n} of ABM_COLLECTOR_WRITE_KEYS has {len(key)} characters {where}: "
                f"use keys of at least {MIN_PUBLIC_KEY_LENGTH} random characters"
            )
    return None


def run_collector(settings: CollectorSettings) -> None:
    """Serve until SIGINT/SIGTERM; then stop taking connections, let requests in flight
    finish (their records acknowledged), and close the producer."""
    configure_logging(settings.log_level, settings.log_connection_error_interval_s)
    asyncio.run(_serve(settings))


async def _serve(settings: CollectorSettings) -> None:
    # Redis down: the collector listens anyway (503 meanwhile); one line says what it waits for
    redis_up = asyncio.ensure_future(
        waiting.wait_for(waiting.redis(settings.redis_url.get_secret_value()))
    )
    collector = await Collector.open(settings)
    runner = make_runner(make_app(collector))
    await runner.setup()
    try:
        site = CollectorSite(runner, settings)
        await site.start()
        log.warning(
            "collector on http://%s:%s (Kafka %s, topic %s)",
            settings.collector_host,
            settings.collector_port,
            settings.kafka_bootstrap_servers,
            collector.sink.topic,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        redis_up.cancel()
        await runner.cleanup()
        await collector.close()
