"""Commits of a resumable HDF5 store: items reach the disk in batches, data first, then their `done` flags.

A hard kill (SIGKILL from the OOM killer, a preempted job, a lost node) leaves the file as the last
commit left it, because nothing is written to it between commits: items wait in memory until the
batch is due (`Every`). A commit writes the batch's data, flushes it to the disk, then sets its flags
(bytes in place: no HDF5 structure changes) and flushes again, so a flag never claims an item whose
data did not reach the disk. A marker file beside the store exists only while a commit's data is being
written, the one time HDF5's structures change; finding it on resume means a kill landed there, and
the store is started afresh (`damage`).
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np


@dataclass(frozen=True)
class Every:
    """When buffered items are committed: after `seconds` of work, `items` items or `bytes` of data, whichever
    comes first. A hard kill loses at most that much (plus the items being computed)."""

    seconds: float = 30.0
    items: int = 256
    bytes: int = 256 * 2**20


#: One commit at the end: no periodic flush (what the benchmark compares against).
AT_END = Every(seconds=float("inf"), items=2**62, bytes=2**62)
#: The environment variable that sets the stages' commit interval, as SECONDS:ITEMS (default 30:256).
VARIABLE = "XRFNB_COMMIT_EVERY"


def periodic() -> Every:
    """The commit interval every stage uses: `Every()`, or what `XRFNB_COMMIT_EVERY=SECONDS:ITEMS` says."""
    text = os.environ.get(VARIABLE)
    if not text:
        return Every()
    seconds, _, items = text.partition(":")
    try:
        every = Every(seconds=float(seconds), items=int(items or Every.items))
    except ValueError:
        every = None
    if every is None or not every.seconds > 0 or every.items < 1:
        raise ValueError(f"{VARIABLE}={text!r}: expected SECONDS:ITEMS, both positive (e.g. 30:256)")
    return every


def marker(partial: Path) -> Path:
    """The file that exists while a commit to `partial` is being written."""
    return partial.with_name(partial.name + ".commit")


def _fsync(h5: h5py.File) -> None:
    """Flush HDF5's caches and make the kernel write the file to the disk."""
    h5.flush()
    try:
        os.fsync(h5.id.get_vfd_handle())
    except (OSError, ValueError, TypeError):  # a driver without a file descriptor: the flush is what we have
        pass


def _fsync_dir(path: Path) -> None:
    """Make a file's creation or removal in its folder durable."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def human(n: float) -> str:
    """Bytes as a short size (e.g. '3.2 GiB')."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def disk_full(partial: Path, need: int | None = None) -> OSError:
    """The one-line error of a full disk, naming the store and the space left."""
    free = shutil.disk_usage(partial.parent).free
    wanted = f", the next commit needs about {human(need)}" if need else ""
    err = OSError(f"{partial}: disk full ({human(free)} free on {partial.parent}{wanted}); "
                  f"the partial store is kept: free some space and rerun to resume")
    err.errno = errno.ENOSPC
    return err


def is_disk_full(err: OSError) -> bool:
    """Whether an error (from the OS or from HDF5, which reports errno in its text) is a full disk."""
    return err.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(err) \
        or "errno = 28" in str(err)


class Commits:
    """Buffers the items written to an open store and commits them to it (see the module's docstring).

    `put(i, rows)` queues item i's rows (one array per dataset); `put_block(index, rows)` queues several
    items at once (arrays whose first axis follows `index`). `commit()` writes what is queued.
    """

    def __init__(self, h5: h5py.File, path: Path, every: Every | None = None):
        self.h5, self.path, self.every = h5, Path(path), every or periodic()
        self.queue: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
        self.items = self.bytes = 0
        self.last = time.monotonic()
        self.committed = 0  # items flagged done by this process
        self.broken = False  # a commit failed part-way: nothing more is written

    def salvage(self) -> None:
        """Commit what is queued when the fill stops on an exception, unless a commit itself failed."""
        if not self.broken:
            try:
                self.commit()
            except Exception:  # the original exception is what the user needs to see
                pass

    def put(self, i: int, rows: dict[str, np.ndarray]) -> None:
        """Queue item i; commit if the batch is due."""
        self.put_block(np.array([i]), {name: np.asarray(value)[None] for name, value in rows.items()})

    def put_block(self, index: np.ndarray, rows: dict[str, np.ndarray]) -> None:
        """Queue the items `index` (rows[name][j] belongs to item index[j]); commit if the batch is due."""
        self.queue.append((np.asarray(index), rows))
        self.items += len(index)
        self.bytes += sum(np.asarray(v).nbytes for v in rows.values())
        e = self.every
        if self.items >= e.items or self.bytes >= e.bytes or time.monotonic() - self.last >= e.seconds:
            self.commit()

    def commit(self) -> None:
        """Write the queued items' data, flush, set their flags, flush: the store on disk stays consistent."""
        if not self.queue or self.broken:
            return
        free = shutil.disk_usage(self.path.parent).free
        if free < self.bytes + 2**20:  # refuse before writing anything: the file stays as the last commit left it
            raise disk_full(self.path, self.bytes + 2**20)
        mark = marker(self.path)
        mark.touch()
        _fsync_dir(mark)
        try:
            for index, rows in self.queue:
                for name, values in rows.items():
                    _write_rows(self.h5[name], index, values)
            _fsync(self.h5)
            # the file is consistent again: flags are bytes written in place, no HDF5 structure changes
            mark.unlink()
            flagged = np.sort(np.concatenate([index for index, _ in self.queue]))
            for run in np.split(flagged, np.flatnonzero(np.diff(flagged) != 1) + 1):
                self.h5["done"][int(run[0]):int(run[-1]) + 1] = True
            _fsync(self.h5)
        except BaseException as err:
            self.broken = True
            if isinstance(err, OSError) and is_disk_full(err):
                raise disk_full(self.path) from None
            raise
        self.committed += self.items
        self.queue, self.items, self.bytes, self.last = [], 0, 0, time.monotonic()


def _write_rows(ds: h5py.Dataset, index: np.ndarray, values: np.ndarray) -> None:
    """ds[index] = values, as one slice where the items are consecutive."""
    if len(index) > 1 and np.all(np.diff(index) == 1):
        ds[int(index[0]):int(index[-1]) + 1] = values
    else:
        for i, value in zip(index, values):
            ds[int(i)] = value


def damage(partial: Path, key: str) -> str | None:
    """Why the partial store at `partial` cannot be resumed although its key may match (None if it can):
    unreadable or truncated, a commit cut short by a kill, or flags without data."""
    if marker(partial).exists():
        return "a commit was cut short"
    try:
        with h5py.File(partial, "r") as h5:
            if h5.attrs.get("key") != key:
                return None  # another store: replaced anyway, not damaged
            done = h5["done"][()]
            for name, ds in h5.items():
                if name == "done" or not isinstance(ds, h5py.Dataset) or ds.shape[:1] != done.shape:
                    continue
                if ds.chunks is not None and ds.chunks[0] == 1 and ds.id.get_num_chunks() < done.sum():
                    return f"{name!r} holds fewer items than are flagged done"
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"unreadable: {first}"
    return None
