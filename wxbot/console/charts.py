"""Server-side SVG charts for the console (no script, no CDN): stacked bars over time and horizontal bars.

Every chart is a standalone, well-formed SVG document with an accessible name (``<title>`` and
``<desc>``, ``role="img"``); every bar carries its numbers (``data-series``, ``data-label``,
``data-value`` and a ``<title>`` tooltip), so a reader, a screen reader and a test all see the same
values. Labels are escaped. Colours are presentation attributes (the console's CSP allows no inline
styles). The drawing scales to its container (``viewBox``), readable on a 375 px phone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

NS = "http://www.w3.org/2000/svg"
PALETTE = ("#07c160", "#0a58ca", "#f59f00", "#d1242f", "#6f42c1", "#20c997", "#6a737d", "#fd7e14")


@dataclass(frozen=True)
class Bars:
    """One series of a bar chart: a name, one value per label, a colour."""

    name: str
    values: list[int]
    color: str = ""


def _e(value: object) -> str:
    return str(escape(str(value)))


def nice_max(value: float) -> int:
    """The top of the axis: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def _head(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    return [f'<svg xmlns="{NS}" viewBox="0 0 {width} {height}" width="100%" role="img" class="chart" '
            f'id="{_e(chart_id)}" aria-labelledby="{_e(chart_id)}-t {_e(chart_id)}-d">',
            f'<title id="{_e(chart_id)}-t">{_e(title)}</title>', f'<desc id="{_e(chart_id)}-d">{_e(desc)}</desc>']


def stacked_bars(chart_id: str, title: str, labels: list[str], series: list[Bars], desc: str = "",
                 width: int = 360, height: int = 220, unit: str = "条") -> Markup:
    """A stacked bar per label (a time bucket), one segment per series, with a legend of the totals."""
    series = [Bars(s.name, list(s.values) + [0] * (len(labels) - len(s.values)), s.color or PALETTE[i % len(PALETTE)])
              for i, s in enumerate(series)]
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = nice_max(max(totals, default=0))
    legend_rows = math.ceil(len(series) / 2)
    left, right, top_pad, axis = 30, 6, 8, 18
    plot_h = height - top_pad - axis - legend_rows * 18 - 4
    plot_w = width - left - right
    n = max(1, len(labels))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.72)
    if not desc:
        desc = "；".join(f"{s.name} {sum(s.values)} {unit}" for s in series) or "没有数据"
    out = _head(chart_id, title, desc, width, height)
    # the axis: 0, half and top, with light grid lines
    for frac in ((0, 0.5, 1) if top % 2 == 0 else (0, 1)):  # whole numbers only
        y = top_pad + plot_h * (1 - frac)
        label = str(int(top * frac))
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10" fill="#6a737d">{label}</text>')
    every = max(1, math.ceil(n / 8))  # at most about 8 axis labels: readable at 375 px
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar_w) / 2
        y = top_pad + plot_h
        out.append(f'<g class="bucket" data-label="{_e(label)}" data-total="{totals[i]}">')
        for s in series:
            v = s.values[i]
            if v <= 0:
                continue
            h = plot_h * v / top
            y -= h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{_e(s.color)}" '
                       f'class="bar" data-series="{_e(s.name)}" data-label="{_e(label)}" data-value="{v}">'
                       f'<title>{_e(label)} · {_e(s.name)}：{v} {_e(unit)}</title></rect>')
        out.append("</g>")
        if i % every == 0:
            out.append(f'<text x="{left + i * slot + slot / 2:.1f}" y="{top_pad + plot_h + 13:.1f}" '
                       f'text-anchor="middle" font-size="10" fill="#6a737d">{_e(label)}</text>')
    ly = top_pad + plot_h + axis + 10
    for i, s in enumerate(series):
        x = 6 + (i % 2) * (width / 2)
        y = ly + (i // 2) * 18
        out.append(f'<g class="legend" data-series="{_e(s.name)}" data-total="{sum(s.values)}">'
                   f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{_e(s.color)}"/>'
                   f'<text x="{x + 14:.1f}" y="{y:.1f}" font-size="12" fill="#1f2328">{_e(s.name)} {sum(s.values)}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


def hbars(chart_id: str, title: str, rows: list[tuple[str, int]], desc: str = "", width: int = 360,
          unit: str = "个", color: str = PALETTE[1]) -> Markup:
    """One horizontal bar per row (a label and a count), the count written after the bar."""
    row_h, left, right = 24, 92, 40
    height = 8 + row_h * max(1, len(rows))
    top = nice_max(max((v for _, v in rows), default=0))
    if not desc:
        desc = "；".join(f"{label} {v} {unit}" for label, v in rows) or "没有数据"
    out = _head(chart_id, title, desc, width, height)
    plot_w = width - left - right
    for i, (label, v) in enumerate(rows):
        y = 4 + i * row_h
        w = plot_w * v / top if v > 0 else 0
        out.append(f'<g class="row" data-label="{_e(label)}" data-value="{v}">'
                   f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" font-size="12" fill="#1f2328">{_e(label)}</text>'
                   f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{_e(color)}" class="bar" '
                   f'data-series="{_e(title)}" data-label="{_e(label)}" data-value="{v}">'
                   f'<title>{_e(label)}：{v} {_e(unit)}</title></rect>'
                   f'<text x="{left + w + 4:.1f}" y="{y + 15}" font-size="12" fill="#1f2328">{v}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))
