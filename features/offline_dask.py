"""The offline engine on a Dask cluster (``distributed``): the same functions, over partitions of events.

Events and follows are partitioned by the acting user, so everything that depends on one user's history
(fan status, repeat purchases and revisits, user × account and user × category counts) is whole inside a
partition. Each partition runs :func:`features.offline.answer_partition` (the function the in-process engine
runs on everything) and returns the read counts of every request row; counts are sums over events, so the
partitions' answers add up to exactly the in-process answer (integers: the frames are bitwise identical).
Answering on the workers rather than shipping aggregated counts back keeps the serial part small, and so
does the way data reaches them: the client writes events and follows once, unpartitioned, to scratch files
(:mod:`features.event_files`), and each task cuts its own partition out of them on its worker. Cutting and
pickling every partition on the client and scattering them one by one made that serial part dominate.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dask
import numpy as np
from distributed import Client, Future, LocalCluster, as_completed

from features.catalog import Catalog
from features.columns import EventArrays
from features.definitions import FeatureError, FeatureSet
from features.event_files import (
    read_events,
    read_follows,
    scratch_directory,
    user_partition,
    write_events,
    write_follows,
)
from features.follows import FollowState
from features.hugepages import numpy_hugepages
from features.offline import RowQueries, answer_partition
from features.settings import FeatureSettings

__all__ = ["answer_dask", "compact", "dask_client", "user_partition"]

#: glibc ``mallopt`` parameters (malloc.h: M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX) and the values the engine's
#: own LocalCluster workers run with (see :func:`keep_freed_memory`).
WORKER_MALLOC = {-1: 2**31 - 1, -4: 0, -8: 1}


#: Dask settings of the engine's own LocalCluster: the nanny leaves glibc's trim threshold alone (see
#: :func:`keep_freed_memory`), and the workers run without Dask's profiler.
LOCAL_CLUSTER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                        "distributed.worker.profile.enabled": False}


@contextmanager
def dask_client(settings: FeatureSettings) -> Iterator[Client]:
    """A client of ``settings.dask_scheduler``, or of a LocalCluster of worker processes for ``"local"``."""
    if settings.dask_scheduler == "local":
        # Dask's nanny would set MALLOC_TRIM_THRESHOLD_=65536 in the workers, and in this process's environment
        # too, before spawning them: hand memory back at once, a trade for long-lived workers. These live for one
        # build, and keep freed memory instead (keep_freed_memory, below).
        # dashboard_address=None does not turn the scheduler's HTTP server off (dask/distributed#8136): a free
        # loopback port keeps two clusters from fighting over 8787 and keeps everything off other interfaces.
        # Dask's statistical profiler (for the dashboard) samples each worker's task thread every 10 ms: measured,
        # 20M events, 2 workers, 6.9-7.3 CPU seconds a task with it against 5.6-7.0 without.
        with dask.config.set(LOCAL_CLUSTER_CONFIG), \
                LocalCluster(n_workers=settings.dask_workers, threads_per_worker=1, processes=True,
                             host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
                Client(cluster) as client:
            client.run(keep_freed_memory)
            yield client
    else:
        with Client(settings.dask_scheduler) as client:
            yield client


def keep_freed_memory() -> bool:
    """In a worker process: keep freed memory in the heap for reuse (glibc ``mallopt``: no mmap for large blocks,
    no trimming below 2 GB, one arena); False where there is no glibc.

    The counting allocates and frees arrays of hundreds of MB. glibc serves each from a fresh mmap, so every one
    costs page faults, and two workers faulting at once contend in the kernel (measured, 20M events: 1-3 s of
    system time per task; about 0.1 s with the heap kept).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: the build is the same, only slower
        return False
    return all(mallopt(param, value) == 1 for param, value in WORKER_MALLOC.items())


def _task(fs: FeatureSet, files: tuple[Path, Path], n: int, p: int, catalog: Catalog, bucket_ms: int,
          q: RowQueries, hugepages: bool = False) -> np.ndarray:
    """Answer one partition on a worker: its events and follows are read from the build's scratch files."""
    if not all(f.exists() for f in files):
        raise FeatureError(f"a Dask worker cannot see the scratch files {files[0].parent} (they were there when the "
                           "build started): the Dask engine needs workers on the client's machine for them")
    with numpy_hugepages(hugepages):
        events, follows = read_events(files[0], n, p), read_follows(files[1], n, p)
        user_rows = user_partition(q.rows.user, n) == p
        return compact(answer_partition(fs, events, catalog.with_follows(follows), bucket_ms, q, user_rows))


def compact(counts: np.ndarray) -> np.ndarray:
    """``counts`` as int32 when every value fits (counts of events: always, below 2**31 events), else as they are.

    A partition's answer travels to the client and is added there: half the bytes to send, receive and touch.
    """
    info = np.iinfo(np.int32)
    fits = not counts.size or (int(counts.min()) >= info.min and int(counts.max()) <= info.max)
    return counts.astype(np.int32) if fits else counts


def answer_dask(fs: FeatureSet, events: EventArrays, catalog: Catalog, q: RowQueries,
                settings: FeatureSettings, client: Client | None = None) -> np.ndarray:
    """Read counts of the rows of ``q`` computed on Dask; equal to the in-process answer.

    Workers on this machine (a LocalCluster's) read the events and follows from files in a scratch directory
    the client writes once per build (shared memory, or the system's temporary directory); workers elsewhere
    get their partitions sent by the client.
    """
    if client is None:
        with dask_client(settings) as own:
            return answer_dask(fs, events, catalog, q, settings, own)
    # One partition per worker: each partition answers every request row's account, post and product reads, a
    # cost that does not shrink with its events (measured, 20M events and 2 workers: 5.6 s a build against 6.2 s
    # with two partitions per worker, whose balancing gained nothing over equal-sized hash partitions).
    n = settings.dask_partitions or max(len(client.scheduler_info(n_workers=-1)["workers"]), 1)
    follows = catalog.follows
    bare = catalog.with_follows(follows.subset(np.zeros(len(follows.user), bool)))
    nbytes = sum(a.nbytes for a in vars(events).values()) + 32 * len(follows.user)
    scratch_dir = scratch_directory(nbytes)
    try:
        scratch = scratch_dir.name
        local = workers_see(client, Path(scratch))
        if local:
            # Written before anything is scattered: writing while the scatter's traffic and the workers' unpickling
            # went on took 0.9-3 s instead of 0.35-0.6 (measured, 20M events, 2 workers).
            files = (write_events(Path(scratch) / "events.arrow", events),
                     write_follows(Path(scratch) / "follows.arrow", follows))
        # Keys of their own (not hashes of the data): a build that scattered the inputs of the previous one under the
        # same keys while the scheduler was releasing them lost them ("lost dependencies", seen in CI).
        fs_, bare_, q_ = client.scatter([fs, bare, q], broadcast=True, hash=False)
        if local:
            # Not pinned to workers: any worker can read any partition, so the scheduler balances them.
            futures = [client.submit(_task, fs_, files, n, p, bare_, settings.bucket_ms, q_, settings.numpy_hugepages,
                                     pure=False) for p in range(n)]
        else:
            futures = _scattered(client, fs_, events, follows, n, bare_, settings.bucket_ms, q_, q,
                                 settings.numpy_hugepages)
        parts = (future.result() for future in as_completed(futures))
        total = next(parts).astype(np.int64)  # the first answer becomes the sum: no matrix of zeros to add to
        for part in parts:
            total += part
    finally:
        # Freeing a GB of shared memory takes a tenth of a second or more: the frame need not wait for it. Not a
        # daemon thread, so the files are gone before the interpreter exits.
        threading.Thread(target=scratch_dir.cleanup, name="weitao-dask-scratch-cleanup").start()
    return total


def workers_see(client: Client, folder: Path) -> bool:
    """Whether every worker of ``client`` sees ``folder`` (they run on this machine)."""
    seen = client.run(os.path.isdir, str(folder))
    return bool(seen) and all(seen.values())


def _scattered(client: Client, fs: Future, events: EventArrays, follows: FollowState, n: int, catalog: Future,
               bucket_ms: int, q_: Future, q: RowQueries, hugepages: bool = False) -> list[Future]:
    """Workers on other machines: each partition cut here and sent to one worker, where its task runs (slower:
    the cutting and sending are serial on the client)."""
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    fpart, epart = user_partition(follows.user, n), user_partition(events.user, n)
    rpart = user_partition(q.rows.user, n)
    futures = []
    for p in range(n):
        where = [workers[p % len(workers)]] if workers else None
        part = (events.take(np.flatnonzero(epart == p)).narrow(), follows.subset(fpart == p), rpart == p)
        [data] = client.scatter([part], workers=where, hash=False)
        futures.append(client.submit(_scattered_task, fs, data, catalog, bucket_ms, q_, hugepages, workers=where,
                                     pure=False))
    return futures


def _scattered_task(fs: FeatureSet, data: tuple[EventArrays, FollowState, np.ndarray], catalog: Catalog,
                    bucket_ms: int, q: RowQueries, hugepages: bool = False) -> np.ndarray:
    ev, follows, user_rows = data
    with numpy_hugepages(hugepages):
        return compact(answer_partition(fs, ev.widen(), catalog.with_follows(follows), bucket_ms, q, user_rows))
