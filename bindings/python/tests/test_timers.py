"""A Python actor's timers (`Actor.send_after`, `Actor.send_interval`): they fire on bus time
(virtual time included) through the mailbox, in order with the actor's other mail; a cancelled
timer and the timers of an ended incarnation send nothing more; a restarted actor numbers its
timers from 0 again; a recorded actor's firings are journal inputs of origin ``timer N``, and
a replay (of the actor alone, or of a set) reproduces them."""

import dataclasses
import threading

import pytest

import mycelium
from mycelium import journal
from mycelium.trading import Heartbeat


@dataclasses.dataclass
class Tick:
    """A plain object (not a schema message)."""

    name: str


class Ticker(mycelium.Actor):
    """Sets a 10 ms interval and a 25 ms one-shot of plain ticks and a 35 ms one-shot of a
    schema message; writes what it handles with the bus time (ms) and its incarnation to
    `seen` (its argument); cancels the interval at 40 ms, raises on its first tick after a
    restart if `fail_at` is set, and stops itself at 60 ms."""

    fail_at = None

    def on_start(self, seen):
        self.seen = seen
        self.incarnation = sum(1 for s in seen if s[1] == "start") + 1
        self.seen.append((self.ms(), "start", self.incarnation))
        self.interval = self.send_interval(Tick("interval"), 0.010)
        once = self.send_after(Tick("once"), 0.025)
        self.send_after(Heartbeat(ts_ns=0, seq=1, sender="timer"), 0.035)
        assert (self.interval.number, once.number) == (0, 1)

    def ms(self):
        return round(self.bus.now() * 1000)

    @mycelium.handler(Tick)
    def tick(self, tick):
        now = self.ms()
        self.seen.append((now, tick.name, self.incarnation))
        self.publish(Heartbeat(ts_ns=now, seq=len(self.seen), sender=tick.name))
        if self.fail_at is not None and now == self.fail_at:
            raise ValueError(f"fails at {now} ms")
        if now >= 40:
            self.interval.cancel()
            assert not self.interval.is_active()
            self.send_after(Tick("last"), 0.020)
        if tick.name == "last":
            self.ref.stop()

    @mycelium.handler(Heartbeat)
    def beat(self, hb):
        self.seen.append((self.ms(), f"beat {hb.seq}", self.incarnation))


EXPECTED = [
    (0, "start", 1),
    (10, "interval", 1),
    (20, "interval", 1),
    (25, "once", 1),
    (30, "interval", 1),
    (35, "beat 1", 1),
    (40, "interval", 1),
    (60, "last", 1),
]


def test_timers_fire_on_virtual_time_in_order_and_a_cancelled_interval_stops():
    seen = []
    with mycelium.Bus(virtual_time=True, schema=mycelium.trading) as bus:
        ref = bus.spawn(Ticker, seen)
        ref.wait_for_stop()
    assert seen == EXPECTED


def test_timers_of_one_deadline_fire_in_the_order_they_were_set():
    class Five(mycelium.Actor):
        def on_start(self, out):
            self.out = out
            for i in range(5):
                self.send_after(Tick(str(i)), 0.010)
            self.send_after(Tick("end"), 0.020)

        @mycelium.handler(Tick)
        def tick(self, tick):
            self.out.append(tick.name)
            if tick.name == "end":
                for i in range(5, 10):
                    self.send_after(Tick(str(i)), 0.010)
                self.send_after(Tick("stop"), 0.020)
            if tick.name == "stop":
                self.ref.stop()

    for _ in range(5):
        out = []
        with mycelium.Bus(virtual_time=True) as bus:
            bus.spawn(Five, out).wait_for_stop()
        assert out == [str(i) for i in range(5)] + ["end"] + [str(i) for i in range(5, 10)] + ["stop"]


def test_timers_fire_on_a_real_time_bus():
    fired = threading.Event()

    class Once(mycelium.Actor):
        def on_start(self, _):
            self.send_after(Tick("once"), 0.005)

        @mycelium.handler(Tick)
        def tick(self, tick):
            fired.set()

    with mycelium.Bus() as bus:
        bus.spawn(Once)
        assert fired.wait(10), "the timer fired"


class Failing(Ticker):
    fail_at = 20


def test_a_restart_cancels_the_timers_of_the_incarnation_that_failed():
    seen = []
    with mycelium.Bus(virtual_time=True, schema=mycelium.trading) as bus:
        tree = bus.supervise(
            [mycelium.python_child("ticker", Failing, seen, restart="transient")],
            backoff=mycelium.Backoff(0.0, 1.0, 0.0),
        )
        tree.child("ticker").wait_for_stop()
    # Restarted at 20 ms: the first incarnation's one-shots (25, 35 ms) never fire, and the
    # second's timers count from its start.
    assert seen == [
        (0, "start", 1),
        (10, "interval", 1),
        (20, "interval", 1),
        (20, "start", 2),
        (30, "interval", 2),
        (40, "interval", 2),
        (45, "once", 2),
        (55, "beat 1", 2),
        (60, "last", 2),
    ], seen


def test_timers_refuse_what_they_cannot_send():
    errors = {}

    class Careful(mycelium.Actor):
        def on_start(self, _):
            for name, call in {
                "negative": lambda: self.send_after(Tick("x"), -1.0),
                "zero period": lambda: self.send_interval(Tick("x"), 0.0),
                "sub-ms period": lambda: self.send_interval(Tick("x"), 0.0005),
                "nan": lambda: self.send_after(Tick("x"), float("nan")),
                "no handler": lambda: self.send_after(3.5, 0.1),
                "schema without handler": lambda: self.send_after(
                    mycelium.trading.Quote(ts_ns=0, instrument=1, bid_px=1, bid_qty=1, ask_px=2, ask_qty=1),
                    0.1,
                ),
            }.items():
                try:
                    call()
                except Exception as e:  # noqa: BLE001 - the test records what was raised
                    errors[name] = e

        @mycelium.handler(Tick)
        def tick(self, tick):
            pass

    with mycelium.Bus(virtual_time=True, schema=mycelium.trading) as bus:
        bus.spawn(Careful)
    assert isinstance(errors["negative"], ValueError)
    assert "non-negative" in str(errors["negative"])
    assert isinstance(errors["zero period"], ValueError)
    assert "period must be at least 0.001 seconds" in str(errors["zero period"])
    assert isinstance(errors["sub-ms period"], ValueError)
    assert isinstance(errors["nan"], ValueError)
    assert isinstance(errors["no handler"], mycelium.MessageTypeError)
    assert "float" in str(errors["no handler"])
    assert isinstance(errors["schema without handler"], mycelium.MessageTypeError)
    assert "Careful has no @handler(Quote)" in str(errors["schema without handler"])


def test_a_timer_is_refused_once_the_actor_has_stopped_or_before_it_is_spawned():
    instances = []

    class Kept(mycelium.Actor):
        def on_start(self, _):
            instances.append(self)

        @mycelium.handler(Tick)
        def tick(self, tick):
            pass

    with mycelium.Bus() as bus:
        ref = bus.spawn(Kept)
        ref.stop()
        ref.wait_for_stop()
        with pytest.raises(mycelium.ActorStopped, match="it sets no timer"):
            instances[0].send_after(Tick("late"), 0.01)
    with pytest.raises(mycelium.ActorStopped, match="Kept is not running"):
        Kept().send_after(Tick("early"), 0.01)


def record(path, cls=Ticker):
    rec = journal.Recorder(path, schema=mycelium.trading, pickle=True)
    seen = []
    with mycelium.Bus(virtual_time=True, schema=mycelium.trading, record=rec) as bus:
        bus.spawn(cls, seen).wait_for_stop()
    rec.close()
    return seen


def test_a_recorded_actors_firings_are_inputs_from_its_timers(tmp_path):
    path = str(tmp_path / "ticker")
    assert record(path) == EXPECTED
    rows = journal.Journal(path, schema=mycelium.trading).rows()
    handled = [(r.time_ns // 1_000_000, r.origin) for r in rows if r.kind == "handled"]
    assert handled == [
        (10, ("timer", 0)),
        (20, ("timer", 0)),
        (25, ("timer", 1)),
        (30, ("timer", 0)),
        (35, ("timer", 2)),
        (40, ("timer", 0)),
        (60, ("timer", 3)),
    ]
    fired = [(r.time_ns // 1_000_000, r.origin) for r in rows if r.kind == "timer-fired"]
    assert fired == handled


class TickerV2(Ticker):
    """A new version: its last tick comes 30 ms after the cancel, not 20."""

    @mycelium.handler(Tick)
    def tick(self, tick):
        now = self.ms()
        self.seen.append((now, tick.name, self.incarnation))
        self.publish(Heartbeat(ts_ns=now, seq=len(self.seen), sender=tick.name))
        if now >= 40 and tick.name != "last":
            self.interval.cancel()
            self.send_after(Tick("last"), 0.030)
        if tick.name == "last":
            self.ref.stop()


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "as-a-set"])
def test_a_replay_fires_the_timers_as_recorded(tmp_path, alone):
    path = str(tmp_path / "ticker")
    record(path)

    def replay(cls):
        if alone:
            return journal.replay(path, cls, [], actor=1, schema=mycelium.trading, mode="compare")
        with journal.ReplaySet(path, schema=mycelium.trading) as replay_set:
            replay_set.spawn(cls, [], actor=1)
            return replay_set.run(mode="compare").actors[0]

    report = replay(Ticker)
    assert report.ok, str(report)
    assert report.inputs == 7
    # A changed version: only a set's replay runs its timers (one actor alone is fed the
    # recorded firings), so only there does the moved timer change what it handles.
    changed = replay(TickerV2)
    assert changed.ok == alone, str(changed)


@dataclasses.dataclass
class Timeout:
    i: int


class Feed(mycelium.Actor):
    """Publishes a quote every 0.25 s, eight in all."""

    def on_start(self, _):
        self.n = 0
        self.timer = self.send_interval(Heartbeat(ts_ns=0, seq=0, sender="feed"), 0.25)

    @mycelium.handler(Heartbeat)
    def tick(self, _):
        self.n += 1
        self.publish(
            mycelium.trading.Quote(
                ts_ns=self.n, instrument=1, bid_px=float(self.n), bid_qty=1, ask_px=1, ask_qty=1
            )
        )
        if self.n == 8:
            self.timer.cancel()


class Strat(mycelium.Actor):
    """Sets a 0.5 s timeout on each odd quote, due with a later quote and with its own 0.75 s
    beat; publishes what it handles; sets `done` (its argument) at its third beat."""

    def on_start(self, done):
        self.done = done
        self.beats = 0
        self.subscribe(mycelium.trading.Quote)
        self.beat = self.send_interval(Tick("beat"), 0.75)

    @mycelium.handler(Tick)
    def on_beat(self, _):
        self.beats += 1
        self.publish(Heartbeat(ts_ns=self.beats, seq=3, sender="beat"))
        if self.beats == 3:
            self.beat.cancel()
            self.done.set()

    @mycelium.handler(mycelium.trading.Quote)
    def quote(self, q):
        if q.ts_ns % 2 == 1:
            self.send_after(Timeout(q.ts_ns), 0.5)
        self.publish(Heartbeat(ts_ns=q.ts_ns, seq=1, sender="quote"))

    @mycelium.handler(Timeout)
    def timeout(self, t):
        self.publish(Heartbeat(ts_ns=t.i, seq=2, sender="timeout"))


def test_a_set_replays_timers_due_with_another_members_message_in_their_recorded_order(tmp_path):
    path = str(tmp_path / "desk")
    rec = journal.Recorder(path, schema=mycelium.trading, pickle=True)
    done = threading.Event()
    with mycelium.Bus(virtual_time=True, schema=mycelium.trading, record=rec) as bus:
        bus.supervise([mycelium.python_child("strat", Strat, done), mycelium.python_child("feed", Feed)])
        assert done.wait(30)
    rec.close()
    rows = journal.Journal(path).rows(kind="handled")
    strat = next(r.actor for r in journal.Journal(path).rows(kind="started") if r.type == "Strat")
    at_075 = [r.type for r in rows if r.actor == strat and r.time_ns == 750_000_000]
    assert at_075 == ["pickle:test_timers.Tick", "pickle:test_timers.Timeout", "Quote"], at_075
    # Three times: the order of firings at one bus time does not depend on the machine.
    for _ in range(3):
        with journal.ReplaySet(path, schema=mycelium.trading) as replay_set:
            replay_set.spawn(Strat, threading.Event())
            replay_set.spawn(Feed)
            report = replay_set.run(mode="compare")
        assert report.ok, str(report)
