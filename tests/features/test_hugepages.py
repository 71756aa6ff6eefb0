"""numpy's huge-page requests are off while an offline build runs (unless the setting allows them), and back after."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

import features.hugepages as hugepages
from features.featuresets import get_feature_set
from features.hugepages import numpy_hugepages
from features.offline import build_frame
from features.settings import FeatureSettings
from tests.features.test_offline import T0, H, tiny_world


@pytest.fixture
def switch() -> Iterator:
    """numpy's real switch, set on before the test and put back as it was after."""
    setter = hugepages._setter()
    assert setter is not None, "this numpy has no huge-page switch"
    before = setter(True)
    yield setter
    setter(before)


def test_the_block_switches_numpy_off_and_puts_the_state_back(switch) -> None:  # type: ignore[no-untyped-def]
    with numpy_hugepages(False):
        assert switch(False) is False  # returns the state it replaces: off inside the block
        np.ones(2**20)  # arrays still work
    assert switch(True) is True  # on again after the block
    with numpy_hugepages(True):
        assert switch(True) is True  # allowed: left as it was
    with pytest.raises(RuntimeError), numpy_hugepages(False):
        raise RuntimeError("a failing build")
    assert switch(True) is True  # restored on the way out of a failure too


@pytest.mark.parametrize(("allowed", "calls"), [(False, [False, True]), (True, [])])
def test_build_frame_follows_the_setting(monkeypatch: pytest.MonkeyPatch, switch, allowed: bool,  # type: ignore[no-untyped-def]
                                         calls: list[bool]) -> None:
    seen: list[bool] = []

    def recording(enabled: bool) -> bool:
        seen.append(enabled)
        return switch(enabled)

    monkeypatch.setattr(hugepages, "_setter", lambda: recording)
    data = tiny_world([(1, 1, "post", 0, "impression", T0 + H)])
    rows = data.catalog().candidate_rows([1], "post", [0], T0 + 3 * H)
    assert isinstance(rows, pa.Table)
    frame = build_frame(get_feature_set("follow_feed_v1"), rows, data,
                        settings=FeatureSettings(numpy_hugepages=allowed))
    assert frame.values.shape == (1, len(frame.columns))
    assert seen == calls  # off for the build, then back to the state before (on); untouched when allowed
