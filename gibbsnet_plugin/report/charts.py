"""The report's charts: inline SVG line and bar charts with shared, readable axes (no scripts)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gibbsnet_plugin.report.runs import spread
from gibbsnet_plugin.rundir import Points

MAX_POINTS = 1000
"""Most points drawn per curve; a longer log is thinned evenly (its last point kept)."""


# -- charts ---------------------------------------------------------------------------------------

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
"""Colours of the curves of one chart, in order."""
_WIDTH, _HEIGHT = 460, 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 14, 26, 42


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


PLOTTABLE = 1e100
"""Values beyond ±this are drawn as gaps, like NaN: a chart's range must stay finite."""


def _plottable(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= PLOTTABLE


def finite(points: Points) -> list[float]:
    return [v for _, v in points if _plottable(v)]


def nice_range(values: Sequence[float], ticks: int = 5) -> tuple[float, float, float]:
    """``(low, high, step)``: a range covering ``values`` whose ends are multiples of a round
    ``step`` (1, 2 or 5 times a power of ten), the one giving the number of intervals closest to
    ``ticks`` (the larger step on a tie); (0, 1, 0.2) for no values; a single value gets a range
    around it."""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-12 * max(1.0, abs(high)):
        pad = max(abs(low) * 0.1, 0.5)
        low, high = low - pad, high + pad
    power = 10.0 ** math.floor(math.log10((high - low) / ticks))

    def ends(step: float) -> tuple[int, int]:
        return math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)

    step = min((m * power for m in (10, 5, 2, 1)),
               key=lambda s: abs(ends(s)[1] - ends(s)[0] - ticks))
    first, last = ends(step)
    return first * step, last * step, step


def _tick_label(value: float, step: float) -> str:
    if abs(value) >= 10_000 and step >= 1_000:
        return f"{value / 1000:g}k"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def _axes(title: str, x: tuple[float, float, float], y: tuple[float, float, float], x_label: str,
          y_label: str) -> list[str]:
    """The opening of a chart's ``<svg>`` (``_WIDTH`` × ``_HEIGHT`` pixels): its ``title``,
    horizontal grid lines at the ticks of ``y``, ticks of ``x`` (each ``(low, high, step)`` as
    from ``nice_range``) with their labels, the plot's frame and the axis labels."""
    (x0, x1, dx), (y0, y1, dy) = x, y
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" '
             f'height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img">',
             f"<title>{esc(title)}</title>"]
    for i in range(round((y1 - y0) / dy) + 1):
        value = y0 + i * dy
        at = _TOP + (y1 - value) / (y1 - y0) * plot_h
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{at:.1f}" '
                     f'y2="{at:.1f}"/><text x="{_LEFT - 5}" y="{at + 4:.1f}" '
                     f'text-anchor="end">{esc(_tick_label(value, dy))}</text>')
    for i in range(round((x1 - x0) / dx) + 1):
        value = x0 + i * dx
        at = _LEFT + (value - x0) / (x1 - x0) * plot_w
        parts.append(f'<line class="tick" x1="{at:.1f}" x2="{at:.1f}" y1="{_TOP + plot_h}" '
                     f'y2="{_TOP + plot_h + 4}"/><text x="{at:.1f}" y="{_TOP + plot_h + 16}" '
                     f'text-anchor="middle">{esc(_tick_label(value, dx))}</text>')
    parts.append(f'<rect class="frame" x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}"/>')
    parts.append(f'<text class="label" x="{_LEFT + plot_w / 2:.1f}" y="{_HEIGHT - 6}" '
                 f'text-anchor="middle">{esc(x_label)}</text>')
    parts.append(f'<text class="label" transform="translate(14 {_TOP + plot_h / 2:.1f}) '
                 f'rotate(-90)" text-anchor="middle">{esc(y_label)}</text>')
    return parts


@dataclass
class Chart:
    """A line chart: ``curves`` (name -> points) drawn in the value range ``y`` and the iteration
    range ``x`` (each ``(low, high, step)`` as from ``nice_range``, shared by the runs shown side
    by side), with axis labels; ``markers`` draws a dot at every point."""

    curves: dict[str, Points]
    x: tuple[float, float, float]
    y: tuple[float, float, float]
    x_label: str
    y_label: str
    markers: bool = False

    def svg(self) -> str:
        """The chart as an inline ``<svg>`` element, ``_WIDTH`` × ``_HEIGHT`` pixels."""
        (x0, x1, _), (y0, y1, _) = self.x, self.y
        plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

        def px(x: float) -> float:
            return _LEFT + (x - x0) / (x1 - x0) * plot_w

        def py(y: float) -> float:
            return _TOP + (y1 - y) / (y1 - y0) * plot_h

        parts = _axes(f"{self.y_label} over {self.x_label}s: {', '.join(self.curves)}", self.x,
                      self.y, self.x_label, self.y_label)
        legend_x = _LEFT
        for i, (name, points) in enumerate(self.curves.items()):
            color = PALETTE[i % len(PALETTE)]
            parts.append(self._curve(name, spread(points, MAX_POINTS), color, px, py))
            parts.append(f'<line x1="{legend_x}" x2="{legend_x + 16}" y1="12" y2="12" stroke="{color}" '
                         f'stroke-width="2"/><text x="{legend_x + 20}" y="16">{esc(name)}</text>')
            legend_x += 30 + 7 * len(name)
        parts.append("</svg>")
        return "".join(parts)

    def _curve(self, name: str, points: Points, color: str, px: Callable[[float], float],
               py: Callable[[float], float]) -> str:
        """One curve as a ``<g>`` of polylines (broken at non-finite values) and, with
        ``markers`` or for a lone point, dots; ``px``/``py`` map an iteration/value to pixels;
        ``data-iterations`` lists the iterations of the points drawn."""
        segments: list[list[str]] = [[]]
        dots = []
        for x, y in points:
            if not _plottable(y):
                segments.append([])
                continue
            segments[-1].append(f"{px(x):.1f},{py(y):.1f}")
            dots.append((px(x), py(y)))
        lines = [f'<polyline points="{" ".join(s)}" fill="none" stroke="{color}" stroke-width="1.5"/>'
                 for s in segments if len(s) > 1]
        if self.markers or len(dots) == 1:
            lines += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>' for x, y in dots]
        iterations = " ".join(str(x) for x, _ in points)
        return (f'<g class="curve" data-name="{esc(name)}" data-iterations="{iterations}">'
                f"<title>{esc(name)}</title>{''.join(lines)}</g>")


@dataclass
class Histogram:
    """A bar chart of ``shares`` (one bar per equal bin of [0, 1], each the share of the values in
    that bin) in the value range ``y`` (``(low, high, step)`` as from ``nice_range``, shared by
    the runs shown side by side), with a dashed line at the flat level 1 / number of bins, what a
    uniform distribution gives; ``title`` names the chart for screen readers."""

    shares: Sequence[float]
    y: tuple[float, float, float]
    x_label: str
    y_label: str
    title: str

    def svg(self) -> str:
        """The chart as an inline ``<svg>`` element, ``_WIDTH`` × ``_HEIGHT`` pixels: bars
        ``<rect class="bar" data-share="...">``, the flat level ``<line class="flat">``."""
        y0, y1, _ = self.y
        plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
        bins = len(self.shares)

        def py(y: float) -> float:
            return _TOP + (y1 - min(max(y, y0), y1)) / (y1 - y0) * plot_h

        parts = _axes(self.title, nice_range([0.0, 1.0]), self.y, self.x_label, self.y_label)
        width = plot_w / bins
        for i, share in enumerate(self.shares):
            top = py(share)
            parts.append(f'<rect class="bar" x="{_LEFT + i * width + 1:.1f}" y="{top:.1f}" '
                         f'width="{width - 2:.1f}" height="{py(y0) - top:.1f}" fill="{PALETTE[0]}" '
                         f'data-share="{share:.6g}"><title>{i / bins:.2g} to {(i + 1) / bins:.2g}: '
                         f"{100 * share:.1f} %</title></rect>")
        flat = py(1 / bins)
        parts.append(f'<line class="flat" x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{flat:.1f}" '
                     f'y2="{flat:.1f}" stroke="#222" stroke-width="1.5" stroke-dasharray="6 4"/>')
        parts.append("</svg>")
        return "".join(parts)
