"""Scratch files of the Dask engine: each partition read back is exactly its users' rows, in written order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features import event_files
from features.columns import OPEN, EventArrays
from features.definitions import FeatureError
from features.event_files import (
    read_events,
    read_follows,
    read_partition,
    user_partition,
    write_columns,
    write_events,
    write_follows,
)
from features.follows import FollowState


def tiny_events(n: int = 40) -> EventArrays:
    rng = np.random.default_rng(3)
    return EventArrays(event_id=np.arange(100, 100 + n, dtype=np.int64),
                       user=rng.integers(0, 9, n).astype(np.int64),
                       ttype=rng.integers(0, 3, n).astype(np.int8),
                       target=rng.integers(0, 1000, n).astype(np.int64),
                       action=rng.integers(-1, 10, n).astype(np.int8),  # -1: an invalid enum must survive
                       source=rng.integers(0, 7, n).astype(np.int8),
                       time=np.sort(rng.integers(0, 10**12, n)).astype(np.int64))


@pytest.mark.parametrize("batch_rows", [7, 1 << 22])  # several record batches, and one
def test_partitions_of_events_read_back_are_the_users_rows_in_order(tmp_path: Path, batch_rows: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_files, "BATCH_ROWS", batch_rows)
    ev = tiny_events()
    path = write_events(tmp_path / "events.arrow", ev)
    for n in (3, 1):  # several partitions, and one (every row, read without hashing)
        part = user_partition(ev.user, n)
        seen = 0
        for p in range(n):
            got, want = read_events(path, n, p), ev.take(np.flatnonzero(part == p))
            for field in EventArrays.__dataclass_fields__:
                a, b = getattr(got, field), getattr(want, field)
                assert a.dtype == b.dtype and np.array_equal(a, b), field
            seen += len(got)
        assert seen == len(ev) and len(np.unique(part)) == n  # every row in exactly one partition, none empty


def test_partitions_of_follows_read_back_with_open_intervals(tmp_path: Path) -> None:
    follows = FollowState(np.array([5, 1, 5, 2]), np.array([0, 3, 1, 3]), np.array([10, 20, 30, 40]),
                          np.array([OPEN, 25, OPEN, 45]))
    path = write_follows(tmp_path / "follows.arrow", follows)
    part = user_partition(follows.user, 2)
    for p in range(2):
        got = read_follows(path, 2, p)
        keep = part == p
        for name in ("user", "account", "since", "until"):
            assert np.array_equal(getattr(got, name), getattr(follows, name)[keep])
    # Fan status computed from the partition agrees with the whole graph for that partition's users.
    got = read_follows(path, 2, int(part[0]))
    assert got.is_fan(np.array([5, 5]), np.array([0, 1]), np.array([10, 29])).tolist() == [True, False]


def test_an_empty_partition_keeps_the_column_types(tmp_path: Path) -> None:
    path = write_columns(tmp_path / "x.arrow", {"user": np.array([4, 4], np.int64), "code": np.array([1, 2], np.int8)})
    empty = 1 - int(user_partition(np.array([4]), 2)[0])
    got = read_partition(path, 2, empty)
    assert {k: (v.dtype, len(v)) for k, v in got.items()} == {"user": (np.int64, 0), "code": (np.int8, 0)}
    nothing = read_partition(write_columns(tmp_path / "y.arrow", {"user": np.empty(0, np.int64)}), 2, 0)
    assert len(nothing["user"]) == 0 and nothing["user"].dtype == np.int64


def test_bad_files_and_partitions_are_named(tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match="'user' column"):
        write_columns(tmp_path / "x.arrow", {"account": np.arange(3)})
    path = write_columns(tmp_path / "x.arrow", {"user": np.arange(3)})
    with pytest.raises(FeatureError, match=r"partition 2 is not in 0\.\.1"):
        read_partition(path, 2, 2)
    with pytest.raises(FeatureError, match=r"n_partitions must be in 1\.\."):
        user_partition(np.arange(3), 0)
    with pytest.raises(FeatureError, match=r"n_partitions must be in 1\.\."):
        user_partition(np.arange(3), event_files.MAX_PARTITIONS + 1)


def test_many_partitions_are_all_used_and_even() -> None:
    # The range reduction (hash * n >> 24) reaches every partition evenly for counts that do not divide 2**24,
    # and at the largest count it is the 24-bit hash itself (no overflow, nothing out of range).
    users = np.arange(200_000)
    for n in (5, 1000):
        counts = np.bincount(user_partition(users, n), minlength=n)
        assert len(counts) == n and counts.min() > 0.7 * 200_000 / n and counts.max() < 1.3 * 200_000 / n
    hashes = [(int(u) * 0x9E3779B97F4A7C15) % 2**64 >> 40 for u in users[:1000]]
    assert user_partition(users[:1000], event_files.MAX_PARTITIONS).tolist() == hashes
