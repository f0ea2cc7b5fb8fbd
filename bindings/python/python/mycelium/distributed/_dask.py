"""The shards of a sweep on a Dask cluster."""

from __future__ import annotations

import uuid
from typing import Any

from .._native import ShardError
from ._errors import DataFileMissing, DistributedError
from ._progress import _Tracker
from ._shard import _SameData, _shard_task


def _described(e: BaseException) -> str:
    """The exception's type and message, then its notes (a raising `warmup`'s names the grid
    point), which `str(e)` leaves out."""
    notes = "".join(f"; {note}" for note in getattr(e, "__notes__", ()))
    return f"{type(e).__name__}: {e}{notes}"


def _on_dask(client: Any, data: Any, points: list[Any], shards: list[list[int]],
             settings: dict[str, Any], retries: int, tracker: _Tracker,
             same: _SameData) -> dict[int, Any]:
    from distributed import as_completed

    # Shared by reference: one copy per worker, and every shard there uses it.
    shared_data, shared_points = client.scatter([data, points], broadcast=True, hash=False)
    token = uuid.uuid4().hex[:8]
    futures = {
        client.submit(_shard_task, shared_data, shared_points, shard, settings, retries=retries,
                      pure=False, key=f"mycelium-shard-{token}-{k}"): k
        for k, shard in enumerate(shards)
    }
    parts: dict[int, Any] = {}
    try:
        for future in as_completed(list(futures)):
            k = futures[future]
            try:
                result = future.result()
            except (ShardError, DataFileMissing, ValueError, TypeError):
                raise
            except Exception as e:
                raise DistributedError(f"shard {k} failed on the Dask cluster: {_described(e)}") from e
            parts[k] = same.part(result)
            tracker.done(parts[k])
    finally:
        client.cancel(list(futures))
        client.cancel([shared_data, shared_points])
    return parts
