"""The per-account event limit is one limit for all worker processes, exact to the second."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from serving.ratelimit import RateLimited, SharedRateLimiter

T0 = 1_800_000_000.0


def _admit_one_by_one(path: str, limit: int, tries: int, account: int) -> int:
    """A worker process: offer ``tries`` single events of ``account``; return how many were admitted."""
    limiter = SharedRateLimiter(limit, Path(path))
    admitted = 0
    for _ in range(tries):
        try:
            limiter.admit(np.array([account]), T0 + 1)
            admitted += 1
        except RateLimited:
            pass
    limiter.close()
    return admitted


def test_two_worker_processes_share_one_limit(tmp_path: Path) -> None:
    limit, tries = 40, 100
    ctx = multiprocessing.get_context("spawn")  # real separate processes, as uvicorn's workers are
    with ctx.Pool(2) as pool:
        got = pool.starmap(_admit_one_by_one, [(str(tmp_path / "rate.bin"), limit, tries, 7)] * 2)
    assert sum(got) == limit and min(got) >= 0
    # control: each process with its own file lets the account through once per worker
    with ctx.Pool(2) as pool:
        own = pool.starmap(_admit_one_by_one, [(str(tmp_path / f"rate{i}.bin"), limit, tries, 7) for i in range(2)])
    assert sum(own) == 2 * limit


def test_the_window_slides_by_the_second_and_refusals_count_nothing(tmp_path: Path) -> None:
    a = SharedRateLimiter(10, tmp_path / "r.bin")
    b = SharedRateLimiter(10, tmp_path / "r.bin")  # a second worker's view of the same file
    a.admit(np.array([1] * 6), T0)
    b.admit(np.array([1] * 4 + [2] * 3), T0 + 30)
    with pytest.raises(RateLimited, match="account 1 is over its limit of 10"):
        a.admit(np.array([2, 1]), T0 + 59)  # all or nothing: account 2's event is not counted either
    assert a.used(2, T0 + 59) == 3 and b.used(1, T0 + 59) == 10
    a.admit(np.array([1] * 6), T0 + 60)  # the first six left the window
    assert b.used(1, T0 + 60) == 10
    with pytest.raises(RateLimited):
        b.admit(np.array([1]), T0 + 89)
    b.admit(np.array([1] * 4), T0 + 90)  # and now the four from T0 + 30


def test_a_full_table_refuses_new_accounts_until_old_ones_expire() -> None:
    limiter = SharedRateLimiter(100, None, slots=8)
    limiter.admit(np.arange(8), T0)
    with pytest.raises(RateLimited, match="account 99"):
        limiter.admit(np.array([99]), T0 + 1)  # no free slot: fail closed
    limiter.admit(np.array([3]), T0 + 2)  # accounts already counted go on being counted
    limiter.admit(np.array([99]), T0 + 61)  # expired accounts free their slots
    assert limiter.used(99, T0 + 61) == 1 and limiter.used(3, T0 + 61) == 1
