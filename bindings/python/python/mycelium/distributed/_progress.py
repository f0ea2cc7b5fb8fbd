"""Where a sweep stands: the report given as each shard completes, and its bookkeeping."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Progress:
    """Where a distributed sweep stands, given as each shard completes."""

    #: Shards completed, of `shards`.
    shards_done: int
    shards: int
    #: Grid points completed, of `points`.
    points_done: int
    points: int
    #: Points completed whose status is not "ok".
    failed: int
    #: Seconds since the sweep started.
    elapsed: float


class _Tracker:
    def __init__(self, shards: int, points: int, started: float, callback: Callable[[Progress], None] | None):
        self.shards, self.points, self.started, self.callback = shards, points, started, callback
        self.shards_done = self.points_done = self.failed = 0

    def done(self, part: list[tuple[dict[str, Any], str | None]]) -> None:
        self.shards_done += 1
        self.points_done += len(part)
        self.failed += sum(1 for row, _ in part if row["status"] != "ok")
        if self.callback is not None:
            self.callback(Progress(self.shards_done, self.shards, self.points_done, self.points,
                                   self.failed, time.monotonic() - self.started))
