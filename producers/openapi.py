"""The collector's OpenAPI 3.0 description, served on `GET /openapi.json`; the webhook paths
are those of the registered sources (`producers.sources`)."""

from __future__ import annotations

from typing import Any

from producers.sources import SOURCES, Source

_ERROR = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "example": "payload_too_large"},
        "message": {"type": "string", "example": "batch item 3 is 40211 bytes; ..."},
    },
}

_MESSAGE = {
    "type": "object",
    "description": "A Segment-spec message. The collector stamps receivedAt, corrects "
    "timestamp for clock skew (receivedAt - (sentAt - originalTimestamp)) and forwards the rest "
    "as sent; messages that break the touchpoint contract are dead-lettered by the engine.",
    "properties": {
        "type": {
            "type": "string",
            "enum": ["track", "page", "identify", "group", "screen", "alias"],
        },
        "messageId": {"type": "string", "maxLength": 256},
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "event": {"type": "string", "description": "track: the event name"},
        "groupId": {"type": "string", "description": "group: the account id"},
        "timestamp": {"type": "string", "format": "date-time"},
        "originalTimestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": {"type": "object"},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "writeKey": {"type": "string"},
    },
    "additionalProperties": True,
}

_BATCH = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": _MESSAGE},
        "context": {"type": "object", "description": "merged into every item's context"},
        "sentAt": {"type": "string", "format": "date-time"},
        "writeKey": {"type": "string"},
    },
}


def _responses(ok: dict[str, Any] | None = None) -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "200": {
            "description": "Accepted: Kafka acknowledged every record",
            "content": {"application/json": {"schema": ok or {"$ref": "#/components/schemas/Ok"}}},
        },
        "400": {
            "description": "Not JSON, not an object, a batch item not an object",
            "content": error,
        },
        "401": {"description": "Missing or unknown write key", "content": error},
        "413": {"description": "Over 32 KB per event or 500 KB per batch", "content": error},
        "408": {
            "description": "The body did not arrive in time; the connection closes",
            "content": error,
        },
        "403": {"description": "Sent by a page of an origin that may not send", "content": error},
        "415": {"description": "Content-Encoding other than gzip", "content": error},
        "503": {
            "description": "Kafka or Redis cannot take the events now; retry after Retry-After",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            "content": error,
        },
    }


_PREFLIGHT = {
    "summary": "CORS preflight of a browser tracker",
    "parameters": [
        {"name": "Origin", "in": "header", "required": False, "schema": {"type": "string"}},
        {
            "name": "Access-Control-Request-Headers",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
        },
    ],
    "responses": {
        "204": {"description": "The origin may send (Access-Control-Allow-* headers)"},
        "403": {"description": "The origin may not send (ABM_COLLECTOR_CORS_ORIGINS)"},
    },
}


def _segment(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "options": _PREFLIGHT,
        "post": {
            "summary": summary,
            "security": [{"writeKey": []}, {}],
            "parameters": [
                {
                    "name": "Content-Encoding",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "enum": ["gzip", "identity"]},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": schema},
                    "text/plain": {"schema": schema},
                },
            },
            "responses": _responses(),
        },
    }


def _webhook(source: Source) -> dict[str, Any]:
    """The path item of a webhook source: its POST, and its validation GET if it has one."""
    item: dict[str, Any] = {
        "post": {
            "summary": source.summary,
            "parameters": [
                {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                for h in source.signature_headers
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {"description": "Accepted, duplicate, ignored type, or handshake answer"},
                "400": {"description": "Payload not usable"},
                "401": {"description": "Bad signature, or outside the replay window"},
                "404": {"description": "Webhook not configured (no secret)"},
                "503": {"description": "Kafka not available; the provider retries"},
            },
        }
    }
    if source.handshake_operation is not None:
        item["get"] = source.handshake_operation
    return item


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/v1/track": _segment("One track call", _MESSAGE),
        "/v1/page": _segment("One page call", _MESSAGE),
        "/v1/identify": _segment("One identify call (teaches the directory)", _MESSAGE),
        "/v1/group": _segment("One group call (links the person to an account)", _MESSAGE),
        "/v1/screen": _segment("One screen call", _MESSAGE),
        "/v1/alias": _segment("One alias call", _MESSAGE),
        "/v1/batch": _segment("Up to 500 KB of messages; items carry their type", _BATCH),
        "/v1/t": _segment("analytics-next's track (as /v1/track)", _MESSAGE),
        "/v1/p": _segment("analytics-next's page (as /v1/page)", _MESSAGE),
        "/v1/i": _segment("analytics-next's identify (as /v1/identify)", _MESSAGE),
        "/v1/g": _segment("analytics-next's group (as /v1/group)", _MESSAGE),
        "/v1/s": _segment("analytics-next's screen (as /v1/screen)", _MESSAGE),
        "/v1/a": _segment("analytics-next's alias (as /v1/alias)", _MESSAGE),
        "/v1/b": _segment("analytics-next's batching delivery (as /v1/batch)", _BATCH),
        "/beacon/v1/batch": {
            "post": {
                **_segment("RudderStack JS SDK's Beacon transport (as /v1/batch)", _BATCH)["post"],
                "security": [{"writeKey": []}, {"writeKeyQuery": []}, {}],
                "parameters": [
                    {
                        "name": "writeKey",
                        "in": "query",
                        "required": False,
                        "description": "the write key (a beacon cannot set headers)",
                        "schema": {"type": "string"},
                    }
                ],
            }
        },
        "/v1/m": {
            "options": _PREFLIGHT,
            "post": {
                "summary": "analytics-next's reports about itself: read and dropped",
                "requestBody": {"content": {"text/plain": {"schema": {"type": "object"}}}},
                "responses": {"200": {"description": "Dropped"}},
            },
        },
        **{source.path: _webhook(source) for source in SOURCES},
        "/v1/regulations": {
            "post": {
                "summary": "Forget (Suppress_With_Delete), suppress (Suppress_Only) or lift "
                "(Unsuppress) persons by EMAIL, USER_ID or ANONYMOUS_ID; off (404) unless "
                "ABM_PRIVACY_ADMIN_KEY is set",
                "security": [{"adminKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["regulationType", "subjectType", "subjectIds"],
                                "properties": {
                                    "regulationType": {
                                        "type": "string",
                                        "enum": [
                                            "Suppress_With_Delete",
                                            "Suppress_Only",
                                            "Unsuppress",
                                        ],
                                    },
                                    "subjectType": {
                                        "type": "string",
                                        "enum": ["EMAIL", "USER_ID", "ANONYMOUS_ID"],
                                    },
                                    "subjectIds": {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": 100,
                                        "items": {"type": "string", "maxLength": 256},
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "regulationType and, per subject in order, "
                        "subjectId, status and (forgotten) erasureId"
                    },
                    "400": {"description": "a field is missing or wrong (named)"},
                    "401": {"description": "no or a wrong admin key"},
                    "404": {"description": "the API is off (no ABM_PRIVACY_ADMIN_KEY)"},
                    "503": {"description": "Kafka or Redis does not answer: send it again"},
                    "507": {"description": "the suppression list is full"},
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "200 when Kafka and Redis are usable, else 503; the problems are "
                "named only to loopback (not forwarded) or with a write key",
                "security": [{"writeKey": []}, {}],
                "responses": {"200": {"description": "ok"}, "503": {"description": "not ready"}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "text exposition format"}},
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "abm collector",
            "version": "1",
            "description": "Segment HTTP Tracking API compatible collector and provider "
            "webhooks; everything accepted goes to the raw touchpoint topic.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "writeKey": {"type": "http", "scheme": "basic"},
                "writeKeyQuery": {"type": "apiKey", "in": "query", "name": "writeKey"},
                "adminKey": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Error": _ERROR,
                "Ok": {"type": "object", "properties": {"success": {"type": "boolean"}}},
            },
        },
    }
