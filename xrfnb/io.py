"""Small file helpers shared by every stage: atomic writes and JSON."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import h5py
import numpy as np

from .commits import Commits, Every, damage, marker


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A crash or an exception leaves no half-written file at `path` (an older complete file stays).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the final file the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` (and all it held) only if the block succeeds.

    A crash or an exception leaves no partial folder at `path` (an older complete one stays).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; give the final folder the usual permissions
    try:
        yield tmp
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming the file in the error if it is missing or malformed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _jsonable(obj: Any) -> Any:
    """numpy scalars and arrays, and paths, as plain JSON values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def complete_h5(path: str | os.PathLike, key: str) -> bool:
    """Whether `path` is a finished store made with the same `key` (its inputs and parameters)."""
    path = Path(path)
    if not path.exists():
        return False
    with h5py.File(path, "r") as h5:
        return h5.attrs.get("key") == key and bool(h5.attrs.get("complete"))


@contextmanager
def resumable_h5(path: str | os.PathLike, key: str, create: Callable[[h5py.File], None],
                 shard: tuple[int, int] = (0, 1), every: Every | None = None) -> Iterator[tuple[Commits, np.ndarray]]:
    """Fill an HDF5 store item by item, resumably; it appears at `path` only once complete.

    Works in `<path>.partial`: a partial file with the same `key` is resumed, any other is started
    afresh with `create(h5)`, which must make a boolean dataset `done` (one flag per item). A damaged
    partial file (truncated, unreadable, or cut short inside a commit by a hard kill) is started afresh
    with a one-line warning. Yields the `Commits` of the open file (`.put(i, rows)` queues item i,
    committed with its `done` flag every `every`) and the indices still to do.

    With `shard=(rank, world)` the store is this rank's shard file, holding the items i with
    i % world == rank, for `merge_shards` to assemble.
    """
    rank, world = shard
    if world > 1:
        path, key = shard_path(path, rank, world), shard_key(key, rank, world)
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    fresh = True
    if partial.exists() or marker(partial).exists():
        why = damage(partial, key) if partial.exists() else "a commit was cut short"
        if why:
            print(f"xrfnb: warning: {partial}: damaged partial store ({why}); starting it afresh", file=sys.stderr)
        else:
            with h5py.File(partial, "r") as h5:
                fresh = h5.attrs.get("key") != key
    if fresh:
        _start(partial, key, create)
    h5 = h5py.File(partial, "r+")
    commits = Commits(h5, partial, every)
    try:
        todo = np.flatnonzero(~h5["done"][()])
        yield commits, todo[todo % world == rank]
        commits.commit()
        marker(partial).touch()  # the last metadata write, like a commit's
        h5.attrs["complete"] = True
    except BaseException:
        commits.salvage()  # an exception or Ctrl-C keeps every item made so far
        h5.close()  # flushes HDF5's state; if this fails, the marker stays and a resume starts afresh
        marker(partial).unlink(missing_ok=True)
        raise
    h5.close()
    marker(partial).unlink()
    os.replace(partial, path)


def _start(partial: Path, key: str, create: Callable[[h5py.File], None]) -> None:
    """A new partial store: made under a temporary name, then renamed, so a kill never leaves half a layout."""
    with atomic_path(partial) as tmp:
        with h5py.File(tmp, "w") as h5:
            create(h5)
            h5.attrs.update(key=key, complete=False)
            for ds in h5.values():  # place every contiguous dataset now: a commit only ever writes in place
                if isinstance(ds, h5py.Dataset) and ds.chunks is None and ds.id.get_storage_size() == 0:
                    ds[...] = np.zeros(ds.shape, ds.dtype)
    marker(partial).unlink(missing_ok=True)


def shard_path(path: str | os.PathLike, rank: int, world: int) -> Path:
    """The file that rank `rank` of `world` fills for the store at `path`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.shard-{rank}-of-{world}{path.suffix}")


def shard_key(key: str, rank: int, world: int) -> str:
    """The key of one rank's shard of a store keyed `key`."""
    return f"{key}:{rank}/{world}"


def merge_shards(path: str | os.PathLike, key: str, world: int,
                 create: Callable[[h5py.File], None], block: int = 256, every: Every | None = None) -> None:
    """Assemble the store at `path` from the `world` shard files that ranks filled with `resumable_h5`:
    every per-item dataset is copied for the items each shard did, block by block (resumably, like a fill)."""
    shards = [shard_path(path, r, world) for r in range(world)]
    missing = [str(s) for r, s in enumerate(shards) if not complete_h5(s, shard_key(key, r, world))]
    if missing:
        raise FileNotFoundError(f"cannot merge {path}: shards missing or unfinished: {', '.join(missing)}")
    with resumable_h5(path, key, create, every=every) as (commits, todo):
        n = len(commits.h5["done"])
        for shard in shards:
            with h5py.File(shard, "r") as part:
                rows = np.intersect1d(np.flatnonzero(part["done"][()]), todo)
                names = [name for name, ds in part.items()
                         if name != "done" and isinstance(ds, h5py.Dataset) and ds.shape[:1] == (n,)]
                for start in range(0, len(rows), block):
                    chunk = rows[start:start + block]
                    commits.put_block(chunk, {name: part[name][chunk] for name in names})
            commits.commit()  # before the shard file closes: nothing queued refers to it
        done = int(commits.h5["done"][()].sum())
        if done != n:
            raise ValueError(f"cannot merge {path}: the {world} shards do not cover every item ({done} of {n})")
