"""Small server-rendered SVG charts. Every label goes through ``format_html`` (escaped); numbers are floats."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

# stt_ms is the endpointing wait: the caller's end of speech (VAD) to the STT's final transcript.
STAGES = [("stt_ms", "end of speech", "#4e79a7"), ("llm_ms", "LLM", "#f28e2b"), ("tts_ms", "TTS", "#59a14f"),
          ("send_ms", "send", "#b07aa1")]  # fmt: skip
BAR = "#4e79a7"
SERIES_COLOURS = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b"]
WIDTH = 640
LABEL_W = 150


def n(value: float) -> str:
    """A compact coordinate: at most one decimal."""
    return f"{value:.1f}".removesuffix(".0")


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:.1f}".removesuffix(".0") if isinstance(value, float) else str(value)
    return f"{text}{unit}"


def empty(message: str = "No data yet.") -> SafeString:
    return format_html('<p class="muted">{}</p>', message)


def svg(height: float, title: str, body: SafeString, width: float = WIDTH) -> SafeString:
    return format_html(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" '
        'preserveAspectRatio="xMinYMin meet" role="img" aria-label="{}"><title>{}</title>{}</svg>',
        n(width), n(height), title, title, body,
    )  # fmt: skip


def rect(x: float, y: float, w: float, h: float, fill: str, tip: str) -> SafeString:
    return format_html(
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
        n(x), n(y), n(max(w, 0)), n(h), fill, tip,
    )  # fmt: skip


def text(x: float, y: float, content: str, anchor: str = "start", cls: str = "") -> SafeString:
    return format_html(
        '<text x="{}" y="{}" text-anchor="{}" class="{}">{}</text>', n(x), n(y), anchor, cls or "label", content
    )


def join(parts: Sequence[SafeString]) -> SafeString:
    return mark_safe("".join(parts))  # every part was built by format_html


def column_chart(points: Sequence[tuple[str, float]], title: str, unit: str = "") -> SafeString:
    """Vertical bars, e.g. calls per day; at most ~7 x-axis labels."""
    if not points:
        return empty()
    top, left, plot_h, bottom = 16.0, 36.0, 160.0, 36.0
    peak = max(v for _, v in points) or 1
    step = (WIDTH - left - 8) / len(points)
    every = max(1, math.ceil(len(points) / 7))
    parts = [text(left - 6, top + 4, fmt(peak, unit), "end"), text(left - 6, top + plot_h, "0", "end")]
    for i, (label, value) in enumerate(points):
        h = plot_h * value / peak
        x = left + i * step
        parts.append(rect(x + 1, top + plot_h - h, step - 2, h, BAR, f"{label}: {fmt(value, unit)}"))
        if i % every == 0:
            parts.append(text(x + step / 2, top + plot_h + 16, label, "middle"))
    return svg(top + plot_h + bottom, title, join(parts))


def bar_chart(points: Sequence[tuple[str, float]], title: str, unit: str = "", peak: float | None = None) -> SafeString:
    """Horizontal bars with the value printed after each bar, e.g. calls by status."""
    if not points:
        return empty()
    row, value_w = 26.0, 70.0
    peak = peak or max(v for _, v in points) or 1
    plot_w = WIDTH - LABEL_W - value_w
    parts = []
    for i, (label, value) in enumerate(points):
        y = 6 + i * row
        w = plot_w * value / peak
        parts += [
            text(LABEL_W - 8, y + 14, label, "end"),
            rect(LABEL_W, y + 2, w, row - 8, BAR, f"{label}: {fmt(value, unit)}"),
            text(LABEL_W + w + 6, y + 14, fmt(value, unit)),
        ]
    return svg(12 + row * len(points), title, join(parts))


def grouped_bar_chart(
    rows: Sequence[tuple[str, Sequence[float | None]]], series: Sequence[str], title: str, unit: str = ""
) -> SafeString:
    """Horizontal bars per row, one per series (e.g. p50 and p95 per agent), with a legend."""
    values = [v for _, vs in rows for v in vs if v is not None]
    if not values:
        return empty()
    bar_h, value_w, legend_h = 12.0, 80.0, 24.0
    row = bar_h * len(series) + 12
    peak = max(values) or 1
    plot_w = WIDTH - LABEL_W - value_w
    parts = legend([(name, SERIES_COLOURS[i % 4]) for i, name in enumerate(series)])
    for r, (label, vs) in enumerate(rows):
        y = legend_h + r * row
        parts.append(text(LABEL_W - 8, y + row / 2 + 2, label, "end"))
        for s, value in enumerate(vs):
            by = y + 4 + s * bar_h
            w = 0 if value is None else plot_w * value / peak
            tip = f"{label} {series[s]}: {fmt(value, unit)}"
            parts += [rect(LABEL_W, by, w, bar_h - 2, SERIES_COLOURS[s % 4], tip),
                      text(LABEL_W + w + 6, by + 9, fmt(value, unit), cls="small")]  # fmt: skip
    return svg(legend_h + row * len(rows) + 4, title, join(parts))


def legend(entries: Sequence[tuple[str, str]]) -> list[SafeString]:
    parts, x = [], LABEL_W
    for name, colour in entries:
        parts += [rect(x, 4, 12, 12, colour, name), text(x + 16, 14, name)]
        x += 24 + 8 * len(name)
    return parts


def marker(x: float, y1: float, y2: float) -> SafeString:
    return format_html(
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="v2v" stroke="#222" stroke-width="2"/>', n(x), n(x), n(y1), n(y2)
    )


def stage_values(latency: dict[str, Any]) -> list[tuple[str, str, float]]:
    return [
        (label, colour, max(0.0, float(latency[key])))  # a preemptive reply's LLM may start before the final
        for key, label, colour in STAGES
        if isinstance(latency.get(key), int | float) and not isinstance(latency.get(key), bool)
    ]


def waterfall_chart(rows: Sequence[tuple[str, dict[str, Any]]], title: str = "Latency per agent turn") -> SafeString:
    """Per agent turn: STT → LLM → TTS → send as consecutive segments, and a marker at voice-to-voice."""
    if not rows:
        return empty("No latency measured for this call.")
    row, legend_h, value_w = 24.0, 24.0, 80.0
    totals = [sum(v for *_, v in stage_values(lat)) for _, lat in rows]
    v2vs = [lat.get("voice_to_voice_ms", lat.get("line_ms")) for _, lat in rows]
    peak = max([*totals, *(v for v in v2vs if isinstance(v, int | float))]) or 1
    plot_w = WIDTH - LABEL_W - value_w
    parts = legend([(label, colour) for _, label, colour in STAGES] + [("voice-to-voice", "#222")])
    for i, (label, latency) in enumerate(rows):
        y, x = legend_h + i * row, float(LABEL_W)
        parts.append(text(LABEL_W - 8, y + 14, label, "end"))
        for stage, colour, value in stage_values(latency):
            w = plot_w * value / peak
            parts.append(rect(x, y + 3, w, row - 8, colour, f"{stage}: {fmt(value, ' ms')}"))
            x += w
        v2v = v2vs[i]
        if isinstance(v2v, int | float):
            mx = LABEL_W + plot_w * v2v / peak
            if "voice_to_voice_ms" in latency:
                parts.append(marker(mx, y + 1, y + row - 3))
            parts.append(text(max(mx, x) + 6, y + 14, f"{fmt(float(v2v))} ms", cls="small"))
    return svg(legend_h + row * len(rows) + 4, title, join(parts))
