"""What a sweep gives back: its rows in grid order, and the backtest's results.csv."""

from __future__ import annotations

import os
from typing import Any

from .. import _native


#: The header of the backtest's results.csv.
CSV_HEADER: str = _native.csv_header()


class SweepResult:
    """The rows of a sweep, in grid order, with the shards they came from.

    `rows` are the dicts `mycelium.sweep` returns (for `sweep_strategy`, those of
    `mycelium.backtest.run_strategy`). `csv` is the backtest's results.csv as text (None
    for a Python strategy, whose rows have no such file)."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        lines: list[str] | None,
        shards: int,
        elapsed: float,
        engine: str,
    ) -> None:
        self.rows = rows
        self.csv = None if lines is None else CSV_HEADER + "\n" + "".join(lines)
        self.shards = shards
        self.elapsed = elapsed
        self.engine = engine

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return (
            f"<SweepResult {len(self.rows)} points, {len(self.failures())} failed, "
            f"{self.shards} shard(s) on {self.engine} in {self.elapsed:.2f} s>"
        )

    def ok_rows(self) -> list[dict[str, Any]]:
        """The rows of the points that completed."""
        return [r for r in self.rows if r["status"] == "ok"]

    def failures(self) -> list[dict[str, Any]]:
        """The rows of the points that failed; their status says why."""
        return [r for r in self.rows if r["status"] != "ok"]

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """Writes results.csv: the bytes the backtest example writes for the same sweep."""
        if self.csv is None:
            raise ValueError("a Python strategy's sweep has no results.csv: use its rows")
        with open(path, "wb") as out:
            out.write(self.csv.encode())
