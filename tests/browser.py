"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, installed by scripts/services.sh).

:func:`open_page` loads a URL, waits for the document, collects the console errors (``console.error``,
uncaught exceptions, failed loads), measures every ``svg.chart`` (how many data marks it drew with a
non-empty bounding box), and saves a full-page screenshot. No browser is ever downloaded: the driver and
the browser are the OS packages, given by path, so Selenium Manager is not consulted.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=900,1200")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# Per chart: its name, its marks, and how many of them have a non-empty box (width or height above zero).
_MEASURE = """
return Array.from(document.querySelectorAll('svg.chart')).map(function (svg) {
  var marks = Array.from(svg.querySelectorAll('.mark'));
  var drawn = marks.filter(function (m) { var b = m.getBBox(); return b.width > 0 || b.height > 0; });
  var box = svg.getBoundingClientRect();
  return {name: svg.getAttribute('data-chart') || '', marks: marks.length, drawn: drawn.length,
          width: box.width, height: box.height};
});
"""


@dataclass(frozen=True)
class ChartReport:
    """One ``svg.chart`` as drawn: its data marks and how many have non-empty geometry."""

    name: str
    marks: int
    drawn: int
    width: float
    height: float


@dataclass(frozen=True)
class PageReport:
    """What a page did in the browser."""

    url: str
    title: str
    console_errors: list[str]
    charts: list[ChartReport] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def svg_chart_count(self) -> int:
        """Charts that drew at least one mark with non-empty geometry."""
        return sum(c.drawn > 0 for c in self.charts)


def binaries() -> tuple[str, str]:
    """``(chromium, chromedriver)`` paths, or a clear error naming the script that installs them."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        raise RuntimeError("chromium / chromedriver are not installed: run scripts/services.sh")
    return browser, driver


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile, quit (and its profile removed) when the block ends."""
    browser, driver = binaries()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        try:
            yield chrome
        finally:
            chrome.quit()


def open_page(url: str, screenshot_path: Path | None = None, *, timeout: float = 30) -> PageReport:
    """Load ``url`` in a fresh headless Chromium and report console errors, charts and the title."""
    with chromium() as chrome:
        chrome.set_page_load_timeout(timeout)
        chrome.get(url)
        WebDriverWait(chrome, timeout).until(lambda d: d.execute_script("return document.readyState") == "complete")
        errors = [e["message"] for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
        charts = [ChartReport(**c) for c in chrome.execute_script(_MEASURE)]
        shot = None
        if screenshot_path is not None:
            screenshot_path.parent.mkdir(parents=True, exist_ok=True)
            height = chrome.execute_script("return document.documentElement.scrollHeight")
            chrome.set_window_size(900, min(max(int(height) + 40, 600), 8000))
            if not chrome.save_screenshot(str(screenshot_path)):
                raise RuntimeError(f"screenshot: Chromium could not write {screenshot_path}")
            shot = screenshot_path
        return PageReport(url, chrome.title, errors, charts, shot)
