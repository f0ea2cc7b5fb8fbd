"""Recording Python actors into a journal and replaying them: a supervised actor that fails
and restarts, replayed unchanged (no difference) and changed (the report names the input and
the message), plain objects written with pickle only where the recorder allows it, and a
recording process killed with SIGKILL replayed up to its last whole record."""

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap

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
    assert report.to_csv() == "input,seq,time_ns,message,recorded,now\n"


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
    assert lines[0] == "input,seq,time_ns,message,recorded,now"
    assert lines[1].startswith(f"5,{d.seq},{d.time_ns},\"Heartbeat\",")


def test_plain_objects_are_recorded_only_where_pickle_is_allowed(tmp_path):
    rec = journal.Recorder(str(tmp_path / "no-pickle"))
    with mycelium.Bus() as bus:
        with pytest.raises(ValueError, match=r"Book cannot be recorded: it handles plain objects \(Book.note \(of Note\)\)"):
            bus.spawn(Book, record=rec)
        with pytest.raises(ValueError, match="pickle=True"):
            bus.supervise([mycelium.python_child("book", Book, record=rec)])
    rec.close()


def test_replay_names_what_it_cannot_do(tmp_path):
    path = str(tmp_path / "book")
    record_book(path, [1, 2])
    with pytest.raises(journal.ReplayError, match="no actor of type BookV2"):
        journal.replay(path, BookV2, schema=mycelium.trading)
    with pytest.raises(journal.ReplayError, match="pass schema="):
        journal.replay(path, Book)
    with pytest.raises(ValueError, match="mode is 'first' or 'compare'"):
        journal.replay(path, Book, mode="all")


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
    report = journal.replay(path, Book, 0, schema=mycelium.trading)
    assert report.ok, str(report)
    assert report.inputs == len(rows)
