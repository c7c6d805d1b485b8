"""Server-rendered SVG bar charts: no JavaScript, no CDN, readable by screen readers (title + data table)."""
from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Sequence

PALETTE = {"cf": "#1f6fb2", "donor": "#e08a00", "both": "#2e8b57", "none": "#b22222",
           "required": "#5b5b5b", "available": "#1f6fb2", "expenditure": "#2e8b57"}


@dataclass
class Series:
    name: str
    values: Sequence[float]
    colour: str


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, stacked: bool = False,
              width: int = 640, bar_height: int = 18, label_width: int = 230, unit: str = "") -> str:
    """A horizontal bar chart (grouped or stacked) as an inline <svg> string with a <title> and a legend."""
    labels = list(labels)
    n = len(labels)
    groups = 1 if stacked else max(len(series), 1)
    row_h = bar_height * groups + 8
    legend_h = 24
    height = legend_h + max(n, 1) * row_h + 10
    totals = [sum(s.values[i] for s in series) if stacked else max((s.values[i] for s in series), default=0)
              for i in range(n)]
    top = max([t for t in totals if t > 0], default=1.0)
    plot_w = width - label_width - 90
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" aria-labelledby="t-{abs(hash(title))}">',
             f'<title id="t-{abs(hash(title))}">{escape(title)}</title>']
    # the legend starts under the bars and moves left when the series names need more room (never clipped)
    legend_w = sum(30 + 7 * len(s.name) for s in series)
    x = max(4, min(label_width, width - legend_w))
    for s in series:
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{s.colour}"/>'
                     f'<text x="{x + 16}" y="16" font-size="12">{escape(s.name)}</text>')
        x += 30 + 7 * len(s.name)
    for i, label in enumerate(labels):
        y0 = legend_h + i * row_h
        short = label if len(label) <= 34 else label[:33] + "…"
        parts.append(f'<text x="{label_width - 6}" y="{y0 + row_h / 2 + 4}" font-size="12" text-anchor="end">'
                     f'<title>{escape(label)}</title>{escape(short)}</text>')
        offset = 0.0
        for k, s in enumerate(series):
            v = float(s.values[i] or 0)
            w = max(v, 0) / top * plot_w
            y = y0 + 4 + (0 if stacked else k * bar_height)
            bx = label_width + (offset if stacked else 0)
            parts.append(f'<rect class="bar" x="{bx:.1f}" y="{y}" width="{w:.1f}" height="{bar_height - 2}" '
                         f'fill="{s.colour}"><title>{escape(label)} — {escape(s.name)}: {_fmt(v)}{unit}</title></rect>')
            if stacked:
                offset += w
            elif v:
                parts.append(f'<text x="{bx + w + 4:.1f}" y="{y + bar_height - 6}" font-size="11">{_fmt(v)}</text>')
        if stacked and totals[i]:
            parts.append(f'<text x="{label_width + offset + 4:.1f}" y="{y0 + 4 + bar_height - 6}" font-size="11">'
                         f'{_fmt(totals[i])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt(v: float) -> str:
    if abs(v) >= 1e9:
        return f"{v / 1e9:.1f}bn"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}m"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.0f}k"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"
