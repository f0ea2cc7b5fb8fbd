"""Python over topology.toml: two processes, each a node, over Unix sockets in a temporary
directory. The child process hosts a Python actor exported as a service; this process asks
it, and the child asks a Rust actor exported here."""

import contextlib
import os
import queue
import subprocess
import sys
import textwrap

import pytest

import mycelium
from mycelium.trading import Heartbeat, Quote
from conftest import Echo, hb

SECRET_ENV = "MYCELIUM_PY_TOPOLOGY_TEST_SECRET"

CHILD = textwrap.dedent(
    """
    import os
    import sys
    import mycelium
    from mycelium.trading import Heartbeat

    class Model(mycelium.Actor):
        @mycelium.handler(Heartbeat)
        def ping(self, msg):
            if msg.sender == "boom":
                raise ValueError("boom in the other process")
            if msg.sender == "die":
                os._exit(3)
            if msg.sender == "publish":
                # Forwarded to the nodes that subscribed to "hb.*" here.
                self.publish(Heartbeat(ts_ns=0, seq=msg.seq, sender="b"), "hb.b")
            return Heartbeat(ts_ns=0, seq=msg.seq * 10, sender="model")

    topology, = sys.argv[1:]
    with mycelium.Bus() as bus:
        bus.spawn(Model, service="model")
        with bus.join(topology, "b") as node:
            node.forward_topic(Heartbeat)
            # The first node's Rust counter, over the link.
            counter = node.ref("counter")
            counter.tell(Heartbeat(ts_ns=0, seq=5, sender=""))
            print("count", counter.ask(Heartbeat(ts_ns=0, seq=0, sender=""), timeout=60.0).seq, flush=True)
            # Serve until the parent closes stdin.
            sys.stdin.read()
    """
)


def write_topology(tmp_path, link=""):
    """The two-node topology; `link`, if given, is the body of its `[link]` table."""
    topology = tmp_path / "topology.toml"
    topology.write_text(
        f'secret_env = "{SECRET_ENV}"\n'
        + (f"[link]\n{link}\n" if link else "")
        + '[[node]]\nname = "a"\nendpoint = "unix:a.sock"\nservices = ["counter"]\n'
        '[[node]]\nname = "b"\nendpoint = "unix:b.sock"\nservices = ["model"]\n'
    )
    return topology


@contextlib.contextmanager
def node_b(tmp_path, topology):
    """Node b in its own process, once the link is up both ways (it has asked node a's
    counter, after telling it 5). On leaving, its stdin is closed and it ends by itself
    (killed after 60 s)."""
    script = tmp_path / "node_b.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(topology)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        line = child.stdout.readline()
        if line.split() != ["count", "5"]:
            child.stdin.close()
            try:
                _, err = child.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                _, err = child.communicate()
            pytest.fail(f"node b did not come up: it printed {line!r}; its stderr:\n{err}")
        yield child
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
            child.stderr.close()


def test_two_processes_reach_each_others_services_through_a_topology(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "a secret of at least sixteen bytes")
    topology = write_topology(tmp_path)
    with mycelium.Bus() as bus:
        bus.spawn_rust("counter", "counter")
        with bus.join(str(topology), "a") as node:
            # Entered once the child has asked our counter after telling it 5.
            with node_b(tmp_path, topology) as child:
                assert node.name == "a"
                assert node.is_remote("model") and not node.is_remote("counter")
                model = node.ref("model")
                # A Python actor in the other process, over the link.
                assert model.ask(hb(4), timeout=60.0).seq == 40
                # Its failure comes back as a failure.
                with pytest.raises(mycelium.ActorFailed, match="boom in the other process"):
                    model.ask(hb(sender="boom"), timeout=60.0)
                # A local service through the node: the export table.
                assert node.ref("counter").ask(hb(0), timeout=60.0).seq == 5
                with pytest.raises(mycelium.UnknownService):
                    node.ref("nobody").ask(hb(0), timeout=60.0)
                with pytest.raises(mycelium.MessageTypeError):
                    model.tell("not a message")
                # A message type the service does not take: the same error as for a local
                # service, naming the service and the message class.
                quote = Quote(ts_ns=0, instrument=0, bid_px=0.0, bid_qty=0.0, ask_px=0.0, ask_qty=0.0)
                with pytest.raises(mycelium.MessageTypeError, match="service `model` does not handle Quote"):
                    model.ask(quote, timeout=60.0)
                with pytest.raises(mycelium.MessageTypeError, match="service `counter` does not handle Quote"):
                    node.ref("counter").ask(quote, timeout=60.0)
            assert child.returncode == 0, child.stderr.read()
            # The other node is gone: an ask to its service waits for a link that does not
            # come back, and ends at its timeout.
            with pytest.raises(mycelium.AskTimeout, match="no reply from `model`"):
                node.ref("model").ask(hb(1), timeout=0.2)


def test_a_topic_published_on_one_node_reaches_subscribers_on_the_other(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "a secret of at least sixteen bytes")
    topology = write_topology(tmp_path)
    got: "queue.Queue[tuple[int, str]]" = queue.Queue()

    class Collector(mycelium.Actor):
        def on_start(self, args):
            self.subscribe(Heartbeat, "hb.*")

        @mycelium.handler(Heartbeat)
        def seen(self, msg):
            got.put((msg.seq, msg.sender))

        @mycelium.handler(Quote)
        def flush(self, msg):
            # Answered after every heartbeat queued before it.
            return hb(0)

    with mycelium.Bus() as bus:
        bus.spawn_rust("counter", "counter")
        collector = bus.spawn(Collector)
        with bus.join(str(topology), "a") as node:
            # A bad pattern or a class that is not a contract message: refused here.
            with pytest.raises(ValueError, match="may only stand alone as the last segment"):
                node.subscribe_remote(Heartbeat, "hb.*.x")
            with pytest.raises(TypeError, match="subscribe_remote takes a contract message class"):
                node.subscribe_remote("Heartbeat", "hb.*")
            with pytest.raises(TypeError, match="forward_topic takes a contract message class"):
                node.forward_topic(int)
            # Queued on the link to b before b is up; the ask below follows it on the link.
            node.subscribe_remote(Heartbeat, "hb.*")
            with node_b(tmp_path, topology) as child:
                # b's handler publishes under "hb.b" on b's bus, which forwards it here.
                assert node.ref("model").ask(hb(7, sender="publish"), timeout=60.0).seq == 70
                assert got.get(timeout=60) == (7, "b")
                # Withdrawn: the unsubscription goes before the next ask on the link, and b's
                # publication during that ask would come before its reply.
                node.unsubscribe_remote(Heartbeat, "hb.*")
                assert node.ref("model").ask(hb(8, sender="publish"), timeout=60.0).seq == 80
                collector.ask(Quote(ts_ns=0, instrument=0, bid_px=0.0, bid_qty=0.0, ask_px=0.0, ask_qty=0.0), timeout=60.0)
                assert got.empty(), got.get_nowait()
            assert child.returncode == 0, child.stderr.read()
        assert got.empty()


def test_an_ask_in_flight_when_the_other_process_dies_fails_with_the_link(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "a secret of at least sixteen bytes")
    topology = write_topology(tmp_path)
    with mycelium.Bus() as bus:
        bus.spawn_rust("counter", "counter")
        with bus.join(str(topology), "a") as node:
            with node_b(tmp_path, topology) as child:
                # The handler ends its process: the ask fails with the link, not silently and
                # not at its timeout.
                with pytest.raises(mycelium.ActorFailed, match="went down while the ask was in flight"):
                    node.ref("model").ask(hb(sender="die"), timeout=60.0)
                assert child.wait(timeout=60) == 3


def test_a_message_too_large_for_a_frame_raises_value_error_and_the_link_lives_on(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(SECRET_ENV, "a secret of at least sixteen bytes")
    topology = write_topology(tmp_path, link="max_frame = 4096")
    with mycelium.Bus() as bus:
        bus.spawn_rust("counter", "counter")
        with bus.join(str(topology), "a") as node:
            with node_b(tmp_path, topology) as child:
                model = node.ref("model")
                big = hb(sender="x" * 10_000)
                # Refused before anything is queued, with what to change: the caller's to fix,
                # not a stopped actor.
                with pytest.raises(ValueError, match="exceeds the link's maximum of 4096"):
                    model.ask(big, timeout=60.0)
                with pytest.raises(ValueError, match="raise `max_frame` on both sides"):
                    model.tell(big)
                # The link was not touched: the next ask is answered.
                assert model.ask(hb(4), timeout=60.0).seq == 40
            assert child.returncode == 0, child.stderr.read()


def test_a_topology_that_cannot_be_used_raises_value_error(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "a secret of at least sixteen bytes")
    topology = write_topology(tmp_path)
    with mycelium.Bus(schema=mycelium.trading) as bus:
        with pytest.raises(ValueError, match="no node `nobody`"):
            bus.join(str(topology), "nobody")
        with pytest.raises(ValueError):
            bus.join(str(tmp_path / "missing.toml"), "a")


def test_remote_topic_calls_with_a_bad_type_or_a_closed_link_raise(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "a secret of at least sixteen bytes")
    topology = write_topology(tmp_path)
    with mycelium.Bus(schema=mycelium.trading) as bus:
        node = bus.join(str(topology), "a")
        # A type id that is in no contract (what a caller of the native layer could pass).
        for call in (
            lambda: node._native.forward_topic(65000),
            lambda: node._native.subscribe_remote(65000, "hb.*"),
            lambda: node._native.unsubscribe_remote(65000, "hb.*"),
        ):
            with pytest.raises(mycelium.MessageTypeError, match="type id 65000 is not a message of this bus's schema"):
                call()
        node.close()
        # Every link is closed for good: the subscription cannot be sent, and says why.
        with pytest.raises(mycelium.ActorStopped, match="the link to b is closed"):
            node.subscribe_remote(Heartbeat, "hb.*")
        # Not recorded, so asked again it fails again, and there is nothing to withdraw.
        with pytest.raises(mycelium.ActorStopped, match="the link to b is closed"):
            node.subscribe_remote(Heartbeat, "hb.*")
        node.unsubscribe_remote(Heartbeat, "hb.*")


def test_close_now_closes_every_link_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "a secret of at least sixteen bytes")
    topology = write_topology(tmp_path)
    with mycelium.Bus(schema=mycelium.trading) as bus:
        node = bus.join(str(topology), "a")
        node.close_now()
        with pytest.raises(mycelium.ActorStopped, match="the link to b is closed"):
            node.subscribe_remote(Heartbeat, "hb.*")
        node.close_now()  # a second close does nothing
