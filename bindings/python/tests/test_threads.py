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
    assert blocking.ask(hb(7)).seq == 7
    t.join()
    assert progress == [sum(range(100_000)), 2]


def test_many_python_actors_share_a_few_threads(bus):
    threads = set()

    class Where(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            threads.add(threading.get_ident())
            return msg

    actors = [bus.spawn(Where) for _ in range(200)]
    for _ in range(3):
        for a in actors:
            a.ask(hb(1))
    assert threading.get_ident() not in threads
    assert len(threads) < 20


def test_ctrl_c_shuts_the_bus_down_cleanly(tmp_path):
    script = tmp_path / "host.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal
            import mycelium
            from mycelium.trading import Heartbeat

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
