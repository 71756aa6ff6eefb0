"""numpy's requests for transparent huge pages, switched off while an offline build runs (a setting).

numpy asks the kernel for huge pages (``madvise(MADV_HUGEPAGE)``) for every array of 4 MB or more. Where the
kernel serves such requests by compacting memory on the spot (Debian's default ``defrag = madvise``), a build
that allocates gigabytes waits for it: 20M-event in-process builds took 11.3-11.9 s with them (3.1-3.8 s in the
kernel) and 9.3-9.9 s without (1.3-1.7 s in the kernel), four builds each, alternating in one process. The
counting gains nothing from huge pages that would make up for it. Dask workers, which keep freed memory for
reuse, showed no difference either way (three builds each); the setting applies to them all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np


def _setter() -> Callable[[bool], bool] | None:
    """numpy's switch (it returns the previous state), or None in a numpy without it."""
    multiarray = getattr(getattr(np, "_core", None), "multiarray", None)
    return getattr(multiarray, "_set_madvise_hugepage", None)


@contextmanager
def numpy_hugepages(enabled: bool) -> Iterator[None]:
    """Within the block, numpy asks for huge pages only if ``enabled``; the state before is restored after.

    Process-wide, as numpy's switch is: a thread allocating meanwhile follows the block's state, which changes
    how fast memory comes, never what an array holds.
    """
    setter = _setter()
    if setter is None or enabled:
        yield
        return
    previous = setter(False)
    try:
        yield
    finally:
        setter(previous)
