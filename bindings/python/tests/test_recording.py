"""Recording Python actors into a journal and replaying them: a supervised actor that fails
and restarts, replayed unchanged (no difference) and changed (the report names the input and
the message), plain objects written with pickle only where the recorder allows it, and a
recording process killed with SIGKILL replayed up to its last whole record."""

import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import mycelium
from mycelium import journal
from mycelium.trading import Heartbeat


@dataclasses.dataclass
class Note:
    """A plain object (not a schema message), sent between Python actors."""

    text: str


class Book(mycelium.Actor):
    """Adds up the sequence numbers it is sent; 13 fails it; publishes and answers its sum."""

    def on_start(self, args):
        self.total = args or 0
        self.notes = []

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        if hb.seq == 13:
            raise ValueError("unlucky 13")
        self.total += self.step(hb.seq)
        out = Heartbeat(ts_ns=hb.ts_ns, seq=self.total, sender="book")
        self.publish(out)
        return out

    def step(self, seq):
        return seq

    @mycelium.handler(Note)
    def note(self, note):
        self.notes.append(note.text)
        return len(self.notes)


class BookV2(Book):
    """A new version: counts sequence numbers above 5 twice."""

    def step(self, seq):
        return seq * 2 if seq > 5 else seq


def hb(seq):
    return Heartbeat(ts_ns=seq * 1000, seq=seq, sender="feed")


def record_book(path, seqs, *, notes=()):
    """Runs a supervised Book recorded into `path`: the heartbeats `seqs` (asked, or told
    where negative), then `notes`. Returns the recorded actor's number."""
    rec = journal.Recorder(path, schema=mycelium.trading, pickle=True)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        tree = bus.supervise(
            [mycelium.python_child("book", Book, 0)], backoff=mycelium.Backoff(0.001, 1.0, 0.001)
        )
        book = tree.child("book")
        for seq in seqs:
            if seq < 0:
                book.tell(hb(-seq))
            else:
                try:
                    book.ask(hb(seq))
                except ValueError:
                    pass  # 13: the actor fails and restarts
        for text in notes:
            assert book.ask(Note(text)) >= 1
        tree.stop()
    rec.close()
    assert rec.unrecorded() == []
    started = [r for r in journal.Journal(path).rows(kind="started")]
    assert [r.type for r in started] == ["Book"]
    return started[0].actor


SEQS = [1, 2, -3, 13, 4, 7, 8]


def test_a_recorded_actor_with_a_restart_replays_unchanged_without_a_difference(tmp_path):
    path = str(tmp_path / "book")
    actor = record_book(path, SEQS, notes=["a", "b"])
    rows = journal.Journal(path, schema=mycelium.trading).rows(actor=actor)
    kinds = [r.kind for r in rows]
    assert kinds.count("handled") == len(SEQS) + 2
    assert "failed" in kinds and "restarted" in kinds
    failed = next(r for r in rows if r.kind == "failed")
    assert "unlucky 13" in failed.payload
    handled = [r for r in rows if r.kind == "handled"]
    assert [r.payload.seq for r in handled[: len(SEQS)]] == [abs(s) for s in SEQS]
    assert [r.asked for r in handled[: len(SEQS)]] == [s > 0 for s in SEQS]
    assert handled[-1].type == "pickle:test_recording.Note"
    # Every input came from this test's Python code, outside any actor.
    assert {r.origin for r in handled} == {("python", 1)}
    published = [r for r in rows if r.kind == "published"]
    assert published and all(r.topic == Heartbeat.TOPIC for r in published)

    report = journal.replay(path, Book, 0, schema=mycelium.trading, mode="compare")
    assert report.ok, str(report)
    assert report.inputs == len(SEQS) + 2
    assert "every output as recorded" in str(report)
    assert report.to_csv() == "input,seq,time_ns,message,recorded,now,before\n"


def test_each_run_of_a_journal_opened_again_replays_on_its_own(tmp_path):
    path = str(tmp_path / "book")
    first_actor = record_book(path, SEQS)
    # A later process opens the journal again: a new run, its actors numbered anew (the
    # same tree, so its Book has the number the first run's had).
    rec = journal.Recorder(path, schema=mycelium.trading, pickle=True)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        tree = bus.supervise([mycelium.python_child("book", Book, 100)])
        for seq in (20, 21):
            tree.child("book").ask(hb(seq))
        tree.stop()
    rec.close()
    whole = journal.Journal(path)
    assert [(r.number, r.start) for r in whole.runs] == [(0, "first"), (1, "resumed")]
    second = journal.Journal(path, run=1)
    assert second.closed and "run=1" in repr(second)
    started = second.rows(kind="started")
    assert [(r.type, r.actor) for r in started] == [("Book", first_actor)]
    assert "resumed" not in {r.kind for r in second.rows()}

    # The first run by default: the second run's inputs to the same number are not its.
    report = journal.replay(path, Book, 0, schema=mycelium.trading)
    assert report.ok and report.inputs == len(SEQS), str(report)
    report = journal.replay(path, Book, 100, schema=mycelium.trading, run=1)
    assert report.ok and report.inputs == 2, str(report)
    changed = journal.replay(path, Book, 0, schema=mycelium.trading, run=1)
    assert not changed.ok and changed.first.input == 0, str(changed)
    with journal.ReplaySet(path, schema=mycelium.trading, run=1) as replay:
        replay.spawn(Book, 100)
        report = replay.run(mode="compare")
    assert report.ok, str(report)
    with pytest.raises(ValueError, match="holds 2 run"):
        journal.replay(path, Book, 0, schema=mycelium.trading, run=2)


def test_a_changed_actor_class_is_reported_at_the_first_input_whose_outputs_differ(tmp_path):
    path = str(tmp_path / "book")
    actor = record_book(path, SEQS)
    first = journal.replay(path, BookV2, 0, actor=actor, schema=mycelium.trading)
    assert not first.ok
    assert len(first.differences) == 1
    d = first.first
    # Input 5 is the heartbeat of seq 7: the first that BookV2 counts twice.
    assert (d.input, d.message) == (5, "Heartbeat")
    # After the restart the sum starts again: 4 + 7 recorded, 4 + 2 * 7 now.
    assert "seq=11" in d.recorded and "seq=18" in d.now, str(first)
    assert d.before[-1].endswith("Heartbeat")
    text = str(first)
    assert "input 5 (record" in text and "- recorded:" in text and "+ now:" in text

    every = journal.replay(path, BookV2, 0, actor=actor, schema=mycelium.trading, mode="compare")
    assert [x.input for x in every.differences] == [5, 6]
    lines = every.to_csv().splitlines()
    assert lines[0] == "input,seq,time_ns,message,recorded,now,before"
    assert lines[1].startswith(f"5,{d.seq},{d.time_ns},\"Heartbeat\",")
    assert lines[1].endswith('Heartbeat"'), "last, the inputs before it"


def test_plain_objects_are_recorded_only_where_pickle_is_allowed(tmp_path):
    rec = journal.Recorder(str(tmp_path / "no-pickle"))
    with mycelium.Bus() as bus:
        with pytest.raises(ValueError, match=r"Book cannot be recorded: it handles plain objects \(Book.note \(of Note\)\)"):
            bus.spawn(Book, record=rec)
        with pytest.raises(ValueError, match="pickle=True"):
            bus.supervise([mycelium.python_child("book", Book, record=rec)])
    rec.close()


class NoteTaker(mycelium.Actor):
    @mycelium.handler(dict)
    def note(self, d):
        return len(d)


class NoteSender(mycelium.Actor):
    """Tells its note taker (its argument) a dict and asks it another for each heartbeat."""

    def on_start(self, taker):
        self.taker = taker

    @mycelium.handler(Heartbeat)
    def send(self, h):
        self.taker.tell({"seq": h.seq})
        self.taker.ask({"asked": h.seq})
        return h


def test_a_plain_object_an_actor_sends_is_recorded_pickled_where_pickle_is_allowed(tmp_path):
    path = str(tmp_path / "notes")
    rec = journal.Recorder(path, schema=mycelium.trading, pickle=True)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        taker = bus.spawn(NoteTaker)
        sender = bus.spawn(NoteSender, taker)
        sender.ask(Heartbeat(ts_ns=1, seq=5, sender="feed"))
    rec.close()
    assert rec.unrecorded() == []
    sent = journal.Journal(path).rows(kind="sent", actor=int(sender.id.lstrip("#")))
    assert [(r.type, pickle.loads(r.payload)) for r in sent] == [
        ("pickle:builtins.dict", {"seq": 5}),
        ("pickle:builtins.dict", {"asked": 5}),
    ]


class NotesOnly(mycelium.Actor):
    """A version that takes notes and no heartbeats."""

    def on_start(self, args):
        self.notes = []

    @mycelium.handler(Note)
    def note(self, note):
        self.notes.append(note.text)
        return len(self.notes)


def test_an_input_the_new_version_has_no_handler_for_is_reported_with_the_refusal(tmp_path):
    path = str(tmp_path / "book")
    actor = record_book(path, [1, 2], notes=["a", "b"])
    report = journal.replay(path, NotesOnly, actor=actor, schema=mycelium.trading, mode="compare")
    # The two heartbeats were refused at the send; the notes after them are compared with
    # the notes recorded (not with the heartbeats' outputs) and answer the same.
    assert [d.input for d in report.differences] == [0, 1], str(report)
    for d in report.differences:
        assert d.now.startswith("not handled: NotesOnly (actor #"), d.now
        assert "has no handler for Heartbeat" in d.now


def test_replay_names_what_it_cannot_do(tmp_path):
    path = str(tmp_path / "book")
    record_book(path, [1, 2])
    with pytest.raises(journal.ReplayError, match="no actor of type BookV2"):
        journal.replay(path, BookV2, schema=mycelium.trading)
    # A number it does not record: the text lists those it does.
    with pytest.raises(journal.ReplayError, match=r"no actor 99@0 \(recorded: #\d+@0 Book"):
        journal.replay(path, BookV2, actor=99, schema=mycelium.trading)
    with pytest.raises(journal.ReplayError, match="pass schema="):
        journal.replay(path, Book)
    with pytest.raises(ValueError, match="mode is 'first' or 'compare'"):
        journal.replay(path, Book, mode="all")


class Memo(dict):
    """A plain object whose class a replay will not find where it was recorded from."""


@pytest.mark.parametrize(
    "module, says",
    [
        ("__main__", "defined in the recording program's main script"),
        ("gone_module", "must be able to import `gone_module` and find `Memo` in it"),
    ],
)
def test_a_pickled_input_whose_class_is_not_found_names_the_class_and_what_to_do(
    tmp_path, monkeypatch, module, says
):
    path = str(tmp_path / "memo")
    # Recorded from where `module` defines Memo...
    monkeypatch.setattr(Memo, "__module__", module)
    if module == "__main__":
        monkeypatch.setattr(sys.modules["__main__"], "Memo", Memo, raising=False)
    else:
        gone = type(sys)("gone_module")
        gone.Memo = Memo
        monkeypatch.setitem(sys.modules, "gone_module", gone)
    rec = journal.Recorder(path, schema=mycelium.trading, pickle=True)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        assert bus.spawn(NoteTaker).ask(Memo(a=1)) == 1
    rec.close()
    # ...and replayed where it does not.
    monkeypatch.undo()
    [row] = journal.Journal(path).rows(kind="handled")
    assert row.type == f"pickle:{module}.Memo"
    with pytest.raises(journal.ReplayError, match=f"a {module}.Memo was recorded with pickle") as e:
        journal.replay(path, NoteTaker, schema=mycelium.trading)
    assert says in str(e.value)
    with journal.ReplaySet(path, schema=mycelium.trading) as replay:
        replay.spawn(NoteTaker)
        with pytest.raises(journal.ReplayError, match=f"a {module}.Memo was recorded") as e:
            replay.run()
    assert says in str(e.value)


KILLED = textwrap.dedent(
    """
    import sys
    import mycelium
    from mycelium import journal
    from mycelium.trading import Heartbeat
    from test_recording import Book

    rec = journal.Recorder(sys.argv[1], schema=mycelium.trading, pickle=True)
    bus = mycelium.Bus(schema=mycelium.trading, record=rec)
    book = bus.spawn(Book, 0)
    for seq in range(1, 41):
        book.ask(Heartbeat(ts_ns=seq, seq=seq % 10, sender="feed"))  # never 13
    rec.flush()
    print("recorded", flush=True)
    seq = 41
    while True:  # until killed
        book.ask(Heartbeat(ts_ns=seq, seq=seq % 10, sender="feed"))
        seq += 1
    """
)


def test_a_recording_killed_mid_run_replays_to_its_last_whole_record(tmp_path):
    path = str(tmp_path / "killed")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(__file__)] + sys.path))
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, path], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert child.stdout.readline().strip() == "recorded"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    j = journal.Journal(path)
    rows = j.rows(kind="handled")
    assert len(rows) >= 40
    assert not j.closed
    report = journal.replay(path, Book, 0, schema=mycelium.trading)
    assert report.ok, str(report)
    assert report.inputs == len(rows)
    assert "cut" in report.stopped or "not closed" in report.stopped, report.stopped

    # A second run into the same journal: a cut record between the runs says where the killed
    # one ended (it was never closed, whether or not the kill cut a record), and a replay
    # stops there rather than take the second run for the same actor's life.
    rec = journal.Recorder(path, schema=mycelium.trading, pickle=True)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        assert bus.spawn(Book, 0).ask(hb(1)).seq == 1
    rec.close()
    cuts = journal.Journal(path).rows(kind="cut")
    assert len(cuts) == 1
    again = journal.replay(path, Book, 0, schema=mycelium.trading, actor=report.actor[1])
    assert again.ok, str(again)
    assert again.inputs == len(rows)
    assert "another run" in again.stopped


class Clocked(mycelium.Actor):
    """Publishes, and answers, each heartbeat stamped with the bus time it handled it at."""

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        out = Heartbeat(ts_ns=round(self.bus.now() * 1e9) + self.late(), seq=hb.seq, sender="clock")
        self.publish(out)
        return out

    def late(self):
        return 0


class ClockedLate(Clocked):
    """A new version: stamps a microsecond late."""

    def late(self):
        return 1000


#: (seq, bus time in ns, asked) of the inputs `record_clocked` feeds.
TIMED = [(1, 1_500_000_000, True), (2, 4_000_000_000, False), (3, 9_250_000_000, True)]


def record_clocked(path):
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading, virtual_time=True, record=rec) as bus:
        ref = bus.spawn(Clocked)
        for seq, time_ns, asked in TIMED:
            bus._native.advance_to(time_ns)
            if asked:
                assert ref.ask(hb(seq)).ts_ns == time_ns
            else:
                ref.tell(hb(seq))
        bus._native.advance_to(10_000_000_000)
    rec.close()
    handled = journal.Journal(path).rows(kind="handled")
    assert [(r.time_ns, r.asked) for r in handled] == [(t, a) for _, t, a in TIMED]
    return handled[0].actor


def test_a_replay_feeds_each_input_at_its_recorded_bus_time_as_recorded(tmp_path):
    path = str(tmp_path / "clocked")
    actor = record_clocked(path)
    report = journal.replay(path, Clocked, schema=mycelium.trading)
    assert report.ok, str(report)
    assert report.inputs == len(TIMED)

    changed = journal.replay(
        path, ClockedLate, actor=actor, schema=mycelium.trading, mode="compare"
    )
    # Every input: the told one's publication differs, the asked ones' answers too.
    assert [d.input for d in changed.differences] == [0, 1, 2], str(changed)
    assert "ts_ns=4000000000" in changed.differences[1].recorded, str(changed)
    assert "ts_ns=4000001000" in changed.differences[1].now, str(changed)


def test_advance_to_needs_a_virtual_time_bus():
    with mycelium.Bus() as bus:
        with pytest.raises(ValueError, match="virtual_time=True"):
            bus._native.advance_to(1)


class Burst(mycelium.Actor):
    """Publishes as many heartbeats as each heartbeat's seq says (one more in `BurstV2`)."""

    extra = 0

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        for i in range(hb.seq + self.extra):
            self.publish(Heartbeat(ts_ns=i, seq=i, sender="burst"))
        return hb


class BurstV2(Burst):
    extra = 1


def test_a_report_line_shows_the_first_outputs_and_a_count_while_the_csv_has_all(tmp_path):
    path = str(tmp_path / "burst")
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        ref = bus.spawn(Burst)
        ref.ask(hb(2000))
        ref.stop()
        ref.wait_for_stop()
    rec.close()
    report = journal.replay(path, BurstV2, schema=mycelium.trading, actor=1)
    d = report.first
    # The publications and the answer.
    assert d is not None and len(d.recorded_outputs) == 2001 and len(d.now_outputs) == 2002
    text = str(report)
    assert len(text) < 10_000, len(text)
    assert "... and 1993 more (2001 outputs; the CSV lists every one)" in text
    assert report.to_csv().count("published Heartbeat") == 2000 + 2001


class Pricer(mycelium.Actor):
    """Answers a heartbeat with its seq times ten; 13 fails it."""

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        if hb.seq == 13:
            raise ValueError("no price for 13")
        return Heartbeat(ts_ns=hb.ts_ns, seq=hb.seq * 10, sender="pricer")


class Asker(mycelium.Actor):
    """Asks the pricer it is started with for each heartbeat, and answers what it got."""

    def on_start(self, pricer):
        self.pricer = pricer

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        try:
            return self.pricer.ask(hb)
        except ValueError:
            return Heartbeat(ts_ns=0, seq=0, sender="no price")


def test_the_answers_to_a_python_handlers_asks_are_recorded(tmp_path):
    path = str(tmp_path / "asker")
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading) as bus:
        pricer = bus.spawn(Pricer)  # not recorded: its answers are the asker's inputs
        asker = bus.spawn(Asker, pricer, record=rec)
        assert asker.ask(hb(2)).seq == 20
        assert asker.ask(hb(3)).seq == 30
        assert asker.ask(hb(13)).sender == "no price"  # the pricer fails (and stops)
        asker.stop()
        asker.wait_for_stop()
    rec.close()
    rows = journal.Journal(path, schema=mycelium.trading).rows(kind="answered")
    assert [r.payload.seq if r.encoding == "contract" else None for r in rows] == [20, 30, None]
    assert rows[0].type == "Heartbeat"
    assert rows[2].encoding == "text" and "no price for 13" in rows[2].payload
    handled = journal.Journal(path).rows(kind="handled")
    assert [r.cause for r in rows] == [h.seq for h in handled]


class BookV3(Book):
    """A new version that fails on 4 as well: once more than the recorded actor did."""

    def step(self, seq):
        if seq == 4:
            raise ValueError("unlucky 4")
        return seq


def test_a_replayed_actor_restarts_as_many_times_as_recorded_and_no_more(tmp_path):
    path = str(tmp_path / "book")
    actor = record_book(path, SEQS)
    report = journal.replay(path, BookV3, 0, actor=actor, schema=mycelium.trading, mode="compare")
    assert not report.ok
    # Input 4 (seq 4) fails where the recorded actor answered; the one restart recorded was
    # spent on 13, so the actor stops there and 7 and 8 are not handled.
    assert [d.input for d in report.differences] == [4, 5, 6], str(report)
    assert "unlucky 4" in report.differences[0].now, str(report)
    assert all("not handled" in d.now for d in report.differences[1:]), str(report)


class Router(mycelium.Actor):
    """Sends each heartbeat on by service name: a tell and an ask to `counter` (a Rust actor
    of this bus), then, given a node, a tell and an ask to `sink` on the other node."""

    def on_start(self, node):
        self.node = node

    @mycelium.handler(Heartbeat)
    def route(self, hb):
        self.bus.ref("counter").tell(hb)
        counted = self.bus.ref("counter").ask(Heartbeat(ts_ns=0, seq=0, sender=""))
        if self.node is not None:
            self.node.ref("sink").tell(hb)
            self.node.ref("sink").ask(hb, timeout=30.0)
        return counted


class Sink(mycelium.Actor):
    @mycelium.handler(Heartbeat)
    def take(self, hb):
        return Heartbeat(ts_ns=hb.ts_ns, seq=hb.seq * 100, sender="sink")


def test_sends_by_service_name_to_rust_actors_and_other_nodes_are_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("MYCELIUM_PY_RECORD_NODES_SECRET", "record-nodes-secret-0123456789")
    topology = tmp_path / "topology.toml"
    topology.write_text(
        'secret_env = "MYCELIUM_PY_RECORD_NODES_SECRET"\n'
        f'[[node]]\nname = "a"\nendpoint = "unix:{tmp_path}/a.sock"\nservices = ["counter"]\n'
        f'[[node]]\nname = "b"\nendpoint = "unix:{tmp_path}/b.sock"\nservices = ["sink"]\n'
    )
    path = str(tmp_path / "router")
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading) as far, mycelium.Bus(schema=mycelium.trading) as bus:
        far.spawn(Sink, service="sink")
        bus.spawn_rust("counter", "counter")
        joined = []
        joining = threading.Thread(target=lambda: joined.append(far.join(str(topology), "b")))
        joining.start()
        with bus.join(str(topology), "a") as node:
            joining.join(timeout=60)
            router = bus.spawn(Router, node, record=rec)
            assert router.ask(hb(7)).seq == 7
            assert router.ask(hb(5)).seq == 12
            joined[0].close()
    rec.close()
    rows = journal.Journal(path, schema=mycelium.trading).rows()
    handled = [r for r in rows if r.kind == "handled"]
    assert len(handled) == 2
    for input_ in handled:
        mine = [r for r in rows if r.cause == input_.seq and r.kind in ("sent", "answered")]
        kinds = [(r.kind, r.asked) for r in mine]
        # To the counter: a tell, an ask and its answer; to the other node: the same.
        assert kinds == [("sent", False), ("sent", True), ("answered", False)] * 2, kinds
        counter, far_sink = mine[:3], mine[3:]
        assert {r.origin[0] for r in counter} == {"actor"} and counter[0].origin[1] == 0
        assert far_sink[0].origin[1] != 0 and far_sink[0].origin[2] == 0, far_sink[0].origin
        assert far_sink[0].payload.seq == input_.payload.seq
        assert far_sink[2].payload.seq == input_.payload.seq * 100
    answers = [r.payload.seq for r in rows if r.kind == "answered"]
    assert answers == [7, 700, 12, 500]

    # Replayed alone, the node in its arguments a stand-in: its sends to the other node are
    # compared, and the other node's answers served as recorded.
    number = next(r.actor for r in rows if r.kind == "started")
    kw = dict(actor=number, schema=mycelium.trading, services=["counter", "sink"])
    same = journal.replay(path, Router, journal.StandInNode("a"), **kw)
    assert same.ok and same.inputs == 2, str(same)
    changed = journal.replay(path, RouterV2, journal.StandInNode("a"), mode="compare", **kw)
    # Above seq 5 it sends twice the number, to the counter and to the other node.
    assert [d.input for d in changed.differences] == [0], str(changed)
    assert "seq=14" in changed.first.now, str(changed)
    with pytest.raises(journal.ReplayError, match="in no replay"):
        journal.StandInNode("a").ref("sink")


class RouterV2(Router):
    """A new version: sends the counter twice the sequence number above 5."""

    @mycelium.handler(Heartbeat)
    def route(self, hb):
        if hb.seq > 5:
            hb = Heartbeat(ts_ns=hb.ts_ns, seq=hb.seq * 2, sender=hb.sender)
        return super().route(hb)


class RouterV3(Router):
    """A new version that asks the counter once more for the heartbeat of seq 4, and answers
    with the error if the counter cannot answer."""

    @mycelium.handler(Heartbeat)
    def route(self, hb):
        if hb.seq == 4:
            self.bus.ref("counter").ask(Heartbeat(ts_ns=0, seq=0, sender=""))
        try:
            return super().route(hb)
        except mycelium.MyceliumError as e:
            return Heartbeat(ts_ns=0, seq=0, sender=str(e))


def test_an_actor_that_sends_by_service_name_replays_against_stand_ins_serving_the_recorded_answers(
    tmp_path,
):
    path = str(tmp_path / "router")
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading) as bus:
        bus.spawn_rust("counter", "counter")
        router = bus.spawn(Router, None, record=rec)
        assert [router.ask(hb(s)).seq for s in (3, 4, 7)] == [3, 7, 14]
    rec.close()

    # Without a stand-in the service is missing on the replay's bus: every input fails.
    missing = journal.replay(path, Router, None, schema=mycelium.trading)
    assert not missing.ok and "counter" in missing.first.now, str(missing)
    same = journal.replay(path, Router, None, schema=mycelium.trading, services=["counter"])
    assert same.ok, str(same)
    # The counter's answers are served as recorded (3, 7, 14), whatever the new version tells
    # it: only what it sends differs, from input 2 (seq 7) on.
    number = journal.Journal(path).rows(kind="started")[0].actor
    kw = dict(actor=number, schema=mycelium.trading, mode="compare", services=["counter"])
    changed = journal.replay(path, RouterV2, None, **kw)
    assert [d.input for d in changed.differences] == [2], str(changed)
    assert "seq=14" in changed.first.now and "seq=7" in changed.first.recorded, str(changed)
    # A version that asks once more while handling input 1 takes that input's recorded
    # answer with its extra ask, and its own ask then has none, and says why; input 2 still
    # gets its own answer (served in recorded order, it would have taken input 2's, and
    # every later input would differ).
    greedy = journal.replay(path, RouterV3, None, **kw)
    assert [d.input for d in greedy.differences] == [1], str(greedy)
    assert "asked fewer times while handling its input 1" in greedy.first.now, str(greedy)
    # A book sent the counter nothing live: the stand-in takes every message of the schema,
    # so a version that tells it now shows that tell as a difference, not as a failure.
    book = str(tmp_path / "book")
    number = record_book(book, [1, 2])
    kw = dict(actor=number, schema=mycelium.trading, mode="compare", services=["counter"])
    assert journal.replay(book, Book, 0, **kw).ok
    telling = journal.replay(book, TellingBook, 0, **kw)
    assert [d.input for d in telling.differences] == [0, 1], str(telling)
    assert "sent Heartbeat" in telling.first.now and "failed" not in telling.first.now, str(
        telling
    )
    # Without schema= a stand-in knows no message of the journal's to take: a book told only
    # plain notes (no contract message to decode either) is refused, saying so.
    plain = str(tmp_path / "plain")
    notes_only = record_book(plain, [], notes=["a", "b"])
    refused = "without schema= .* a stand-in knows no message"
    with pytest.raises(journal.ReplayError, match=refused):
        journal.replay(plain, Book, 0, actor=notes_only, services=["counter"])


class TellingBook(Book):
    """A new version that also tells the counter each heartbeat it adds up."""

    def step(self, seq):
        self.bus.ref("counter").tell(hb(seq))
        return seq


class Tally(mycelium.Actor):
    """Adds up the sequence numbers it is told; sets the event it was started with at 3."""

    def on_start(self, done):
        self.done = done
        self.total = 0

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        self.total += hb.seq
        if hb.seq == 3:
            self.done.set()


def test_a_journal_of_tells_replays_the_same_every_time(tmp_path):
    """Every input told is handled before the replay stops the actor, however close
    together they were told (all within one tick of the virtual clock)."""
    path = str(tmp_path / "tells")
    rec = journal.Recorder(path, schema=mycelium.trading)
    done = threading.Event()
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        tally = bus.spawn(Tally, done)
        for seq in (1, 2, 3):
            tally.tell(hb(seq))
        assert done.wait(10)
    rec.close()
    for _ in range(12):
        report = journal.replay(path, Tally, threading.Event(), schema=mycelium.trading)
        assert report.ok, str(report)
        assert report.inputs == 3


class Speaker(mycelium.Actor):
    """Publishes each heartbeat it is asked, and answers it."""

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        self.publish(hb, topic="beats")
        return hb


class Listener(mycelium.Actor):
    """Subscribed to the speaker's heartbeats."""

    def on_start(self, _):
        self.heard = 0
        self.subscribe(Heartbeat, "beats")

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        self.heard += 1


def test_a_publication_to_a_python_subscriber_is_recorded_once(tmp_path):
    """A subscription's delivery is not a send of the publisher: its one record is the
    publication, and the publisher replays alone without a difference."""
    path = str(tmp_path / "published")
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        bus.spawn(Listener)
        speaker = bus.spawn(Speaker)
        for seq in (1, 2, 3):
            assert speaker.ask(hb(seq)).seq == seq
    rec.close()
    j = journal.Journal(path)
    number = j.rows(kind="started", type="Speaker")[0].actor
    outputs = j.rows(actor=number, kind="sent,published")
    assert [(r.kind, r.type) for r in outputs] == [("published", "Heartbeat")] * 3
    # The listener's inputs, and the speaker's, are named alike: by the class.
    assert {r.type for r in j.rows(kind="handled")} == {"Heartbeat"}
    report = journal.replay(path, Speaker, schema=mycelium.trading)
    assert report.ok, str(report)


class Echo(mycelium.Actor):
    """Tells itself the next sequence number without end (a polling loop); sets `done` at
    20."""

    def on_start(self, done):
        self.done = done

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        if hb.seq == 20:
            self.done.set()
        self.ref.tell(Heartbeat(ts_ns=hb.ts_ns, seq=hb.seq + 1, sender="echo"))


def test_what_an_actor_told_itself_is_regenerated_not_fed(tmp_path):
    """Fed as well, each would be handled twice; and the replay stops the actor after its
    last recorded input, as the live run stopped it mid-chain (else it would never end)."""
    path = str(tmp_path / "echo")
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        done = threading.Event()
        bus.spawn(Echo, done).tell(hb(1))
        assert done.wait(10)
    rec.close()
    j = journal.Journal(path)
    handled = j.rows(kind="handled")
    assert len(handled) >= 20
    assert {r.type for r in j.rows(kind="sent")} == {"Heartbeat"}
    report = journal.replay(path, Echo, threading.Event(), schema=mycelium.trading)
    assert report.ok, str(report)
    assert report.inputs == len(handled)
    # In a set, the same: stopped after its last recorded input.
    with journal.ReplaySet(path, schema=mycelium.trading) as replay:
        replay.spawn(Echo, threading.Event())
        report = replay.run(mode="compare")
    assert report.ok, str(report)
    assert report.actors[0].inputs == len(handled)


class Teller(mycelium.Actor):
    """Tells each heartbeat to the actor it was given and to the service `gone`, and answers
    with how many of the two tells were refused."""

    def on_start(self, target):
        self.target = target

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        refused = 0
        for ref in (self.target, self.bus.ref("gone")):
            try:
                ref.tell(hb)
            except mycelium.MyceliumError:
                refused += 1
        return Heartbeat(ts_ns=hb.ts_ns, seq=refused, sender="teller")


def test_a_tell_to_a_stopped_actor_is_recorded_once_and_refused_again_in_its_replay(tmp_path):
    """A tell refused because its receiver has stopped is the tell's outcome: it is not tried
    again as if the mailbox were full, so the journal has the one send it made, and a
    `refused` record after it. The replay's stand-in would take the tells; the replay refuses
    them as recorded, so the actor counts the same refusals."""
    path = str(tmp_path / "refused")
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        gone = bus.spawn(Listener, service="gone")
        gone.stop()
        gone.wait_for_stop()
        teller = bus.spawn(Teller, gone)
        assert teller.ask(hb(1)).seq == 2
    rec.close()
    j = journal.Journal(path)
    number = j.rows(kind="started", type="Teller")[0].actor
    sent = j.rows(actor=number, kind="sent")
    # One record a tell: by its ref, and by the service name.
    assert [(r.kind, r.asked) for r in sent] == [("sent", False)] * 2, sent
    own = [r.kind for r in j.rows(actor=number, kind=["sent", "refused"])]
    assert own == ["sent", "refused"] * 2, own
    assert {r.payload for r in j.rows(actor=number, kind="refused")} == {"stopped"}
    report = journal.replay(
        path, Teller, journal.StandInRef("gone"), actor=number,
        schema=mycelium.trading, services=["gone"],
    )
    assert report.ok and report.inputs == 1, str(report)


class Gate(mycelium.Actor):
    """Waits in its first handler until released, so that its mailbox fills."""

    def on_start(self, args):
        self.entered, self.release = args

    @mycelium.handler(Heartbeat)
    def beat(self, h):
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(60)


class Filler(mycelium.Actor):
    """Tells the service `gate` without waiting until its mailbox is full, and answers how
    many tells it took."""

    @mycelium.handler(Heartbeat)
    def beat(self, h):
        for told in range(100_000):
            try:
                self.bus.ref("gate").try_tell(h)
            except mycelium.MailboxFull:
                return Heartbeat(ts_ns=h.ts_ns, seq=told, sender="filler")
        return Heartbeat(ts_ns=h.ts_ns, seq=-1, sender="filler")


def test_a_try_tell_into_a_full_mailbox_by_service_name_is_refused_again_in_its_replay(tmp_path):
    """The replay's stand-in for `gate` would take every tell: the replay refuses the one
    that met the full mailbox live, so the actor stops where it stopped."""
    path = str(tmp_path / "full")
    rec = journal.Recorder(path, schema=mycelium.trading)
    entered, release = threading.Event(), threading.Event()
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        gate = bus.spawn(Gate, (entered, release), service="gate")
        gate.tell(hb(0))
        assert entered.wait(60)
        filler = bus.spawn(Filler)
        took = filler.ask(hb(1)).seq
        release.set()
    rec.close()
    assert took > 0
    j = journal.Journal(path)
    number = j.rows(kind="started", type="Filler")[0].actor
    own = [r.kind for r in j.rows(actor=number, kind=["sent", "refused"])]
    assert own == ["sent"] * (took + 1) + ["refused"], own[-3:]
    assert j.rows(actor=number, kind="refused")[0].payload == "full"
    report = journal.replay(
        path, Filler, None, actor=number, schema=mycelium.trading, services=["gate"],
    )
    assert report.ok and report.inputs == 1, str(report)
    with pytest.raises(ValueError, match='"late" is no refusal'):
        rec.serve_refusals([[(0, "late")]])


class Stamper(mycelium.Actor):
    """Answers each heartbeat with the bus time its handler read, in nanoseconds."""

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        return Heartbeat(ts_ns=int(self.bus.now() * 1e9), seq=hb.seq, sender="stamper")


def test_the_bus_time_a_handler_reads_is_recorded_and_read_back_in_its_replay(tmp_path):
    """On a real-time bus the readings fall between the replay's fed times: recorded, each
    replayed handler reads the one it read live."""
    path = str(tmp_path / "stamps")
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        stamper = bus.spawn(Stamper)
        stamps = [stamper.ask(hb(seq)).ts_ns for seq in range(1, 6)]
    rec.close()
    j = journal.Journal(path)
    reads = [r.payload for r in j.rows(kind="clock-read")]
    # (The handler's stamps went through a float of seconds.)
    assert len(reads) == 5 and all(abs(r - s) < 1000 for r, s in zip(reads, stamps)), (reads, stamps)
    report = journal.replay(path, Stamper, schema=mycelium.trading)
    assert report.ok and report.inputs == 5, str(report)
    with journal.ReplaySet(path, schema=mycelium.trading) as replay:
        replay.spawn(Stamper)
        report = replay.run(mode="compare")
    assert report.ok, str(report)


class Venue(mycelium.Actor):
    """Answers a heartbeat with ten times its sequence number."""

    @mycelium.handler(Heartbeat)
    def quote(self, hb):
        return Heartbeat(ts_ns=hb.ts_ns, seq=hb.seq * 10, sender="venue")


class Trader(mycelium.Actor):
    """Given the venue's ref at spawn: asks it for each heartbeat, tells it the answer plus
    one, and answers with the venue's answer."""

    step = 1

    def on_start(self, venue):
        self.venue = venue

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        quoted = self.venue.ask(hb)
        self.venue.tell(Heartbeat(ts_ns=hb.ts_ns, seq=quoted.seq + self.step, sender="trader"))
        return quoted


class TraderV2(Trader):
    step = 2


def test_an_actor_given_a_ref_at_spawn_is_replayed_alone_against_a_stand_in(tmp_path):
    path = str(tmp_path / "desk")
    rec = journal.Recorder(path, schema=mycelium.trading)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        venue = bus.spawn(Venue)
        trader = bus.spawn(Trader, venue)
        assert [trader.ask(hb(n)).seq for n in (1, 2)] == [10, 20]
    rec.close()
    number = journal.Journal(path).rows(kind="started", type="Trader")[0].actor
    # The venue's ref given at spawn live: a stand-in answering as the venue did.
    report = journal.replay(
        path, Trader, journal.StandInRef("venue"), actor=number,
        schema=mycelium.trading, services=["venue"],
    )
    assert report.ok and report.inputs == 2, str(report)
    report = journal.replay(
        path, TraderV2, journal.StandInRef("venue"), actor=number,
        schema=mycelium.trading, services=["venue"], mode="compare",
    )
    assert [d.input for d in report.differences] == [0, 1], str(report)
    assert "seq=11" in report.differences[0].recorded and "seq=12" in report.differences[0].now
    with pytest.raises(journal.ReplayError, match="in no replay"):
        journal.StandInRef("venue").tell(hb(1))


class Beat:
    """A plain object a timer sends."""


class Metronome(mycelium.Actor):
    """Counts its timer's beats (a plain object or a schema message, as `args` says) and
    answers an ask with the count plus the number asked. 13 fails it after computing for
    30 ms, while its 5 ms timer fires: those beats, left in the mailbox, are handled by the
    restarted incarnation."""

    def on_start(self, plain):
        self.beats = 0
        self.send_interval(Beat() if plain else Heartbeat(ts_ns=0, seq=0, sender="timer"), 0.005)

    @mycelium.handler(Beat)
    def beat(self, _):
        self.beats += 1

    @mycelium.handler(Heartbeat)
    def asked(self, msg):
        if msg.sender == "timer":
            self.beats += 1
            return None
        if msg.seq == 13:
            end = time.monotonic() + 0.03
            while time.monotonic() < end:
                pass  # computing: the timer fires meanwhile
            raise ValueError("unlucky 13")
        return Heartbeat(ts_ns=0, seq=self.beats + msg.seq, sender="metronome")


@pytest.mark.parametrize("plain", [True, False], ids=["plain-object", "schema-message"])
def test_timer_messages_a_failure_left_in_the_mailbox_reach_the_restart_and_its_replays(
    tmp_path, plain
):
    path = str(tmp_path / "metronome")
    rec = journal.Recorder(path, schema=mycelium.trading, pickle=True)
    with mycelium.Bus(schema=mycelium.trading, record=rec) as bus:
        tree = bus.supervise(
            [mycelium.python_child("metronome", Metronome, plain)],
            backoff=mycelium.Backoff(0.001, 1.0, 0.001),
        )
        metronome = tree.child("metronome")
        metronome.ask(hb(1))
        with pytest.raises(ValueError):
            metronome.ask(hb(13))
        tree.wait_restarts(1, "metronome")
        metronome.ask(hb(4))
        tree.stop()
    rec.close()
    rows = journal.Journal(path, schema=mycelium.trading).rows()
    restarted = next(i for i, r in enumerate(rows) if r.kind == "restarted")
    first = next(r for r in rows[restarted:] if r.kind == "handled")
    # The restarted incarnation began with a beat its predecessor's timer left queued.
    assert first.origin == ("timer", 0), first

    report = journal.replay(path, Metronome, plain, schema=mycelium.trading, mode="compare")
    assert report.ok, str(report)
    with journal.ReplaySet(path, schema=mycelium.trading) as replay:
        replay.spawn(Metronome, plain)
        report = replay.run(mode="compare")
    assert report.ok, str(report)
