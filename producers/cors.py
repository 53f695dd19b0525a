"""Which web pages may send to the collector from a browser (CORS), as pure functions.

Browser trackers (analytics-next, RudderStack's JS SDK) post from the website's origin to the
collector's, so the browser asks the collector first (a preflight `OPTIONS`: analytics-next
sends an `Authorization` header, which no simple request may carry) and lets the page read an
answer only when it names the page's origin. Allowed: the origins of
`ABM_COLLECTOR_CORS_ORIGINS` (comma-separated, e.g. `https://www.example.com`; `*` for any), and
pages served from loopback (`http://localhost:3000`, `http://127.0.0.1:8000`, ...), for
development. A request that names another origin is refused (403): a browser says where a
request comes from, so a page of a site that is not yours cannot use your key through one.
Requests without an `Origin` header (backend SDKs, webhooks) are not concerned.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

ALLOWED_METHODS: Final = "POST, OPTIONS"
DEFAULT_HEADERS: Final = "Authorization, Content-Type, Content-Encoding, X-Retry-Count"
"""What the trackers send beyond the simple headers (X-Retry-Count: analytics-next's retries)."""
MAX_AGE_S: Final = 600
_HEADER_LIST: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*"
)


def normalize_origin(origin: str) -> str | None:
    """`scheme://host[:port]` in lower case, default ports dropped; None when it is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def is_loopback_origin(origin: str) -> bool:
    normal = normalize_origin(origin)
    if normal is None:
        return False
    host = urlsplit(normal).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class CorsPolicy:
    origins: frozenset[str] = frozenset()
    any_origin: bool = False

    @classmethod
    def parse(cls, setting: str) -> CorsPolicy:
        """`ABM_COLLECTOR_CORS_ORIGINS`: comma-separated origins, or `*`; ValueError names an
        entry that is not an origin (`https://www.example.com`, no path)."""
        origins: set[str] = set()
        any_origin = False
        for entry in (e.strip() for e in setting.split(",")):
            if not entry:
                continue
            if entry == "*":
                any_origin = True
                continue
            normal = normalize_origin(entry)
            if normal is None:
                raise ValueError(f"{entry!r} is not an origin (scheme://host[:port], no path)")
            origins.add(normal)
        return cls(frozenset(origins), any_origin)

    def allows(self, origin: str) -> bool:
        if self.any_origin:
            return True
        normal = normalize_origin(origin)
        return normal is not None and (normal in self.origins or is_loopback_origin(normal))

    def answer_headers(self, origin: str) -> dict[str, str]:
        """Headers of an answer to a request from an allowed origin."""
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin",
        }

    def preflight_headers(self, origin: str, request_headers: Mapping[str, str]) -> dict[str, str]:
        """Headers of the answer to a preflight from an allowed origin: POST with the headers
        the page asks for (any well-formed list: the endpoints only accept writes)."""
        asked = request_headers.get("Access-Control-Request-Headers", "").strip()
        allowed = asked if asked and _HEADER_LIST.fullmatch(asked) else DEFAULT_HEADERS
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": allowed,
            "Access-Control-Max-Age": str(MAX_AGE_S),
            "Vary": "Origin, Access-Control-Request-Headers",
        }
