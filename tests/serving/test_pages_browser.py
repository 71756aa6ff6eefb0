"""The insights page in a real headless Chromium (Debian's), served by a real uvicorn on loopback.

Checks: the page loads without console errors, every chart drew its marks with non-empty geometry, and a
screenshot lands in ``test-artifacts/``. The control: a page with a broken script is caught by the same
helper, so a silent console would not pass for a clean one.
"""

from __future__ import annotations

from pathlib import Path

from serving.app import create_app
from tests.browser import ARTIFACTS, open_page
from tests.services import app_on_loopback
from tests.serving.conftest import ServedWorld

CHARTS = {"funnel", "posting-hours", "tier", "amplification", "peers"}


def test_insights_page_draws_every_chart_without_console_errors(served_world: ServedWorld) -> None:
    app = create_app(served_world.config(), load_models=served_world.loader(), background=False)
    with app_on_loopback(app) as base:
        data = app.state.service.data
        posts = data.tables["posts"].column("account_id").to_pylist()
        account = max(set(posts), key=posts.count)
        shot = ARTIFACTS / "insights-page.png"
        shot.unlink(missing_ok=True)
        report = open_page(f"{base}/accounts/{account}/insights", shot)
    assert report.console_errors == []
    assert report.title == f"Account {account} insights"
    assert {c.name for c in report.charts} == CHARTS
    for chart in report.charts:
        assert chart.marks > 0 and chart.drawn == chart.marks, chart  # every mark has a non-empty box
        assert chart.width > 0 and chart.height > 0, chart
    assert report.svg_chart_count == len(CHARTS)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_control_a_broken_script_and_an_empty_chart_are_caught(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><html><head><title>broken</title><link rel="icon" href="data:,"></head><body>'
                    '<svg class="chart" data-chart="empty" width="100" height="50">'
                    '<rect class="mark" x="10" y="10" width="0" height="0"/></svg>'
                    "<script>notDefinedAnywhere();</script></body></html>")
    report = open_page(page.as_uri())
    assert len(report.console_errors) == 1 and "notDefinedAnywhere" in report.console_errors[0]
    assert [(c.name, c.marks, c.drawn) for c in report.charts] == [("empty", 1, 0)]
    assert report.svg_chart_count == 0


def test_operator_page_draws_the_pipeline_without_console_errors(served_world: ServedWorld) -> None:
    app = create_app(served_world.config(), load_models=served_world.loader(), background=False)
    with app_on_loopback(app) as base:
        board = app.state.service.data.board.state
        shot = ARTIFACTS / "operator-page.png"
        shot.unlink(missing_ok=True)
        report = open_page(f"{base}/amplification", shot)
    assert report.console_errors == []
    assert report.title == "Amplification pipeline"
    assert {c.name for c in report.charts} == {"levels", "pool-fill"}
    for chart in report.charts:
        assert chart.marks > 0 and chart.drawn == chart.marks, chart
    assert len(board.post_ids) > 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
