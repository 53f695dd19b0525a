"""A page that only says something (an unknown account)."""

from __future__ import annotations

from stream.web.templates.base import esc, page


def render_message(title: str, message: str) -> str:
    return page(title, f"<h1>{esc(title)}</h1><p>{esc(message)}</p>")
