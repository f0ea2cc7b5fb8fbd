"""A remote subscription's overflow policy, and the gaps it leaves, from Python: two nodes of
one topology file in this process (one bus each), linked over Unix sockets in a temporary
directory. Node `md` publishes heartbeats; node `trading` subscribes to them, and its only
subscriber holds the first one until the test lets it go, so `trading` stops taking them
and the link's queue (8) fills. Under `drop_newest` the publisher never waits: what it drops
reaches `trading` as `TopicGap`s, to a callback and to an actor."""

import queue
import threading
import time

import pytest

import mycelium
from mycelium.trading import Heartbeat
from conftest import hb

SECRET_ENV = "MYCELIUM_PY_GAP_TEST_SECRET"
N = 2_000
BOUND = 60.0  # seconds: bounds every wait, never a measured duration


def write_topology(tmp_path, subscription=""):
    topology = tmp_path / "topology.toml"
    topology.write_text(
        f'secret_env = "{SECRET_ENV}"\n[link]\nqueue_capacity = 8\n'
        '[[node]]\nname = "md"\nendpoint = "unix:md.sock"\nservices = ["counter"]\n'
        '[[node]]\nname = "trading"\nendpoint = "unix:trading.sock"\n' + subscription
    )
    return topology


def test_a_bad_overflow_is_refused_before_anything_is_sent(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "a secret of at least sixteen bytes")
    topology = write_topology(tmp_path)
    with mycelium.Bus(schema=mycelium.trading) as bus:
        with bus.join(str(topology), "trading") as node:
            with pytest.raises(
                ValueError,
                match="overflow must be one of block, drop_newest, drop_oldest, latest_per_key; got `drop_latest`",
            ):
                node.subscribe_remote(Heartbeat, "hb.*", overflow="drop_latest")
            with pytest.raises(ValueError, match="capacity applies to overflow `drop_oldest` only"):
                node.subscribe_remote(Heartbeat, "hb.*", overflow="drop_newest", capacity=8)
            with pytest.raises(ValueError, match="capacity must be 1 to"):
                node.subscribe_remote(Heartbeat, "hb.*", overflow="drop_oldest", capacity=0)
            with pytest.raises(TypeError, match="on_gap takes an ActorRef or a callable"):
                node.on_gap(42)  # type: ignore[arg-type]


def test_a_bad_overflow_in_the_topology_file_names_the_file_and_the_entry(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "a secret of at least sixteen bytes")
    topology = write_topology(
        tmp_path, '[[node.subscription]]\ntopic = "hb.*"\noverflow = "newest"\n'
    )
    with mycelium.Bus(schema=mycelium.trading) as bus:
        with pytest.raises(ValueError) as refused:
            bus.join(str(topology), "trading")
    text = str(refused.value)
    assert "topology.toml:" in text, text
    assert "node `trading`, subscription `hb.*`: unknown overflow `newest`" in text, text
    assert '"block", "drop_newest", "drop_oldest" or "latest_per_key"' in text, text


@pytest.mark.parametrize("chosen_by", ["file", "argument"])
def test_drop_newest_never_holds_up_the_publisher_and_every_drop_is_a_gap(
    tmp_path, monkeypatch, chosen_by
):
    monkeypatch.setenv(SECRET_ENV, "a secret of at least sixteen bytes")
    entry = '[[node.subscription]]\ntopic = "hb.*"\noverflow = "drop_newest"\n'
    topology = write_topology(tmp_path, entry if chosen_by == "file" else "")
    release = threading.Event()
    got: "queue.Queue[int]" = queue.Queue()
    told: "queue.Queue[tuple[str, mycelium.TopicGap]]" = queue.Queue()

    class Held(mycelium.Actor):
        """Holds the first heartbeat until the test lets it go: its node stops taking them."""

        def on_start(self, args):
            self.subscribe(Heartbeat, "hb.*")

        @mycelium.handler(Heartbeat)
        def seen(self, msg):
            release.wait(BOUND)
            got.put(msg.seq)

    class Watcher(mycelium.Actor):
        @mycelium.handler(mycelium.TopicGap)
        def gap(self, gap):
            told.put(("actor", gap))

    with mycelium.Bus(schema=mycelium.trading) as md_bus, mycelium.Bus(
        schema=mycelium.trading
    ) as trading_bus:
        md_bus.spawn_rust("counter", "counter")
        trading_bus.spawn(Held)
        watcher = trading_bus.spawn(Watcher)
        with md_bus.join(str(topology), "md") as md, trading_bus.join(
            str(topology), "trading"
        ) as trading:
            md.forward_topic(Heartbeat)
            watch = trading.on_gap(lambda gap: told.put(("callback", gap)))
            trading.on_gap(watcher)
            if chosen_by == "file":
                trading.subscribe_remote(Heartbeat, "hb.*")
            else:
                trading.subscribe_remote(Heartbeat, "hb.*", overflow="drop_newest")
            # The subscription travels before this ask on the link: once it is answered,
            # `md` forwards the heartbeats.
            trading.ref("counter").ask(hb(0), timeout=BOUND)

            delivered = []
            publisher = threading.Thread(
                target=lambda: delivered.extend(md_bus.publish(hb(i), "hb.md") for i in range(N))
            )
            publisher.start()
            publisher.join(BOUND)
            assert not publisher.is_alive(), "drop_newest held up the publisher"
            dropped = delivered.count(0)
            assert len(delivered) == N and dropped > 0, (len(delivered), dropped)

            release.set()
            received = [got.get(timeout=BOUND) for _ in range(N - dropped)]
            assert received == [i for i, d in enumerate(delivered) if d == 1], "in order"
            # The drops are told right behind the next publication the link takes.
            deadline = time.monotonic() + BOUND
            while md_bus.publish(hb(N), "hb.md") == 0:
                dropped += 1
                assert time.monotonic() < deadline, "the link never took a publication again"
                time.sleep(0.001)
            assert got.get(timeout=BOUND) == N

            counted = {"callback": 0, "actor": 0}
            while counted["callback"] < dropped or counted["actor"] < dropped:
                who, gap = told.get(timeout=BOUND)
                assert isinstance(gap, mycelium.TopicGap)
                assert (gap.source, gap.topic, gap.message, gap.reason) == (
                    "md",
                    "hb.*",
                    "Heartbeat",
                    "dropped",
                ), repr(gap)
                assert gap.type_id == Heartbeat.TYPE_ID
                assert (gap.first, gap.last) == (0, 0)
                assert "dropped by the subscription's overflow policy" in str(gap)
                assert str(gap) == gap.text
                counted[who] += gap.count
            assert counted == {"callback": dropped, "actor": dropped}
            watch.cancel()
            assert not watch.is_active()
