"""Inline SVG primitives for server-rendered charts: escaped elements, scales, axis labels.

Every drawn data mark carries ``class="mark"`` so a browser test can check that each chart drew something
with non-empty geometry.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

WIDTH = 640
PALETTE = {"you": "#d9480f", "tier": "#1c7ed6", "category": "#868e96", "bar": "#4263eb", "best": "#2b8a3e",
           "grid": "#dee2e6", "text": "#212529", "muted": "#868e96"}


def el(tag: str, text: str | None = None, /, **attrs: object) -> str:
    """One SVG element; ``class_`` becomes ``class``, ``data_x`` / ``aria_label`` become ``data-x`` / ``aria-label``."""
    parts = [tag]
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        parts.append(f'{name}="{escape(shown, quote=True)}"')
    head = " ".join(parts)
    return f"<{head}/>" if text is None else f"<{head}>{escape(text)}</{tag}>"


def svg(name: str, label: str, height: float, body: list[str], width: float = WIDTH) -> str:
    """A chart: ``<svg class="chart" data-chart=name>`` with a title for screen readers."""
    inner = el("title", label) + "".join(body)
    return (f'<svg class="chart" data-chart="{escape(name, quote=True)}" role="img" '
            f'aria-label="{escape(label, quote=True)}" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" xmlns="http://www.w3.org/2000/svg">{inner}</svg>')


def text(x: float, y: float, s: str, *, anchor: str = "start", size: int = 12, fill: str = PALETTE["text"],
         weight: str | None = None) -> str:
    """A label."""
    return el("text", s, x=x, y=y, text_anchor=anchor, font_size=size, fill=fill, font_weight=weight,
              font_family="sans-serif")


def scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Callable[[float], float]:
    """Linear map from ``[lo, hi]`` onto ``[out_lo, out_hi]`` (the middle when the domain is empty)."""
    span = hi - lo
    if span <= 0:
        return lambda v: (out_lo + out_hi) / 2
    return lambda v: out_lo + (float(v) - lo) / span * (out_hi - out_lo)


def pct(x: float | None, digits: int = 1) -> str:
    """A rate as a percentage ("–" when unknown)."""
    return "–" if x is None else f"{100 * x:.{digits}f} %"


def num(x: float | None) -> str:
    """A count with thousands separators ("–" when unknown)."""
    return "–" if x is None else f"{x:,.0f}"
