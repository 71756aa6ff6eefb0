"""The per-account event rate limit, counted once for all worker processes.

Each uvicorn worker is a process of its own, so a counter in a worker's memory would let an account send
the limit once per worker. The counts live instead in a small file that every worker of the service maps
into memory (beside the durable event log), guarded by an ``flock``: a batch is admitted or refused by the
sum over all workers.

Layout: an open-addressing table of ``slots`` accounts; per account sixty one-second buckets, each
remembering the second it counts, so the one-minute window is exact to the second and a bucket from an
older minute reads as empty. An account whose buckets are all older than a minute frees its slot. When
no slot is free within the probe length the batch is refused (fail closed: the client retries later).
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import numpy as np

WINDOW_S = 60
PROBES = 64
_MIX = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


class RateLimited(Exception):
    """A batch would take an account past its per-minute event limit."""

    def __init__(self, account: int, limit: int) -> None:
        super().__init__(f"events: account {account} is over its limit of {limit} events per minute")
        self.account = account


class SharedRateLimiter:
    """Sliding one-minute window of event counts per account, shared through ``path`` (or private if None)."""

    def __init__(self, per_minute: int, path: Path | None = None, slots: int = 16_384) -> None:
        self.per_minute, self.slots = per_minute, slots
        self._lock = threading.Lock()  # flock excludes processes; threads of one process share the descriptor
        self._fd: int | None = None
        shape = (slots, 1 + 2 * WINDOW_S)  # key + 1 (0 = empty), then 60 seconds, then 60 counts
        if path is None:
            self._table = np.zeros(shape, np.int64)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        size = int(np.prod(shape)) * 8
        with self._locked():
            if os.fstat(self._fd).st_size != size:
                os.ftruncate(self._fd, size)  # first worker (or a different slot count): start empty
        self._table = np.memmap(path, np.int64, "r+", shape=shape)

    def admit(self, accounts: np.ndarray, now_s: float) -> None:
        """Count the batch's events per account, or raise :class:`RateLimited` and count nothing."""
        ids, counts = np.unique(np.asarray(accounts, np.int64), return_counts=True)
        if not len(ids):
            return
        second = int(now_s)
        with self._locked():
            rows: list[int] = []
            for a in ids.tolist():
                rows.append(self._row(a, second, taken=rows))
            for account, row, n in zip(ids.tolist(), rows, counts.tolist(), strict=True):
                used = 0 if row < 0 else self._window(row, second)
                if row < 0 or used + n > self.per_minute:
                    raise RateLimited(account, self.per_minute)
            for account, row, n in zip(ids.tolist(), rows, counts.tolist(), strict=True):
                self._add(row, account, second, n)

    def used(self, account: int, now_s: float) -> int:
        """Events counted for ``account`` in the minute up to ``now_s`` (all workers)."""
        with self._locked():
            row = self._row(account, int(now_s), claim=False)
            return 0 if row < 0 else self._window(row, int(now_s))

    def _row(self, account: int, second: int, claim: bool = True, taken: list[int] | None = None) -> int:
        """The account's row, or a free (empty or expired) row to claim for it, not one of ``taken`` (rows of
        the same batch); -1 when none is free."""
        t = self._table
        start = (((account * _MIX) & _MASK) >> 40) % self.slots  # Fibonacci hashing spreads nearby ids
        free = -1
        for step in range(PROBES):
            row = (start + step) % self.slots
            key = int(t[row, 0])
            if key == account + 1:
                return row
            if taken and row in taken:
                continue  # claimed by another account of this batch
            if free < 0 and (key == 0 or int(t[row, 1:1 + WINDOW_S].max()) <= second - WINDOW_S):
                free = row
            if key == 0:
                break  # an account is never stored past an empty row
        return free if claim else -1

    def _window(self, row: int, second: int) -> int:
        t = self._table
        if int(t[row, 0]) == 0:
            return 0
        seconds = t[row, 1:1 + WINDOW_S]
        live = (seconds > second - WINDOW_S) & (seconds <= second)  # a clock set back does not pin old counts
        return int(t[row, 1 + WINDOW_S:][live].sum())

    def _add(self, row: int, account: int, second: int, n: int) -> None:
        t = self._table
        if int(t[row, 0]) != account + 1:
            t[row, 1:] = 0  # a freed row: forget its previous account
            t[row, 0] = account + 1
        b = second % WINDOW_S
        if int(t[row, 1 + b]) != second:
            t[row, 1 + b], t[row, 1 + WINDOW_S + b] = second, 0
        t[row, 1 + WINDOW_S + b] += n

    def _locked(self) -> _Locked:
        return _Locked(self._lock, self._fd)

    def close(self) -> None:
        """Release the file (the counts stay in it for the other workers)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Locked:
    """Thread lock, then an exclusive ``flock`` on the shared file when there is one."""

    def __init__(self, lock: threading.Lock, fd: int | None) -> None:
        self.lock, self.fd = lock, fd

    def __enter__(self) -> None:
        self.lock.acquire()
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.lock.release()
