"""JSON of requests in one vocabulary: integers of any size kept exact, and one way of saying
what a value is in error messages ("field `batch`: expected a JSON array, got a JSON null")."""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

_LONG_NUMBER: Final = re.compile(rb"[0-9]{19}")
"""19 digits in a row: maybe an integer beyond 64 bits, which orjson would read as a float."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_exact(data: bytes | str) -> Any:
    """JSON as orjson reads it, except that integers of any size stay exact integers (orjson
    reads an integer beyond 64 bits as a float): a body with a long run of digits is read again
    by the standard library, once orjson has found it valid."""
    doc = orjson.loads(data)
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_NUMBER.search(raw) is None:
        return doc
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise orjson.JSONDecodeError(str(exc), raw.decode(errors="replace"), 0) from None


def dumps_exact(value: Any, *, sort_keys: bool = False) -> bytes:
    """Compact JSON of `value`; integers beyond 64 bits (which orjson refuses) are written
    exactly."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits
        text = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=sort_keys
        )
        return text.encode()


def describe(value: Any) -> str:
    """What a JSON value is, for error messages: `a JSON object`, `a JSON null`, ..."""
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int | float):
        kind = "number"
    elif isinstance(value, str):
        kind = "string"
    elif isinstance(value, list):
        kind = "array"
    elif value is None:
        kind = "null"
    else:
        kind = "object"
    return f"a JSON {kind}"


def expected(where: str, what: str, value: Any, present: bool = True) -> str:
    """`{where}: expected {what}, got {what the value is}` (`nothing` when it is absent)."""
    return f"{where}: expected {what}, got {describe(value) if present else 'nothing'}"
