"""Replaying a recorded Python actor: ``mycelium.journal.replay``.

The recorded actor's inputs (its ``handled`` records, in handling order) are fed again to a
fresh actor of the class given, supervised (so a failure restarts it in place, as a recorded
restart did) on a virtual-time bus, each at its recorded bus time and as it was recorded (a
tell, or an ask); the replayed actor is recorded into a journal of its own, and its outputs,
input by input, are compared with the recorded ones: the answer to each ask, what it sends
and publishes (type, topic and payload), and each failure (its text).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from ._native import BusClosed, MessageTypeError, MyceliumError, Recorder
from ._native import ReplaySet as _NativeSet

__all__ = ["replay", "ReplayReport", "Difference", "ReplayError", "ReplaySet", "SetReport"]

PICKLE = "pickle:"

#: Outputs compared, input by input.
_OUTPUTS = ("replied", "sent", "published", "failed")


class ReplayError(MyceliumError):
    """The replay cannot run: no such actor in the journal, or an input that cannot be fed
    again (recorded without its payload, a contract message without ``schema=``)."""


ReplayError.__module__ = "mycelium.journal"


#: The record number of an input beyond the recorded ones (which a changed actor of a set
#: handled): its ``seq``; its ``time_ns`` is 0.
NOT_RECORDED = 2**64 - 1


class Difference(NamedTuple):
    """An input whose outputs differ: its number among the actor's inputs (from 0), its
    record number and bus time (``seq`` :data:`NOT_RECORDED` for an input beyond the recorded
    ones), its message type, what was recorded and what happened now (its outputs joined by
    ``; ``), the inputs before it, and the outputs one by one (``recorded_outputs``,
    ``now_outputs``: empty for none)."""

    input: int
    seq: int
    time_ns: int
    message: str
    recorded: str
    now: str
    before: Tuple[str, ...]
    recorded_outputs: Tuple[str, ...] = ()
    now_outputs: Tuple[str, ...] = ()

    def csv_row(self) -> str:
        """The CSV columns ``input,seq,time_ns,message,recorded,now,before`` (no line end)."""
        seq = "" if self.seq == NOT_RECORDED else str(self.seq)
        return ",".join(
            [str(self.input), seq, str(self.time_ns)]
            + [_csv(v) for v in (self.message, self.recorded, self.now, "; ".join(self.before))]
        )


#: How many outputs a line of ``str(report)`` shows (the CSV has every one).
SHOWN_OUTPUTS = 8
#: How many characters of one output a line of ``str(report)`` shows.
SHOWN_CHARS = 400


def _shorten(text: str) -> str:
    # One report line each: a line break inside (an exception's text) is shown as `\n`.
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"


def _bounded(outputs: Tuple[str, ...], whole: str) -> str:
    """A report line: the first outputs, each shortened, and how many more."""
    if not outputs:
        return _shorten(whole)
    line = "; ".join(_shorten(o) for o in outputs[:SHOWN_OUTPUTS])
    if len(outputs) > SHOWN_OUTPUTS:
        line += (
            f"; ... and {len(outputs) - SHOWN_OUTPUTS} more ({len(outputs)} outputs; the CSV "
            "lists every one)"
        )
    return line


def _csv(field: str) -> str:
    return '"' + field.replace('"', '""') + '"'


class ReplayReport:
    """What a replay found: ``ok`` when every output was as recorded; ``differences`` (every
    one in ``compare`` mode, the first in ``first`` mode); ``stopped`` says why the replay
    ended before the end of the journal (a gap it refuses to cross, a crash's cut), or is
    None."""

    def __init__(
        self,
        actor: Tuple[int, int],
        actor_type: str,
        inputs: int,
        differences: List[Difference],
        stopped: Optional[str],
    ) -> None:
        self.actor = actor
        self.actor_type = actor_type
        self.inputs = inputs
        self.differences = differences
        self.stopped = stopped

    @property
    def ok(self) -> bool:
        """True when no output differs."""
        return not self.differences

    @property
    def first(self) -> Optional[Difference]:
        """The first difference, or None."""
        return self.differences[0] if self.differences else None

    def to_csv(self) -> str:
        """The differences as CSV, with a header line: ``input,seq,time_ns,message,recorded,now,before``."""
        return "input,seq,time_ns,message,recorded,now,before\n" + "".join(
            d.csv_row() + "\n" for d in self.differences
        )

    def __str__(self) -> str:
        node, number = self.actor
        who = f"{self.actor_type} (actor #{number}{f'@{node}' if node else ''})"
        tail = f"\nstopped: {self.stopped}" if self.stopped else ""
        if self.ok:
            return f"{who}: {self.inputs} inputs replayed, every output as recorded{tail}"
        n = len(self.differences)
        lines = [f"{who}: {self.inputs} inputs replayed, {n} difference{'' if n == 1 else 's'}"]
        for d in self.differences:
            t = f"{d.time_ns // 1_000_000_000}.{d.time_ns % 1_000_000_000:09d}s"
            if d.seq == NOT_RECORDED:
                lines.append(f"\ninput {d.input} (beyond the recorded inputs): {d.message}")
            else:
                lines.append(f"\ninput {d.input} (record {d.seq}, bus time {t}): {d.message}")
            lines.extend(f"    after  {b}" for b in d.before)
            lines.append(f"  - recorded: {_bounded(d.recorded_outputs, d.recorded)}")
            lines.append(f"  + now:      {_bounded(d.now_outputs, d.now)}")
        return "\n".join(lines) + tail

    def __repr__(self) -> str:
        return (
            f"ReplayReport(actor={self.actor!r}, actor_type={self.actor_type!r}, "
            f"inputs={self.inputs}, differences={len(self.differences)})"
        )


def _pick(rows: Sequence[Any], actor_class: type, actor: Any) -> Tuple[int, int]:
    """The recorded actor to replay: the one named, or the only one of the class."""
    from .journal import _actor

    started = (f"#{r.actor}@{r.node} {r.type}" for r in rows if r.kind == "started")
    recorded = ", ".join(dict.fromkeys(started)) or "none"
    if actor is not None:
        wanted = _actor(actor)
        assert wanted is not None
        if not any((r.node, r.actor) == wanted for r in rows if r.kind in ("started", "handled")):
            raise ReplayError(
                f"the journal records no actor {wanted[1]}@{wanted[0]} (recorded: {recorded})"
            )
        return wanted
    name = actor_class.__qualname__
    found: List[Tuple[int, int]] = []
    for r in rows:
        if r.kind == "started" and r.type == name and (r.node, r.actor) not in found:
            found.append((r.node, r.actor))
    if len(found) != 1:
        what = "no actor" if not found else f"{len(found)} actors"
        raise ReplayError(
            f"the journal records {what} of type {name}; name the one to replay with "
            f"actor=N or 'N@NODE' (recorded: {recorded})"
        )
    return found[0]


def unpickle_failed(name: str, error: BaseException) -> str:
    """Why a recorded plain object of class `name` (`module.QualName`) cannot be fed again,
    and what to do about it (a replay in Python and a `ReplaySet` say the same)."""
    module = name.rpartition(".")[0]
    why = f"a {name} was recorded with pickle, and pickle cannot load it here ({error!r})"
    if module == "__main__" or module.startswith("__main__."):
        return (
            f"{why}: its class was defined in the recording program's main script, which "
            "the replaying program is not; define the class in a module both programs import "
            "and record again"
        )
    qualname = name[len(module) + 1 :]
    return (
        f"{why}: the replaying program must be able to import `{module}` and find "
        f"`{qualname}` in it, as the recording program did"
    )


def _value(row: Any, decoders: Dict[int, Any]) -> Any:
    """A recorded payload as the handler takes it."""
    if row.encoding == "contract":
        cls = decoders.get(row.type_id)
        if cls is None:
            raise ReplayError(
                f"record {row.seq}: {row.type} (type id {row.type_id}) is a message of the "
                "schema: pass schema= (the generated module) to decode it"
            )
        return cls.decode(row.payload)
    if row.encoding == "raw" and row.type.startswith(PICKLE):
        try:
            return pickle.loads(row.payload)
        except Exception as e:
            raise ReplayError(
                f"record {row.seq}: {unpickle_failed(row.type[len(PICKLE):], e)}"
            ) from e
    if row.encoding == "empty" and row.type.startswith("unpicklable:"):
        raise ReplayError(
            f"record {row.seq}: a {row.type[len('unpicklable:'):]} was recorded without its "
            "payload: pickle refused it (it holds something pickle cannot write, a lambda or "
            "a lock, say), so it cannot be fed again: make the class picklable (or give it "
            "__reduce__) and record again"
        )
    if row.encoding == "empty":
        raise ReplayError(
            f"record {row.seq}: {row.type} was recorded without its payload (a plain object "
            "the recorder could not write: make it with journal.Recorder(path, pickle=True)), "
            "so it cannot be fed again"
        )
    raise ReplayError(
        f"record {row.seq}: {row.type} is written as {row.encoding}, which a Python actor "
        "was never sent"
    )


def _show(row: Any, decoders: Dict[int, Any]) -> str:
    """An output as a line of the report."""
    payload = row.payload
    if row.kind == "failed":
        return f"failed: {payload}"
    try:
        if row.encoding == "contract" and row.type_id in decoders:
            payload = decoders[row.type_id].decode(payload)
        elif row.encoding == "raw" and row.type.startswith(PICKLE):
            payload = pickle.loads(payload)
    except Exception:
        pass  # shown as its bytes
    topic = f" on {row.topic}" if row.topic else ""
    return f"{row.kind} {row.type}{topic}: {payload!r}"


def _key(row: Any) -> Tuple[Any, ...]:
    """What is compared of an output."""
    return (row.kind, row.type, row.topic, row.payload)


_Answer = Tuple[int, bytes, Optional[str], Optional[int]]


def _stand_in(
    bus: Any,
    rows: Sequence[Any],
    services: Sequence[str],
    askers: Dict[Tuple[int, int], Optional[int]],
    schema: Any,
) -> None:
    """Makes ``bus`` stand in for ``services``: taking every message of ``schema`` (and every
    contract message the recorded actors sent), answering each ask with the recorded answers
    (``rows``: the journal's records), an ask made while it handles its input N with those it
    had while handling its input N. ``askers``: the recorded actors (node, number), each with
    its number on ``bus`` (``None``: whichever actor asks). The answers an actor had from
    another of ``askers`` are not the stand-ins' to give."""
    from .journal import _decoders

    mine = [r for r in rows if (r.node, r.actor) in askers]
    sent = {r.type_id for r in mine if r.kind == "sent" and r.encoding == "contract"}
    # A changed version may send what the recording's never did: the stand-in takes it.
    type_ids = sorted(sent | (set(_decoders(schema)) if schema is not None else set()))
    if not type_ids:
        raise ReplayError(
            f"services={list(services)!r}: without schema= (the generated module of the "
            "journal's messages) a stand-in knows no message to take, and the recorded actor "
            "sent none of the schema"
        )
    answers: Dict[Tuple[int, int], List[_Answer]] = {a: [] for a in askers}
    # Each actor's inputs by record number: which of its inputs (0 for its first) it was.
    input_of: Dict[int, int] = {}
    handled: Dict[Tuple[int, int], int] = {a: 0 for a in askers}
    for r in mine:
        if r.kind == "handled":
            input_of[r.seq] = handled[(r.node, r.actor)]
            handled[(r.node, r.actor)] += 1
            continue
        if r.kind != "answered":
            continue
        if r.origin and r.origin[0] == "actor" and (r.origin[1], r.origin[2]) in askers:
            continue
        during = None if r.cause is None else input_of.get(r.cause)
        if r.encoding == "contract":
            answer: _Answer = (r.type_id, bytes(r.payload), None, during)
        elif r.encoding == "text":
            answer = (0, b"", str(r.payload), during)
        else:
            answer = (0, b"", f"an answer recorded as {r.encoding} cannot be served", during)
        answers[(r.node, r.actor)].append(answer)
    bus._native.stand_in(
        list(services), type_ids, [(askers[a], given) for a, given in answers.items()]
    )


class StandInNode:
    """The node a replayed actor had in its arguments live (a ``Node`` of ``Bus.join``), on a
    replay's bus: give it in the arguments in place of that node. Its ``ref(service)`` reaches
    the replay's stand-in for ``service`` (name each in ``services=``), which takes what the
    actor sends the other node (compared as any send) and answers its asks with the recorded
    answers::

        report = journal.replay("recorded/a", Router, journal.StandInNode("a"),
                                schema=trading, services=["counter", "sink"])

    ``name``: the node's name, as the actor reads it. Raises :class:`ReplayError` from
    ``ref`` when used outside a replay."""

    def __init__(self, name: str = "replay") -> None:
        self._name = name
        self._bus: Any = None

    @property
    def name(self) -> str:
        """The node's name."""
        return self._name

    def is_remote(self, service: str) -> bool:
        """True: every service is the replay's stand-in for another node's."""
        return True

    def ref(self, service: str) -> Any:
        """A ref to the replay's stand-in for ``service``."""
        if self._bus is None:
            raise ReplayError(
                f"StandInNode.ref({service!r}): the node is in no replay: give it in the "
                "arguments of journal.replay or ReplaySet.spawn"
            )
        return self._bus.ref(service)

    def __repr__(self) -> str:
        return f"StandInNode({self._name!r})"


def _refused_at_the_call(e: Exception) -> bool:
    """True for the refusal of a message the actor has no handler for (never queued), as
    against a handler's reply the ask refused."""
    return any(part in str(e) for part in ("has no handler for", "does not handle"))


class StandInRef:
    """An actor a replayed actor was given a ref to in its arguments live (``bus.spawn(Trader,
    venue)``), on a replay's bus: give it in the arguments in place of that ref, under a
    name also given in ``services=``. It is a ref to the replay's stand-in for that name,
    which takes what the actor tells it (compared as any send) and answers its asks with the
    recorded answers::

        report = journal.replay("recorded/desk", Trader, journal.StandInRef("venue"),
                                actor=4, schema=desk, services=["venue"])

    Raises :class:`ReplayError` when used outside a replay."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._bus: Any = None

    def _ref(self) -> Any:
        if self._bus is None:
            raise ReplayError(
                f"StandInRef({self._service!r}) is in no replay: give it in the arguments of "
                "journal.replay or ReplaySet.spawn, and its name in services="
            )
        return self._bus.ref(self._service)

    def __getattr__(self, name: str) -> Any:
        # `tell`, `ask`, `tell_async`, `ask_async`, `try_tell`, `is_alive`, `id`: the stand-in's.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._ref(), name)

    def __repr__(self) -> str:
        return f"StandInRef({self._service!r})"


def _bind_nodes(args: Any, bus: Any) -> None:
    """Puts the :class:`StandInNode` and :class:`StandInRef` objects in ``args`` (itself, or
    inside tuples, lists and dicts) on ``bus``."""
    if isinstance(args, (StandInNode, StandInRef)):
        args._bus = bus
    elif isinstance(args, (tuple, list)):
        for a in args:
            _bind_nodes(a, bus)
    elif isinstance(args, dict):
        for a in args.values():
            _bind_nodes(a, bus)


# A restart window longer than any recording: the restart limit counts the whole run.
_WHOLE_RUN = 1e9


def _by_input(rows: Sequence[Any], actor: Tuple[int, int]) -> Tuple[List[Any], List[List[Any]]]:
    """The actor's inputs in order, and the outputs of each (answers, sends and publications
    by their cause; a failure goes with the input handled last before it)."""
    inputs: List[Any] = []
    outputs: List[List[Any]] = []
    index: Dict[int, int] = {}
    for r in rows:
        if (r.node, r.actor) != actor:
            continue
        if r.kind == "handled":
            index[r.seq] = len(inputs)
            inputs.append(r)
            outputs.append([])
        elif r.kind == "failed" and inputs:
            outputs[-1].append(r)
        elif r.kind in _OUTPUTS and r.cause in index:
            outputs[index[r.cause]].append(r)
    return inputs, outputs


def _readings(rows: Sequence[Any], actor: Tuple[int, int], inputs: Sequence[Any]) -> List[List[int]]:
    """The bus times (ns) the actor read while handling each of its inputs, in order."""
    index = {r.seq: i for i, r in enumerate(inputs)}
    readings: List[List[int]] = [[] for _ in inputs]
    for r in rows:
        if (r.node, r.actor) == actor and r.kind == "clock-read" and r.cause in index:
            readings[index[r.cause]].append(int(r.payload))
    return readings


def _refusals(
    rows: Sequence[Any], actor: Tuple[int, int], inputs: Sequence[Any]
) -> List[List[Tuple[int, str]]]:
    """The tells the actor made while handling each of its inputs that were refused: each as
    its place among that input's tells (from 0) and ``"full"`` or ``"stopped"``."""
    index = {r.seq: i for i, r in enumerate(inputs)}
    tells = [0 for _ in inputs]
    refusals: List[List[Tuple[int, str]]] = [[] for _ in inputs]
    for r in rows:
        if (r.node, r.actor) != actor or r.cause not in index:
            continue
        i = index[r.cause]
        if r.kind == "sent" and not r.asked:
            tells[i] += 1
        elif r.kind == "refused" and tells[i] > 0 and r.payload in ("full", "stopped"):
            # (Another refusal, of a newer writer, is not served: the tell goes through, and
            # the comparison shows what follows, as a Rust replay does.)
            refusals[i].append((tells[i] - 1, r.payload))
    return refusals


def replay(
    path: Union[str, "os.PathLike[str]"],
    actor_class: type,
    args: Any = None,
    *,
    actor: Union[None, int, str, Sequence[int]] = None,
    schema: Any = None,
    mode: str = "first",
    before: int = 3,
    services: Sequence[str] = (),
    run: int = 0,
) -> ReplayReport:
    """Replays the actor of class ``actor_class`` recorded in the journal at ``path`` (the
    only one of that class, or the one ``actor`` names: ``N``, ``"N@NODE"``), started with
    ``args``, and compares what it does with what was recorded.

    ``services``: the names the actor reaches through ``self.bus.ref(name)``, or through a
    node in its arguments (given as a :class:`StandInNode`); the replay's bus stands in for
    each, taking its tells and answering its asks with the recorded answers: those made
    while it handles an input with the answers recorded while that input was handled, in
    their order (an actor changed to ask once more for one input gets the others' answers as
    recorded). What it sends them is compared as any send.

    ``schema``: the generated module of the journal's messages (needed to feed contract
    messages). ``mode``: ``"first"`` reports the first input whose outputs differ,
    ``"compare"`` every one. ``before``: how many inputs before a difference its report
    lists. ``run``: which run of a journal that later processes opened again
    (``Journal(path).runs``; the first by default). Raises :class:`ReplayError` when the
    actor is not in the journal or an input cannot be fed, ``ValueError`` for a run the
    journal does not have, :class:`JournalCorrupt` at a damaged record."""
    from . import _bus
    from .journal import Journal, _decoders

    if mode not in ("first", "compare"):
        raise ValueError(f"replay(mode={mode!r}): mode is 'first' or 'compare'")
    decoders = _decoders(schema)
    journal_read = Journal(path, run=run)
    rows = journal_read.rows()
    addr = _pick(rows, actor_class, actor)
    stopped: Optional[str] = None
    for i, r in enumerate(rows):
        if r.kind == "gap":
            p = r.payload
            stopped = (
                f"a gap at record {r.seq}: {p['count']} records from {p['first']} lost by "
                f"{r.type}; a replay does not cross it"
            )
            rows = rows[:i]
            break
    # (A cut record begins the run after a crash: one run's rows hold none.)
    later = [r for r in journal_read.runs if r.number > run]
    if stopped is None and journal_read.cut:
        stopped = f"a crash cut the journal: {journal_read.cut}"
    elif stopped is None and not journal_read.closed and later:
        stopped = (
            f"a crash ended run {run} (its writer was killed): the last input's outputs are "
            f"compared as far as they were written; what follows from record "
            f"{later[0].first_seq} is another run"
        )
    elif stopped is None and not journal_read.closed:
        stopped = (
            "the journal was not closed (its writer was killed, or still writes): the last "
            "input's outputs are compared as far as they were written"
        )
    inputs, recorded = _by_input(rows, addr)
    actor_type = next(
        (r.type for r in rows if (r.node, r.actor) == addr and r.kind == "started"),
        actor_class.__qualname__,
    )
    messages = [_value(r, decoders) for r in inputs]
    # Restarted in place (at once: the inputs come at their recorded times) as many times as
    # recorded and no more: a version that fails more often stops there, and the inputs left
    # are reported not handled.
    restarts = sum(1 for r in rows if (r.node, r.actor) == addr and r.kind == "restarted")

    with tempfile.TemporaryDirectory(prefix="mycelium-replay-") as tmp:
        recorder = Recorder(os.path.join(tmp, "journal"), schema, "", True)
        # The bus times its handlers read live, read again in the same order.
        recorder.serve_readings(_readings(rows, addr, inputs))
        # Its tells refused live, refused again at the same tells.
        recorder.serve_refusals(_refusals(rows, addr, inputs))
        bus = _bus.Bus(virtual_time=True, schema=schema)
        try:
            if services:
                _stand_in(bus, rows, services, {addr: None}, schema)
            _bind_nodes(args, bus)
            tree = bus.supervise(
                [_bus.python_child("replayed", actor_class, args, record=recorder)],
                max_restarts=restarts,
                within=_WHOLE_RUN,
                backoff=_bus.Backoff(0.0, 1.0, 0.0),
            )
            ref = tree.child("replayed")
            # The inputs it was given (or tells itself again), in order: what it handled
            # now is matched to them; one the send refused (a class with no handler for
            # it) is reported with the refusal.
            given: List[int] = []
            refused: Dict[int, str] = {}
            for i, (handled, message) in enumerate(zip(inputs, messages)):
                # At its recorded bus time: what the actor does before it, and the times
                # its handlers see, are as recorded. A bus that has stopped (the actor
                # failed more often than recorded, and its tree gave up) takes no more.
                if handled.origin == ("actor", addr[0], addr[1]):
                    # It told itself this message: its handler tells it again, and that
                    # send is compared (fed as well, it would be handled twice). Its time is
                    # not waited for: an actor that tells itself without end keeps the
                    # virtual clock where it is.
                    given.append(i)
                    continue
                try:
                    bus._native.advance_to(handled.time_ns)
                except BusClosed:
                    break
                if not handled.asked:
                    try:
                        ref.tell(message)
                        given.append(i)
                    except MessageTypeError as e:
                        refused[i] = str(e)  # refused at the call: never queued
                    except MyceliumError:
                        pass  # the actor has stopped: the input is reported not handled
                    continue
                try:
                    ref.ask(message)
                    given.append(i)
                except MessageTypeError as e:
                    if _refused_at_the_call(e):
                        refused[i] = str(e)
                    else:
                        given.append(i)  # its handler's reply was refused: compared below
                except MyceliumError:
                    given.append(i)  # a failure or a missing answer: compared below
            try:
                # Once the actor has begun its last recorded input it is stopped (what it
                # told itself beyond the recording is not handled, as it was not live). One
                # that has not (a changed actor, behind) is let run all it can first.
                if inputs and recorder.wait_handled(len(inputs), 0.25) < len(inputs):
                    bus._native.advance_to(inputs[-1].time_ns + 1, settle=True)
                tree.stop()
            except BusClosed:
                pass  # its tree gave up: the actor stopped, as reported below
        finally:
            bus.shutdown()
            recorder.close()
        now_rows = Journal(os.path.join(tmp, "journal")).rows()
    now_actor = next(((r.node, r.actor) for r in now_rows if r.kind == "started"), (0, 0))
    now_inputs, now_outputs = _by_input(now_rows, now_actor)
    # Input i's position among those handled now.
    handled_as = {i: k for k, i in enumerate(given[: len(now_inputs)])}

    # A run that ended without the actor's stop (a crash: kill -9) may have lost the end of
    # its last input's outputs: those are compared as a prefix of what the replay made.
    crashed = not any(
        (r.node, r.actor) == addr and r.kind == "stopped" and r.seq > inputs[-1].seq
        for r in rows
    ) if inputs else False
    differences: List[Difference] = []
    for i, handled in enumerate(inputs):
        live = recorded[i]
        k = handled_as.get(i)
        if k is not None:
            now = [o for o in now_outputs[k] if o.kind != "replied" or handled.asked]
        else:
            now = []
        live_keys = [_key(o) for o in live]
        now_keys = [_key(o) for o in now]
        if i == len(inputs) - 1 and crashed:
            now_keys = now_keys[: len(live_keys)]
        if k is not None and live_keys == now_keys:
            continue
        live_shown = tuple(_show(o, decoders) for o in live)
        if k is None:
            now_shown: Tuple[str, ...] = ()
            now_text = f"not handled: {refused.get(i, 'the replayed actor had stopped')}"
        else:
            now_shown = tuple(_show(o, decoders) for o in now)
            now_text = "; ".join(now_shown) or "nothing"
        differences.append(
            Difference(
                input=i,
                seq=handled.seq,
                time_ns=handled.time_ns,
                message=handled.type,
                recorded="; ".join(live_shown) or "nothing",
                now=now_text,
                recorded_outputs=live_shown,
                now_outputs=now_shown,
                before=tuple(
                    f"input {j} (record {inputs[j].seq}): {inputs[j].type}"
                    for j in range(max(0, i - before), i)
                ),
            )
        )
        if mode == "first":
            break
    return ReplayReport(addr, actor_type, len(inputs), differences, stopped)


class SetReport:
    """What a set's replay found: ``actors``, one :class:`ReplayReport` per replayed actor
    (in spawning order); ``ok`` when every one did as recorded."""

    def __init__(self, actors: List[ReplayReport], csv: str) -> None:
        self.actors = actors
        self._csv = csv

    @property
    def ok(self) -> bool:
        """True when no output of any replayed actor differs."""
        return all(a.ok for a in self.actors)

    @property
    def differences(self) -> List[Tuple[int, Difference]]:
        """Every difference, as ``(recorded actor number, difference)``."""
        return [(a.actor[1], d) for a in self.actors for d in a.differences]

    def to_csv(self) -> str:
        """Every difference as CSV, with a header line:
        ``actor,input,seq,time_ns,message,recorded,now,before``."""
        return self._csv

    @property
    def first(self) -> Optional[Tuple[int, Difference]]:
        """The first difference in journal order, as ``(recorded actor number, difference)``
        (where the replay first went another way: the others may follow from it), or
        ``None``."""
        found = self.differences
        return min(found, key=lambda ad: ad[1].seq) if found else None

    def __str__(self) -> str:
        text = "\n\n".join(str(a) for a in self.actors)
        first = self.first
        if first is None:
            return text
        actor, d = first
        where = next(
            f"{a.actor_type} (actor #{a.actor[1]})" for a in self.actors if a.actor[1] == actor
        )
        return (
            f"first difference in journal order: {where}, input {d.input} (record {d.seq})\n\n"
            + text
        )

    def __repr__(self) -> str:
        return f"SetReport(actors={len(self.actors)}, differences={len(self.differences)})"


class ReplaySet:
    """Replays several recorded Python actors together on one virtual-time bus: each
    replayed actor gets the inputs it had from outside the set at their recorded bus times,
    the messages the set's actors send each other are made again by them (and compared, not
    fed), and every actor's answers, sends, publications and failures are compared with the
    recorded ones. Each starts at the bus time it started live and is restarted in place
    after a failure at the bus time its supervisor restarted it live, as many times as
    recorded::

        with journal.ReplaySet("recorded/desk", schema=desk) as replay:
            venue = replay.spawn(Venue)                    # the only Venue recorded
            replay.spawn(Trader, venue, actor=4)           # refs of the set as arguments
            report = replay.run(mode="compare")

    ``bus`` is the replay's bus (virtual time, the journal's schema). ``services``: the
    names the set's actors reach through ``self.bus.ref(name)`` outside the set; the
    replay's bus stands in for each, as for :func:`replay`, answering each actor's asks with
    the answers it was given while handling the same input. ``run``: which run of a journal
    that later processes opened again (the first by default), as for :func:`replay`. Raises
    :class:`ReplayError` when an actor is not in the journal or cannot be spawned,
    ``ValueError`` for a run the journal does not have, ``JournalReadError``/
    ``JournalCorrupt`` when the journal cannot be read."""

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        *,
        schema: Any = None,
        services: Sequence[str] = (),
        run: int = 0,
    ) -> None:
        from . import _bus
        from .journal import Journal

        self.path = os.fspath(path)
        self._rows = Journal(self.path, run=run).rows()
        self.bus = _bus.Bus(virtual_time=True, schema=schema)
        try:
            self._native = _NativeSet(self.path, self.bus._native, run)
        except ValueError as e:
            self.bus.shutdown()
            raise ReplayError(str(e)) from None
        self._types: Dict[int, str] = {}
        # Each spawned actor's number on the replay's bus, by its recorded number.
        self._numbers: Dict[int, int] = {}
        self._services = list(services)
        self._schema = schema

    def recorded_actors(self) -> List[Tuple[int, str]]:
        """The recorded actors: ``(number, type)``, in the order they first started."""
        return [(n, t) for n, t in self._native.recorded_actors()]

    def spawn(
        self,
        actor_class: type,
        args: Any = None,
        *,
        actor: Union[None, int, str] = None,
        service: Optional[str] = None,
    ) -> Any:
        """Spawns ``actor_class``, started with ``args``, as the replayed actor of the
        recorded actor ``actor`` (``N`` or ``"N@0"``; by default the only one recorded of the
        class's name). Returns its ref, to hand to the set's other actors. ``service``
        exports it under that name on the replay's bus, as it was live, for the set's actors
        that reach it through ``self.bus.ref(name)``."""
        from . import _bus
        from ._actor import _Host

        node, number = _pick(self._rows, actor_class, actor)
        if node != 0:
            raise ReplayError(
                f"actor #{number}@{node} was recorded on node {node}: a set replays the actors of "
                "its own journal's node"
            )
        if number in self._types:
            raise ReplayError(f"recorded actor #{number} is already replayed in this set")
        actor_type = next(
            (r.type for r in self._rows if r.actor == number and r.kind == "started"),
            actor_class.__qualname__,
        )
        host = _Host(actor_class, self.bus)
        _bind_nodes(args, self.bus)
        try:
            native = self._native.spawn(number, host, args, actor_type)
        except ValueError as e:
            raise ReplayError(str(e)) from None
        if service is not None:
            try:
                native.export(self.bus._native, service, list(host.table))
            except ValueError as e:
                raise ReplayError(f"{actor_type} (actor #{number}) as service {service!r}: {e}") from None
            self.bus._hosts[service] = host
        self._types[number] = actor_type
        self._numbers[number] = int(native.id.lstrip("#"))
        return _bus.ActorRef(native, host.table)

    def run(self, mode: str = "first") -> SetReport:
        """Feeds the recorded inputs and compares; ``mode``: ``"first"`` stops at the first
        difference, ``"compare"`` runs to the end and reports every one. The replayed actors
        are stopped before it returns; a set runs once."""
        if mode not in ("first", "compare"):
            raise ValueError(f"run(mode={mode!r}): mode is 'first' or 'compare'")
        if not self._types:
            raise ReplayError("nothing to replay: spawn the set's actors first")
        if self._services:
            askers: Dict[Tuple[int, int], Optional[int]] = {
                (0, number): own for number, own in self._numbers.items()
            }
            _stand_in(self.bus, self._rows, self._services, askers, self._schema)
        try:
            rows, csv = self._native.run(mode == "compare")
        except ValueError as e:
            raise ReplayError(str(e)) from None
        actors = []
        for number, inputs, cut, differences in rows:
            actors.append(
                ReplayReport(
                    (0, number),
                    self._types.get(number, "?"),
                    inputs,
                    [
                        Difference(
                            input=d[0],
                            seq=d[1],
                            time_ns=d[2],
                            message=d[3],
                            recorded=d[4],
                            now=d[5],
                            before=tuple(d[6]),
                            recorded_outputs=tuple(d[7]),
                            now_outputs=tuple(d[8]),
                        )
                        for d in differences
                    ],
                    f"a crash cut the recording: {cut}" if cut else None,
                )
            )
        return SetReport(actors, csv)

    def close(self) -> None:
        """Shuts the replay's bus down."""
        # A set that never ran still holds its clock: members due to start later would
        # otherwise wait for a bus time that never comes.
        self._native.release_clock()
        self.bus.shutdown()

    def __enter__(self) -> "ReplaySet":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
