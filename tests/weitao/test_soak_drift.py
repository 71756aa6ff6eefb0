"""``weitao bench soak``'s RSS drift: every sample counts, not only the last."""

from __future__ import annotations

import pytest

from weitao.bench.soak import drift


def _samples(*rss: tuple[float, float]) -> list[dict]:
    return [{"rss_mb": list(r), "errors": {"timeout": 0}} for r in rss]


def test_drift_is_the_largest_change_of_any_sample_from_the_first() -> None:
    d = drift(_samples((500, 400), (520, 404), (560, 398), (505, 402)))
    assert d["drift_pct"] == pytest.approx([1.0, 0.5])  # first to last
    assert d["max_abs_drift_pct"] == pytest.approx(12.0)  # the 560 MB sample, given back by the end
    assert d["rss_max_mb"] == [560, 404] and d["rss_first_mb"] == [500, 400] and d["rss_last_mb"] == [505, 402]


def test_a_shrinking_worker_counts_too_and_errors_are_summed() -> None:
    d = drift([{"rss_mb": [400.0], "errors": {"timeout": 1}}, {"rss_mb": [360.0], "errors": {"timeout": 2, "5xx": 1}}])
    assert d["max_abs_drift_pct"] == pytest.approx(10.0) and d["errors"] == 4
