"""The GIL and threads: waits release the GIL; Python actors share the host threads."""

import os
import subprocess
import sys
import textwrap
import threading

import mycelium
from mycelium.trading import Heartbeat
from conftest import Echo, hb


def test_the_gil_is_released_while_python_waits_on_an_actor(bus):
    entered = threading.Event()
    release = threading.Event()
    progress = []

    class Blocking(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            entered.set()
            release.wait()
            return msg

    blocking = bus.spawn(Blocking)
    echo = bus.spawn(Echo)

    def other_thread():
        entered.wait()
        # Pure Python work and an ask to another Python actor, while the main thread is
        # blocked in an ask and the first actor's handler is blocked too.
        progress.append(sum(range(100_000)))
        progress.append(echo.ask(hb(1)).seq)
        release.set()

    t = threading.Thread(target=other_thread)
    t.start()
    # With a timeout the ask goes through the mailbox (an idle actor's handler would run on
    # this thread otherwise): this thread waits on the host thread without the GIL.
    assert blocking.ask(hb(7), timeout=60.0).seq == 7
    t.join()
    assert progress == [sum(range(100_000)), 2]


def test_many_python_actors_share_a_few_threads(bus):
    threads = set()

    class Where(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            threads.add(threading.get_ident())
            return msg

    for i in range(200):
        bus.spawn(Where, service=f"where{i}")
    # By service name: through the mailbox, never on this thread.
    actors = [bus.ref(f"where{i}") for i in range(200)]
    for _ in range(3):
        for a in actors:
            a.ask(hb(1), timeout=60.0)
    assert threading.get_ident() not in threads
    assert len(threads) < 20


def test_an_ask_to_an_idle_actor_runs_its_handler_on_the_calling_thread(bus):
    threads = []

    class Where(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            threads.append(threading.get_ident())
            return Heartbeat(ts_ns=0, seq=msg.seq + 1, sender="")

    actor = bus.spawn(Where)
    assert actor.ask(hb(1)).seq == 2
    assert threads == [threading.get_ident()]
    # Tells go through the mailbox, to a host thread.
    actor.tell(hb(1))
    actor.ask(hb(1), timeout=60.0)
    assert threads[1] != threading.get_ident() and threads[2] != threading.get_ident()


def test_a_direct_ask_waits_its_turn_behind_queued_messages(bus):
    entered = threading.Event()
    release = threading.Event()
    log = []

    class Ordered(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            if msg.sender == "block":
                entered.set()
                release.wait()
            log.append(msg.seq)
            return Heartbeat(ts_ns=0, seq=len(log), sender="")

    actor = bus.spawn(Ordered)
    actor.tell(hb(1, sender="block"))
    actor.tell(hb(2))
    actor.tell(hb(3))
    entered.wait()
    release.set()
    # Messages 2 and 3 may still be queued: the ask is handled after them, wherever it runs.
    assert actor.ask(hb(4)).seq == 4
    assert log == [1, 2, 3, 4]


def test_an_ask_from_another_thread_while_a_handler_runs_goes_through_the_mailbox(bus):
    entered = threading.Event()
    release = threading.Event()
    threads = {}
    running = []
    overlaps = []

    class Busy(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            if running:
                overlaps.append(msg.seq)
            running.append(msg.seq)
            threads[msg.seq] = threading.get_ident()
            if msg.sender == "block":
                entered.set()
                release.wait()
            running.remove(msg.seq)
            return msg

    actor = bus.spawn(Busy)
    answers = []
    blocker = threading.Thread(target=lambda: answers.append(actor.ask(hb(1, sender="block"))))
    blocker.start()
    entered.wait()
    # The first handler runs (on the blocker's thread): this ask may not run beside it.
    asker = threading.Thread(target=lambda: answers.append(actor.ask(hb(2))))
    asker.start()
    release.set()
    blocker.join()
    asker.join()
    assert sorted(a.seq for a in answers) == [1, 2]
    assert threads[1] == blocker.ident
    assert threads[2] != threads[1]
    assert overlaps == []


def test_ctrl_c_shuts_the_bus_down_cleanly(tmp_path):
    script = tmp_path / "host.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal
            import mycelium
            from mycelium.trading import Heartbeat

            # Ctrl-C raises KeyboardInterrupt even where this process was started with SIGINT
            # ignored (as a shell does for a command it runs in the background).
            signal.signal(signal.SIGINT, signal.default_int_handler)
            stops = []

            class Interrupter(mycelium.Actor):
                @mycelium.handler(Heartbeat)
                def ping(self, msg):
                    os.kill(os.getpid(), signal.SIGINT)

                def on_stop(self, reason):
                    stops.append("on_stop ran")

            try:
                with mycelium.Bus() as bus:
                    bus.spawn(Interrupter).tell(Heartbeat(ts_ns=0, seq=0, sender=""))
                    print(bus.run_forever())
            except KeyboardInterrupt:
                print("interrupted")
            print(stops)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert "interrupted" in done.stdout
    assert "'on_stop ran']" in done.stdout, lines
