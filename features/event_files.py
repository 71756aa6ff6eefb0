"""Event and follow columns in scratch files that Dask workers memory-map and cut into user partitions.

The client writes the columns once per build, unpartitioned, as an Arrow IPC file (uncompressed: writing 20M
events takes a fraction of a second, where Parquet takes seconds); each task then maps the file and keeps
the rows of its own partition of users (:func:`user_partition`). So the serial part on the client is one
sequential write, and the hashing, selection and copying happen on the workers, in parallel, instead of the
client cutting, pickling and sending every partition. A path is all that travels to a task.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from features.columns import EventArrays
from features.definitions import FeatureError
from features.follows import FollowState

#: Rows per record batch: a task reads batch by batch, so its temporaries stay this small.
BATCH_ROWS = 1 << 22
_FOLLOW_COLUMNS = ("user", "account", "since", "until")
#: Shared memory, where the OS has it: files there never wait on a disk (a write to /tmp took 0.3-3 s for 1 GB).
SHARED_MEMORY = Path("/dev/shm")


#: Partitions :func:`user_partition` can cut users into (its range reduction works on 24-bit hashes).
MAX_PARTITIONS = 1 << 24


def user_partition(users: np.ndarray, n_partitions: int) -> np.ndarray:
    """Partition of each user id: the top 24 bits of a multiplicative hash (so consecutive ids spread evenly),
    scaled to ``0 .. n_partitions - 1`` as ``hash * n >> 24``. Every task hashes every event's user; a multiply
    where a uint64 remainder was took the whole hash from 37-73 ms to 26 ms per 4M users."""
    if not 0 < n_partitions <= MAX_PARTITIONS:
        raise FeatureError(f"n_partitions must be in 1..{MAX_PARTITIONS}, got {n_partitions}")
    users = np.asarray(users)
    # One temporary, worked on in place (an int64 id's bits as uint64: the same value a cast gives, wrapping
    # included).
    mixed = np.multiply(users.view(np.uint64) if users.dtype == np.int64 else users.astype(np.uint64),
                        np.uint64(0x9E3779B97F4A7C15))
    np.right_shift(mixed, np.uint64(40), out=mixed)
    np.multiply(mixed, np.uint64(n_partitions), out=mixed)
    np.right_shift(mixed, np.uint64(24), out=mixed)
    return mixed.view(np.int64)


def scratch_directory(nbytes: int) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory for ``nbytes`` of files: in shared memory if it has twice that free, else in the
    system's temporary directory. Removed when the returned object is closed (use it as a context manager)."""
    shm = SHARED_MEMORY if SHARED_MEMORY.is_dir() and shutil.disk_usage(SHARED_MEMORY).free > 2 * nbytes else None
    return tempfile.TemporaryDirectory(prefix="weitao-dask-", dir=shm)


def write_columns(path: Path, columns: dict[str, np.ndarray]) -> Path:
    """Write equal-length numpy columns (one must be ``"user"``) to an Arrow IPC file at ``path``."""
    if "user" not in columns:
        raise FeatureError("partition files need a 'user' column (partitions are by acting user)")
    table = pa.table({name: np.ascontiguousarray(values) for name, values in columns.items()})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=BATCH_ROWS)
    return path


def read_partition(path: Path, n_partitions: int, partition: int) -> dict[str, np.ndarray]:
    """The rows of ``path`` whose user falls in ``partition`` of ``n_partitions``, in file order.

    Each column is copied once, straight into an array of the partition's size: fresh memory is the dearest
    part of reading a large partition, and gathering per batch then concatenating wrote everything twice.
    """
    if not 0 <= partition < n_partitions:
        raise FeatureError(f"partition {partition} is not in 0..{n_partitions - 1}")
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        dtypes = {f.name: pa.array([], f.type).to_numpy().dtype for f in reader.schema}
        batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        # The partition's row numbers in each batch (None: every row, when there is one partition), found once
        # for all its columns: a gather by index took 7-10 ms a column per 4M rows, a masked copy 15-50.
        picks = [None if n_partitions == 1 else
                 np.flatnonzero(user_partition(b.column("user").to_numpy(), n_partitions) == partition)
                 for b in batches]
        sizes = [b.num_rows if i is None else len(i) for b, i in zip(batches, picks, strict=True)]
        out = {name: np.empty(sum(sizes), dtype) for name, dtype in dtypes.items()}
        at = 0
        for batch, pick, size in zip(batches, picks, sizes, strict=True):
            for name, column in zip(batch.schema.names, batch.columns, strict=True):
                # Copied out of the mapped file, so nothing outlives the mapping.
                dest = out[name][at:at + size]
                if pick is None:
                    dest[:] = column.to_numpy()
                else:
                    np.take(column.to_numpy(), pick, out=dest)
            at += size
    return out


def write_events(path: Path, events: EventArrays) -> Path:
    """Write the event columns features need (see :func:`read_events`)."""
    return write_columns(path, {f: getattr(events, f) for f in EventArrays.__dataclass_fields__})


def read_events(path: Path, n_partitions: int, partition: int) -> EventArrays:
    """The events of one partition of users from a file of :func:`write_events`."""
    return EventArrays(**read_partition(path, n_partitions, partition))


def write_follows(path: Path, follows: FollowState) -> Path:
    """Write the follow intervals of a follow state (see :func:`read_follows`)."""
    return write_columns(path, {name: getattr(follows, name) for name in _FOLLOW_COLUMNS})


def read_follows(path: Path, n_partitions: int, partition: int) -> FollowState:
    """The follow intervals of one partition of users from a file of :func:`write_follows`."""
    return FollowState(**read_partition(path, n_partitions, partition))
