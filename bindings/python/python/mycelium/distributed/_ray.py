"""The shards of a sweep on a Ray cluster."""

from __future__ import annotations

from typing import Any

from .._native import ShardError
from ._errors import DataFileMissing, DistributedError
from ._progress import _Tracker
from ._shard import _SameData, _shard_task


def _unwrap(e: BaseException) -> BaseException:
    """The exception a shard raised, out of the engine's wrapper (Ray's RayTaskError)."""
    cause = getattr(e, "cause", None)
    return cause if isinstance(cause, BaseException) else e


def _ray_slots() -> int:
    import ray

    if not ray.is_initialized():
        raise DistributedError("Ray is not initialised: call ray.init(...) first (or pass a Dask client)")
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _on_ray(data: Any, points: list[Any], shards: list[list[int]],
            settings: dict[str, Any], retries: int, tracker: _Tracker,
            same: _SameData) -> dict[int, Any]:
    import ray

    threads = settings.get("workers") or 1
    task = ray.remote(_shard_task).options(
        num_cpus=threads,
        max_retries=retries,
        retry_exceptions=[DataFileMissing],
    )
    # Shared by reference: one copy in the object store, read by every shard.
    data_ref, points_ref = ray.put(data), ray.put(points)
    settings = dict(settings, workers=threads)
    pending = {task.remote(data_ref, points_ref, shard, settings): k for k, shard in enumerate(shards)}
    parts: dict[int, Any] = {}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                k = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as e:
                    cause = _unwrap(e)
                    if isinstance(cause, (ShardError, DataFileMissing, ValueError, TypeError)):
                        raise cause from None
                    raise DistributedError(f"shard {k} failed on Ray: {type(e).__name__}: {e}") from e
                parts[k] = same.part(result)
                tracker.done(parts[k])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
    return parts
