"""The errors of a distributed sweep (a shard's own, `ShardError`, is the extension's)."""

from __future__ import annotations


class DistributedError(RuntimeError):
    """A distributed sweep could not run: no engine, an engine that failed, shards lost."""


class DataFileMissing(FileNotFoundError):
    """A worker cannot read the data file it was told to read (`read_on_workers=True`): put
    the file at the same path on every worker (shared storage), or let the client read it
    and share it (`read_on_workers=False`)."""
