"""Reading a flight-recorder journal: its records as rows, or a pandas DataFrame.

A journal is the directory a recorded bus writes (``docs/journal.md`` has its format)::

    from mycelium import journal

    j = journal.Journal("recorded/gateway")
    print(j.node, j.schema_digest, len(j.segments))
    for row in j.rows(kind="handled", type="Quote"):
        print(row.seq, row.time_ns, row.actor, row.type, row.payload)
    frame = j.dataframe()          # pandas, where it is installed

Each row is a :class:`Row` (a named tuple): ``seq``, ``time_ns`` (bus time), ``kind``
(``handled``, ``sent``, ``published``, ``replied``, ``answered`` (the answer to an ask the
actor made), ``timer-fired``, ``clock-read``, ``seeded`` (the seeding of a Rust actor's
random numbers), ``started``, ``failed``, ``restarted``, ``stopped``, ``gap``, ``cut``,
``resumed`` (a new run of a journal opened again), ``refused`` (a tell the actor made that
returned its error: the payload ``"full"`` or ``"stopped"``)),
``actor`` and
``node`` (the recorded actor's number and node), ``origin`` (``None``, ``("actor", node,
id)``, ``("remote", node)``, ``("timer", id)``, ``("outside",)``, ``("python", 1)``,
``("ocaml", 2)``, ``("c", 3)``, ``("journal",)``), ``cause`` (the input an output answers),
``asked``, ``type_id``, ``type``, ``topic``, ``encoding`` and ``payload``: a JSON payload
parsed, text as ``str``, a number as ``int``, a gap, cut or ``timer-fired`` record as a
``dict`` (a firing's ``due``, the deadline it fired for, and ``every``, its delay or period,
both nanoseconds), a contract
payload decoded to its class when ``schema=`` names the generated module of the journal's
schema (else ``bytes``), raw bytes as ``bytes``.

Recording Python actors: a :class:`Recorder` writes a journal that actors spawned with
``record=`` (``Bus.spawn``, ``python_child``, or ``Bus(record=...)`` for all of them) are
recorded into; :func:`replay` runs a recorded actor's inputs again against an actor class and
reports the first difference (or every one) as a :class:`ReplayReport`; :class:`ReplaySet`
replays several recorded actors together, the messages between them made again::

    rec = journal.Recorder("recorded/desk", schema=trading)
    with mycelium.Bus(record=rec, schema=trading) as bus:
        ...
    rec.close()
    report = journal.replay("recorded/desk", Strategy, args, schema=trading, mode="compare")
    print(report)                      # a diff a person reads
    open("diff.csv", "w").write(report.to_csv())

A damaged record is never returned as data: reading raises :class:`JournalCorrupt` (with
``path``, ``offset`` and the ``rows`` before it). A journal a crash cut (``kill -9``) reads
to its last whole record; :attr:`Journal.cut` then says what was cut.

A journal opened again by a later process holds one **run** per writer (:attr:`Journal.runs`),
each numbering its actors anew. ``Journal(path, run=N)`` reads run ``N`` alone, and
``replay(..., run=N)`` and ``ReplaySet(..., run=N)`` replay it; without ``run`` a replay
covers the first run.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from ._native import (
    JournalCorrupt,
    JournalReadError,
    Recorder,
    journal_describe as _describe,
    journal_rows as _rows,
)
from ._replay import (
    Difference,
    ReplayError,
    ReplayReport,
    ReplaySet,
    SetReport,
    StandInNode,
    StandInRef,
    replay,
)

__all__ = [
    "Journal",
    "Row",
    "Segment",
    "Run",
    "JournalReadError",
    "JournalCorrupt",
    "Recorder",
    "read",
    "dataframe",
    "replay",
    "ReplayReport",
    "Difference",
    "ReplayError",
    "ReplaySet",
    "SetReport",
    "StandInNode",
    "StandInRef",
]

JournalReadError.__module__ = __name__
JournalCorrupt.__module__ = __name__

COLUMNS = (
    "seq",
    "time_ns",
    "kind",
    "actor",
    "node",
    "origin",
    "cause",
    "asked",
    "type_id",
    "type",
    "topic",
    "encoding",
    "payload",
)


class Row(NamedTuple):
    """One record of a journal."""

    seq: int
    time_ns: int
    kind: str
    actor: int
    node: int
    origin: Optional[Tuple[Any, ...]]
    cause: Optional[int]
    asked: bool
    type_id: int
    type: str
    topic: str
    encoding: str
    payload: Any


class Segment(NamedTuple):
    """One segment file of a journal."""

    number: int
    path: str
    bytes: int
    first_seq: Optional[int]


class Run(NamedTuple):
    """One run of a journal: what one writer wrote, from its open to its close or crash."""

    #: Its number, 0 for the oldest the journal keeps: ``Journal(path, run=number)``.
    number: int
    #: How it began: ``"first"``, ``"resumed"`` (a writer opened the journal again after
    #: the one before closed it) or ``"after-crash"`` (after the one before was killed).
    start: str
    #: Its first record's number.
    first_seq: int
    #: The numbers of its first and last segments.
    first_segment: int
    last_segment: int


def _names(value: Union[None, str, Iterable[str]]) -> Optional[List[str]]:
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _actor(value: Union[None, int, str, Sequence[int]]) -> Optional[Tuple[int, int]]:
    """``3``, ``"3"``, ``"#3"`` (as ``ActorRef.id`` and the journal tool write it), ``"3@2"``
    (actor 3 of node 2) or ``(node, id)``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("actor: give the actor's number, 'N@NODE' or (node, id)")
    if isinstance(value, int):
        return (0, value)
    if isinstance(value, str):
        number_text, _, node_text = value.removeprefix("#").partition("@")
        try:
            return (int(node_text or 0), int(number_text))
        except ValueError:
            raise ValueError(f"actor {value!r}: expected N, #N or N@NODE (numbers)") from None
    node, number = value
    return (int(node), int(number))


def _time(value: Union[None, int, str]) -> Optional[int]:
    """Nanoseconds, or a number with ``ns``, ``us``, ``ms`` or ``s``."""
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip()
    for unit, scale in (("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)):
        if text.endswith(unit):
            try:
                return int(float(text[: -len(unit)]) * scale)
            except ValueError:
                break
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"time {value!r}: expected nanoseconds or a number with ns, us, ms or s"
        ) from None


def _decoders(schema: Any) -> Dict[int, Any]:
    """The generated classes of a schema module by type id."""
    if schema is None:
        return {}
    found: Dict[int, Any] = {}
    for name in dir(schema):
        cls = getattr(schema, name)
        type_id = getattr(cls, "TYPE_ID", None)
        if isinstance(cls, type) and isinstance(type_id, int) and hasattr(cls, "decode"):
            found[type_id] = cls
    if not found:
        raise TypeError(f"schema={schema!r} holds no generated message class (with TYPE_ID)")
    return found


def _row(raw: Tuple[Any, ...], decoders: Dict[int, Any]) -> Row:
    row = Row(*raw)
    encoding, payload = row.encoding, row.payload
    if encoding == "json" and isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError as e:
            raise JournalCorrupt(
                f"record {row.seq} ({row.type}) holds a JSON payload that does not parse: {e}"
            ) from None
    elif encoding == "contract" and row.type_id in decoders:
        payload = decoders[row.type_id].decode(payload)
    return row._replace(payload=payload) if payload is not row.payload else row


class Journal:
    """A journal directory opened for reading: its node, schema, segments and records."""

    def __init__(
        self, path: Union[str, "os.PathLike[str]"], schema: Any = None, run: Optional[int] = None
    ):
        self.path = os.fspath(path)
        #: The run read (see :attr:`runs`), or None for the whole journal.
        self.run: Optional[int] = run
        node, digest, text, segments, closed, runs = _describe(self.path, run)
        #: The node name the journal was recorded on ("" for a bus that is no node).
        self.node: str = node
        #: The schema digest (hex), zeros for none.
        self.schema_digest: str = digest
        #: The canonical schema text, "" when only the digest was recorded.
        self.schema_text: str = text
        #: The segment files (of the run read, with ``run``).
        self.segments: List[Segment] = [Segment(*s) for s in segments]
        #: The runs of the whole journal, oldest first.
        self.runs: List[Run] = [Run(*r) for r in runs]
        self._decoders = _decoders(schema)
        #: Whether its writer closed it (the run's, with ``run``): False for a journal whose
        #: writer was killed (or still writes), whose last input's outputs may be cut short
        #: even where no record was.
        self.closed: bool = closed
        #: What a crash cut at the end (a sentence), set by the last read; None if nothing.
        self.cut: Optional[str] = None

    def rows(
        self,
        *,
        actor: Union[None, int, str, Sequence[int]] = None,
        kind: Union[None, str, Iterable[str]] = None,
        type: Union[None, str, Iterable[str]] = None,
        start: Union[None, int, str] = None,
        end: Union[None, int, str] = None,
    ) -> List[Row]:
        """The records that pass the filters, as :class:`Row` s, in journal order.

        ``actor``: its number, ``"N@NODE"`` or ``(node, id)``; ``kind`` and ``type``: a name,
        a comma-separated string or a list; ``start`` (inclusive) and ``end`` (exclusive):
        bus time in nanoseconds or with a unit (``"1.5s"``). Raises :class:`JournalCorrupt`
        at a damaged record, :class:`JournalReadError` when the journal cannot be read,
        ``ValueError`` for an unknown kind.
        """
        try:
            raw, cut = _rows(
                self.path,
                _actor(actor),
                _names(kind),
                _names(type),
                _time(start),
                _time(end),
                self.run,
            )
        except JournalCorrupt as e:
            before = getattr(e, "rows", None)
            if before is not None:
                e.rows = [_row(r, self._decoders) for r in before]
            raise
        self.cut = cut
        return [_row(r, self._decoders) for r in raw]

    def dataframe(self, **filters: Any) -> Any:
        """The rows as a pandas DataFrame (one column per :class:`Row` field); needs pandas."""
        try:
            import pandas
        except ImportError:
            raise ImportError(
                "Journal.dataframe needs pandas (pip install pandas); Journal.rows gives the "
                "same records as named tuples"
            ) from None
        frame = pandas.DataFrame.from_records(self.rows(**filters), columns=list(COLUMNS))
        # A record number, or none: integers that may be missing, not floats.
        frame["cause"] = frame["cause"].astype("Int64")
        return frame

    def __repr__(self) -> str:
        run = "" if self.run is None else f", run={self.run}"
        return (
            f"Journal({self.path!r}{run}, node={self.node!r}, segments={len(self.segments)}, "
            f"runs={len(self.runs)})"
        )


def read(
    path: Union[str, "os.PathLike[str]"], *, schema: Any = None, **filters: Any
) -> List[Row]:
    """``Journal(path, schema).rows(**filters)``."""
    return Journal(path, schema).rows(**filters)


def dataframe(path: Union[str, "os.PathLike[str]"], *, schema: Any = None, **filters: Any) -> Any:
    """``Journal(path, schema).dataframe(**filters)``."""
    return Journal(path, schema).dataframe(**filters)
