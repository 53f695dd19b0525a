"""The score chart of the account page: an inline SVG (no script, allowed by the CSP's
`img-src data:` and inline style), drawn on the server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stream.web.templates.base import esc


def score_chart(
    points: Sequence[dict[str, Any]],
    threshold: float,
    exit_score: float,
    mqas: Sequence[dict[str, Any]],
    width: int = 960,
    height: int = 220,
) -> str:
    """An inline SVG line chart of the score, with the threshold, the hysteresis exit and the
    MQA moments; unknown points (None) leave a gap."""
    left, right, top, bottom = 44, 12, 12, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    if not points:
        return '<div class="muted">No score history.</div>'
    t0, t1 = points[0]["at_ms"], points[-1]["at_ms"]
    span = max(t1 - t0, 1)
    known = [p["score"] for p in points if p["score"] is not None]
    top_value = max([threshold * 1.15, *known, 1.0])

    def x(at_ms: int) -> float:
        return float(left + plot_w * (at_ms - t0) / span)

    def y(value: float) -> float:
        return float(top + plot_h * (1 - value / top_value))

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="score over time" xmlns="http://www.w3.org/2000/svg" '
        'style="font:11px system-ui,sans-serif">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafbfd" '
        'stroke="#e3e6ec"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = top_value * fraction
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#5b6475">'
            f"{value:.0f}</text>"
        )
    for line_value, color, label in (
        (threshold, "#c2410c", f"threshold {threshold:g}"),
        (exit_score, "#9aa3b2", f"exit {exit_score:g}"),
    ):
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(line_value):.1f}" '
            f'y2="{y(line_value):.1f}" stroke="{color}" stroke-dasharray="5 4"/>'
            f'<text x="{left + plot_w - 4}" y="{y(line_value) - 4:.1f}" text-anchor="end" '
            f'fill="{color}">{esc(label)}</text>'
        )
    for mqa in mqas:
        mx = x(max(t0, min(t1, mqa["qualified_at_ms"])))
        # the label goes left of the marker when the marker is in the right third
        right_side = mx < left + plot_w * 2 / 3
        tx, anchor = (mx + 4, "start") if right_side else (mx - 4, "end")
        parts.append(
            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top}" y2="{top + plot_h}" '
            'stroke="#2f6fde" stroke-width="1.5"/>'
            f'<text x="{tx:.1f}" y="{top + 12}" text-anchor="{anchor}" fill="#2f6fde">'
            f"MQA ({esc(mqa['rule'].replace('_', ' '))})</text>"
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for p in points:
        if p["score"] is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(p['at_ms']):.1f},{y(p['score']):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(
            f'<polyline points="{" ".join(seg)}" fill="none" stroke="#1d4ed8" '
            'stroke-width="2" stroke-linejoin="round"/>'
        )
    for at_ms, anchor in ((t0, "start"), ((t0 + t1) // 2, "middle"), (t1, "end")):
        label = next((p["at"][:10] for p in points if p["at_ms"] >= at_ms), points[-1]["at"][:10])
        parts.append(
            f'<text x="{x(at_ms):.1f}" y="{height - 8}" text-anchor="{anchor}" '
            f'fill="#5b6475">{esc(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
