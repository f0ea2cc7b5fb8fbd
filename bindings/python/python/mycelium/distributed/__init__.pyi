"""Sweeps beyond one machine: shards of the backtest's sweep on Dask (default) or Ray."""

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..backtest import Strategy

CSV_HEADER: str

class ShardError(ValueError):
    """An empty grid, or a shard with an unknown or repeated grid index."""

class DistributedError(RuntimeError):
    """A distributed sweep could not run: no engine, an engine that failed, shards lost."""

class DataFileMissing(FileNotFoundError):
    """A worker cannot read the data file it was told to read (read_on_workers=True)."""

class MarketData:
    """A price series shared by reference between the shards of a process; pickles as its
    recipe (synthetic) or its values bit for bit (a loaded file)."""

    @staticmethod
    def synthetic(seed: int, ticks: int) -> MarketData: ...
    @staticmethod
    def load(path: str | os.PathLike[str], epoch_unit: str | None = None) -> MarketData: ...
    @staticmethod
    def from_bytes(data: bytes, bars: bool = False) -> MarketData: ...
    def to_bytes(self) -> bytes: ...
    def __len__(self) -> int: ...
    @property
    def bars(self) -> bool: ...
    @property
    def synthetic_recipe(self) -> tuple[int, int] | None: ...
    @property
    def warnings(self) -> list[str]: ...
    @property
    def span_ns(self) -> tuple[int, int]: ...

@dataclass(frozen=True)
class Progress:
    shards_done: int
    shards: int
    points_done: int
    points: int
    failed: int
    elapsed: float

class SweepResult:
    rows: list[dict[str, Any]]
    csv: str | None
    shards: int
    elapsed: float
    engine: str
    def __len__(self) -> int: ...
    def ok_rows(self) -> list[dict[str, Any]]: ...
    def failures(self) -> list[dict[str, Any]]: ...
    def write_csv(self, path: str | os.PathLike[str]) -> None: ...

def grid(fast: Sequence[int], slow: Sequence[int], bands: Sequence[int] = ...) -> list[tuple[int, int, int]]: ...
def builtin_grid(name: str) -> list[tuple[int, int, int]]: ...
def run_shard(
    data: Any, points: Sequence[Any], indices: Sequence[int], settings: dict[str, Any]
) -> list[tuple[dict[str, Any], str | None]]: ...
def sweep(
    grid: Sequence[tuple[int, int, int]],
    *,
    client: Any = None,
    data: MarketData | str | os.PathLike[str] | None = None,
    ticks: int = 100_000,
    seed: int = 42,
    epoch_unit: str | None = None,
    read_on_workers: bool = False,
    shard_size: int | None = None,
    workers: int | None = None,
    batch: int = 4096,
    mark_every: int = 1,
    cash: float = 10_000.0,
    size: str | float | int = "all",
    commission_bps: float = 0.0,
    commission_per_trade: float = 0.0,
    fill: str = "next-open",
    risk_limit: float | None = None,
    crash_at: int | None = None,
    retries: int = 2,
    progress: Callable[[Progress], None] | None = None,
) -> SweepResult: ...
def sweep_strategy(
    strategy: type[Strategy],
    grid: Sequence[Any],
    *,
    client: Any = None,
    data: MarketData | str | os.PathLike[str] | None = None,
    ticks: int = 100_000,
    seed: int = 42,
    epoch_unit: str | None = None,
    read_on_workers: bool = False,
    shard_size: int | None = None,
    workers: int | None = None,
    batch: int = 4096,
    mark_every: int = 1,
    cash: float = 10_000.0,
    size: str | float | int = "all",
    commission_bps: float = 0.0,
    commission_per_trade: float = 0.0,
    fill: str = "next-open",
    risk_limit: float | None = None,
    retries: int = 2,
    progress: Callable[[Progress], None] | None = None,
) -> SweepResult: ...
def main(argv: Sequence[str] | None = None) -> int: ...
