"""The offline engine on a Dask cluster (``distributed``): the same functions, over partitions of events.

Events and follows are partitioned by the acting user, so everything that depends on one user's history
(fan status, repeat purchases and revisits, user × account and user × category counts) is whole inside a
partition. Each partition runs :func:`features.offline.answer_partition` (the function the in-process engine
runs on everything) and returns the read counts of every request row; counts are sums over events, so the
partitions' answers add up to exactly the in-process answer (integers: the frames are bitwise identical).
Answering on the workers rather than shipping aggregated counts back keeps the serial part small.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from distributed import Client, LocalCluster, as_completed

from features.catalog import Catalog
from features.columns import EventArrays
from features.definitions import FeatureSet
from features.follows import FollowState
from features.offline import RowQueries, answer_partition
from features.settings import FeatureSettings


@contextmanager
def dask_client(settings: FeatureSettings) -> Iterator[Client]:
    """A client of ``settings.dask_scheduler``, or of a LocalCluster of worker processes for ``"local"``."""
    if settings.dask_scheduler == "local":
        with LocalCluster(n_workers=settings.dask_workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
    else:
        with Client(settings.dask_scheduler) as client:
            yield client


def user_partition(users: np.ndarray, n_partitions: int) -> np.ndarray:
    """Partition of each user id (a multiplicative hash, so consecutive ids spread evenly)."""
    mixed = (np.asarray(users, np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    return (mixed % np.uint64(n_partitions)).astype(np.int64)


def _task(fs: FeatureSet, data: tuple[EventArrays, FollowState, np.ndarray], catalog: Catalog, bucket_ms: int,
          q: RowQueries) -> np.ndarray:
    ev, follows, user_rows = data
    return answer_partition(fs, ev.widen(), catalog.with_follows(follows), bucket_ms, q, user_rows)


def answer_dask(fs: FeatureSet, events: EventArrays, catalog: Catalog, q: RowQueries,
                settings: FeatureSettings, client: Client | None = None) -> np.ndarray:
    """Read counts of the rows of ``q`` computed on Dask; equal to the in-process answer."""
    if client is None:
        with dask_client(settings) as own:
            return answer_dask(fs, events, catalog, q, settings, own)
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    n = settings.dask_partitions or 2 * max(len(workers), 1)
    follows = catalog.follows
    fpart, epart = user_partition(follows.user, n), user_partition(events.user, n)
    rpart = user_partition(q.rows.user, n)
    bare = catalog.with_follows(follows.subset(np.zeros(len(follows.user), bool)))
    shared = client.scatter([fs, bare, q], broadcast=True)
    futures = []
    for p in range(n):
        # A partition's events and follows go to one worker together (round robin), and its task runs there.
        where = [workers[p % len(workers)]] if workers else None
        part = (events.take(np.flatnonzero(epart == p)).narrow(), follows.subset(fpart == p), rpart == p)
        [data] = client.scatter([part], workers=where)
        futures.append(client.submit(_task, shared[0], data, shared[1], settings.bucket_ms, shared[2],
                                     workers=where, pure=False))
    total = np.zeros((len(q.hi), len(fs.reads)), dtype=np.int64)
    for future in as_completed(futures):
        total += future.result()
    return total
