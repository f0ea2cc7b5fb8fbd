"""The task: one shard, on whatever process runs it."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any, Sequence

from .. import _native
from .._native import MarketData
from ._errors import DataFileMissing, DistributedError


_loaded_lock = threading.Lock()
_loaded: dict[tuple[Any, ...], tuple[MarketData, str]] = {}


def _data_on_worker(data: Any) -> MarketData:
    """The market data of a task: the shared object itself, or, for `("file", path,
    epoch_unit)`, the file read once per process (again only if it changed)."""
    return _data_and_digest(data)[0]


def _file_digest(path: str) -> str:
    """The SHA-256 of a data file's bytes (hex), to tell whether workers read the same."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _data_and_digest(data: Any) -> tuple[MarketData, str | None]:
    """As `_data_on_worker`, with the digest of the file read (None for shared data)."""
    if isinstance(data, MarketData):
        return data, None
    _, path, epoch_unit = data
    try:
        st = os.stat(path)
    except OSError as e:
        raise DataFileMissing(
            f"worker {_where()} cannot read the data file {path}: {e.strerror or e}; put it at "
            "that path on every worker (shared storage), or let the client read and share it "
            "(read_on_workers=False)"
        ) from None
    key = (os.fspath(path), epoch_unit, st.st_mtime_ns, st.st_size)
    with _loaded_lock:
        found = _loaded.get(key)
        if found is None:
            try:
                found = (MarketData.load(os.fspath(path), epoch_unit), _file_digest(os.fspath(path)))
            except FileNotFoundError as e:
                raise DataFileMissing(f"worker {_where()}: {e}") from None
            # The digest is of a second read: a file replaced or rewritten since the stat
            # above may have been loaded in one version and digested in another.
            try:
                after = os.stat(path)
            except OSError:
                after = None
            if after is None or (after.st_mtime_ns, after.st_size) != (st.st_mtime_ns, st.st_size):
                raise DistributedError(
                    f"the data file {path} changed while worker {_where()} read it: leave it "
                    "unchanged during the sweep, or let the client read and share it "
                    "(read_on_workers=False)"
                )
            _loaded.clear()  # one file at a time per process
            _loaded[key] = found
        return found


def _where() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except Exception:  # not on a Dask worker
        import socket

        return f"{socket.gethostname()} (pid {os.getpid()})"


def _threads(workers: int | None) -> int | None:
    """Threads for a shard: as asked, or on a Dask worker the cores left per task slot."""
    if workers is not None:
        return workers
    try:
        from distributed import get_worker

        slots = int(get_worker().state.nthreads)
    except Exception:
        return None
    return max(1, (os.cpu_count() or 1) // max(1, slots))


def run_shard(
    data: Any, points: Sequence[Any], indices: Sequence[int], settings: dict[str, Any]
) -> list[tuple[dict[str, Any], str | None]]:
    """Runs one shard where it is called: the grid points `indices` of `points`. Returns
    `(row, csv_line)` per point in the shard's order (the line None for a Python strategy).
    This is the engines' task; call it yourself to run a shard by hand."""
    data = _data_on_worker(data)
    settings = dict(settings)
    strategy = settings.pop("strategy", None)
    settings["workers"] = _threads(settings.get("workers"))
    if strategy is None:
        return [
            (row, line)
            for row, line in _native.run_shard(data, list(points), list(indices), **settings)
        ]
    settings.pop("crash_at", None)
    rows = _native.run_strategy_shard(strategy, data, list(points), list(indices), **settings)
    return [(row, None) for row in rows]


def _shard_task(
    data: Any, points: Sequence[Any], indices: Sequence[int], settings: dict[str, Any]
) -> tuple[str | None, str, list[tuple[dict[str, Any], str | None]], list[str]]:
    """The engines' task: `run_shard`, with the digest of the data file the worker read (None
    for shared data) and where it ran, so the client can check every shard read the same,
    and what the loader noticed in that file (rows skipped, ...), for the client to warn."""
    loaded, digest = _data_and_digest(data)
    if digest is None:
        return None, "", run_shard(data, points, indices, settings), []
    return digest, _where(), run_shard(data, points, indices, settings), list(loaded.warnings)


class _SameData:
    """Checks that every shard of a sweep whose workers read the data file themselves read the
    same bytes: a file that changed during the sweep, or differs between hosts, would give
    shards different data and the results no warning. Keeps the loader's warnings of the
    first shard that read the file (the same for every shard that read the same bytes)."""

    def __init__(self, data: Any):
        self.path = data[1] if isinstance(data, tuple) else None
        self.first: tuple[str, str] | None = None
        self.warnings: list[str] = []

    def part(self, result: tuple[Any, ...]) -> Any:
        digest, where, part, *rest = result
        if digest is not None:
            if self.first is None:
                self.first = (digest, where)
                self.warnings = list(rest[0]) if rest else []
            elif digest != self.first[0]:
                raise DistributedError(
                    f"the workers read different contents of the data file {self.path}: "
                    f"sha256 {self.first[0][:16]}... on {self.first[1]}, {digest[:16]}... on "
                    f"{where}; put the same file on every worker and leave it unchanged during "
                    "the sweep, or let the client read and share it (read_on_workers=False)"
                )
        return part
