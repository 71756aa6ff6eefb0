"""What every page shares: the stylesheet, escaping, tables and sections."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

STYLE = """body{font-family:sans-serif;margin:24px auto;max-width:720px;color:#212529;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #dee2e6;padding-bottom:4px}
table{border-collapse:collapse;font-size:12px;margin-top:8px}td,th{padding:3px 8px;border-bottom:1px solid #eee;
text-align:right}td:first-child,th:first-child,td:last-child,th:last-child{text-align:left}.summary{font-size:14px}.muted{color:#868e96}
svg.chart{display:block;margin-top:8px;max-width:100%;height:auto}"""


def esc(x: object) -> str:
    """``x`` as HTML text (quotes escaped too)."""
    return escape(str(x))


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain table; every cell escaped."""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def section(title: str, summary: str, *parts: str) -> str:
    """A titled section with a one-line summary, then ``parts`` (already HTML)."""
    return f'<section><h2>{esc(title)}</h2><p class="summary">{esc(summary)}</p>{"".join(parts)}</section>'
