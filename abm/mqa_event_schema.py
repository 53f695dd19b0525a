"""Write the JSON Schema of the MQA event to `docs/mqa-event.schema.json`.

    python -m abm.mqa_event_schema            # write it
    python -m abm.mqa_event_schema --check    # exit 1 when the committed file is stale

The schema is derived from the event's declarations (`abm.core.mqa_event.json_schema`); the
file is committed so that consumers of the `mqa` topic can read it without the code, and a
unit test fails when it no longer matches them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from abm.core.mqa_event import json_schema

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "mqa-event.schema.json"
COMMAND = "python -m abm.mqa_event_schema"


def render() -> str:
    """The file's text: the schema, two-space indented, keys in declaration order."""
    return orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2).decode() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        current = SCHEMA_PATH.read_text("utf-8") if SCHEMA_PATH.exists() else None
        if current != text:
            sys.stderr.write(f"{SCHEMA_PATH} is stale; run: {COMMAND}\n")
            return 1
        return 0
    SCHEMA_PATH.write_text(text, "utf-8")
    sys.stdout.write(f"wrote {SCHEMA_PATH}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
