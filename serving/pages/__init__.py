"""Server-rendered HTML pages of the service (no scripts, no external resources: charts are inline SVG)."""

from __future__ import annotations

#: Sent with every page: nothing may load from anywhere (styles are inline, images data: URLs).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _quality(part: str) -> tuple[str, float]:
    media, *params = (p.strip() for p in part.split(";"))
    q = 1.0
    for p in params:
        key, _, value = p.partition("=")
        if key.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
    return media.lower(), q


def wants_html(accept: str | None) -> bool:
    """Whether an ``Accept`` header prefers ``text/html`` to ``application/json`` (JSON wins ties and absence)."""
    if not accept:
        return False
    ranges = dict(_quality(p) for p in accept.split(",") if p.strip())

    def q(media: str) -> float:
        kind = media.split("/")[0]
        return ranges.get(media, ranges.get(f"{kind}/*", ranges.get("*/*", 0.0)))

    return q("text/html") > q("application/json")
