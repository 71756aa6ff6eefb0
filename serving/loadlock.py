"""One worker loads at a time: the workers of a service index their data one after another.

A worker's load (reading the tables, replaying the event history into the online store, building the
engines) peaks at several times the memory it keeps once ready: on the large world about 12 GB against 3 GB.
Workers that load together add their peaks, and two of them did not fit in 24 GiB (the kernel killed one).
Taking turns costs start-up time, not throughput: a worker that is ready serves while the next one loads.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


@contextmanager
def one_at_a_time(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the block.

    An advisory ``flock``: it is released when the holder's file closes, so a worker that dies while loading
    does not block the others.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another worker is loading; waiting for it to finish (%s)", path)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
