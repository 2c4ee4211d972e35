"""Minimal SVG bar charts, written by hand (no plotting library is among the project's dependencies): grouped bars
with a legend and the value axis. Text is escaped; the output is a standalone SVG document."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b")
WIDTH, HEIGHT = 900, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 40, 70


def bars(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> str:
    """`labels` along the x axis; each series one value per label."""
    top = max([1, *(v for _, values in series for v in values)])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(len(labels), 1)
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1.0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="14">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="black"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="black"/>',
    ]
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
    for g, label in enumerate(labels):
        x0 = LEFT + g * group_w + group_w * 0.1
        for s, (name, values) in enumerate(series):
            v = values[g]
            h = plot_h * v / top
            out.append(
                f'<rect x="{x0 + s * bar_w:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[s % len(COLOURS)]}"><title>{escape(name)} {escape(label)}: {v}</title></rect>'
            )
        if len(labels) <= 40 or g % max(len(labels) // 40, 1) == 0:
            cx, cy = LEFT + g * group_w + group_w / 2, TOP + plot_h + 12
            out.append(
                f'<text x="{cx:.1f}" y="{cy}" text-anchor="end" transform="rotate(-45 {cx:.1f} {cy})">'
                f"{escape(label)}</text>"
            )
    for s, (name, _) in enumerate(series):
        x = WIDTH - RIGHT - 120 * (len(series) - s)
        out.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{COLOURS[s % len(COLOURS)]}"/>')
        out.append(f'<text x="{x + 14}" y="17">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
