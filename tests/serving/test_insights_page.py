"""``GET /accounts/{id}/insights`` over the served world: JSON by default, an HTML page for browsers."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from serving.pages import wants_html
from serving.pages.insights import insights_page
from serving.schemas import InsightsResponse

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
CHARTS = {"funnel", "posting-hours", "tier", "amplification", "peers"}


@pytest.mark.parametrize(("accept", "html"), [
    (BROWSER, True), ("text/html", True), ("application/json", False), ("*/*", False), (None, False), ("", False),
    ("application/json, text/html;q=0.5", False), ("text/html;q=0.9, application/json;q=0.5", True),
    ("text/*", True), ("text/html;q=oops", False),
])
def test_accept_negotiation(accept: str | None, html: bool) -> None:
    assert wants_html(accept) is html


def _busiest_account(client: TestClient) -> int:
    posts = client.app.state.service.data.tables["posts"].column("account_id").to_pylist()
    return max(set(posts), key=posts.count)


def test_json_is_the_default_and_carries_every_insight(client: TestClient) -> None:
    account = _busiest_account(client)
    r = client.get(f"/accounts/{account}/insights")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = InsightsResponse.model_validate(r.json())
    assert [s.stage for s in body.funnel] == ["LEAD", "INTERLOCK", "ENGAGE", "KEEP"]
    assert body.posting_hours.best_hour is not None and body.amplification.posts
    assert body.peers.figures and body.tier_progress.tier == body.account.tier
    schema = client.get("/openapi.json").json()
    op = schema["paths"]["/accounts/{account_id}/insights"]["get"]["responses"]["200"]["content"]
    assert set(op) == {"application/json", "text/html"}
    assert "posting_hours" in schema["components"]["schemas"]["InsightsResponse"]["properties"]


def test_browsers_get_a_self_contained_page_with_every_chart(client: TestClient) -> None:
    account = _busiest_account(client)
    r = client.get(f"/accounts/{account}/insights", headers={"Accept": BROWSER})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    page = r.text
    assert set(re.findall(r'data-chart="([^"]+)"', page)) == CHARTS
    assert f"Account {account} insights" in page
    # nothing loads from elsewhere: no scripts, no external URLs (only the SVG namespace)
    assert "<script" not in page.lower()
    assert set(re.findall(r"https?://[^\s\"']+", page)) <= {"http://www.w3.org/2000/svg"}
    assert client.get("/accounts/999999999/insights", headers={"Accept": BROWSER}).status_code == 404


def test_the_page_escapes_what_it_shows(client: TestClient) -> None:
    account = _busiest_account(client)
    body = client.get(f"/accounts/{account}/insights").json()
    body["account"]["kind"] = "<script>alert(1)</script>"
    body["amplification"]["posts"][0]["reason"] = 'a "quoted" <b>reason</b> & more'
    page = insights_page(body)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;reason&lt;/b&gt; &amp; more" in page
