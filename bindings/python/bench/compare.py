"""Python-side benchmarks: mycelium beside pykka and plain asyncio, in one run.

    python bindings/python/bench/compare.py [--quick]

Prints one line per workload and framework:

    w10 <framework> p50_ns=.. p99_ns=..   ask round trip from a Python thread to an idle
                                          Python actor, int -> int + 1, one at a time
    w10 <framework> mean_ns=..            the same, 10,000 asks gathered at once (asyncio)
    w11 <framework> msgs_per_sec=..       tells from Python to a counter actor: a Python
                                          actor (mycelium: Heartbeat messages; -plain: ints,
                                          as pykka's; -virtual: on a virtual-time bus;
                                          -tell_async: each awaited in a coroutine),
                                          or for mycelium-rust-target the built-in Rust
                                          `counter`
    w15 <subscriber> msgs_per_sec=..      a Rust actor publishes Quote messages (44-byte
                                          body) on a topic; a subscriber actor doing
                                          nothing but count them: Python, or the same in
                                          Rust (the built-in `quote_recorder`)
    w12 <target> p50_ns=.. p99_ns=..      a Rust actor (the built-in `ask_probe`) asks a
                                          Python actor (or the Rust `counter`) in a row;
                                          -busy: while another Python thread computes

The w10 lines, each saying what it measures:

    mycelium               ask(), no timeout (the handler runs on the asking thread)
    mycelium-timeout       ask(timeout=60.0): the same path, the deadline checked
    mycelium-mailbox       ask() by service name (bus.ref): through the mailbox, the
                           handler on a pool thread, the asker waiting without the GIL
    mycelium-async         ask() to an `async def` handler (run on the thread's loop)
    mycelium-ask_async     `await ref.ask_async()` in a coroutine, one at a time
    mycelium-virtual       ask() on a virtual-time bus (a backtest's): through the
                           mailbox, the handler on a host thread in turns with the bus
    mycelium-ask_async-gathered
                           10,000 `ref.ask_async()` under one asyncio.gather (mean_ns)
    pykka, pykka-timeout   pykka ThreadingActor, ask() without / with timeout=60.0
    asyncio                one request and its reply through two asyncio.Queue, one
                           at a time (the floor of a pure-Python hand-off)
    asyncio-gathered       10,000 such round trips under one asyncio.gather (mean_ns)

For mycelium the w10 actor is a Python actor; pykka's are pykka ThreadingActors; asyncio's are
coroutines over asyncio.Queue (the floor of a pure-Python hand-off). pykka is optional:
without it its lines say so.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import mycelium
from mycelium.trading import Heartbeat, Quote


def percentiles(samples: list[int]) -> tuple[int, int]:
    samples = sorted(samples)
    p50 = samples[len(samples) // 2]
    p99 = samples[min(len(samples) - 1, (len(samples) * 99) // 100)]
    return p50, p99


# --- mycelium ---------------------------------------------------------------------------


class Plus1(mycelium.Actor):
    @mycelium.handler(Heartbeat)
    def plus1(self, hb: Heartbeat) -> Heartbeat:
        return Heartbeat(ts_ns=0, seq=hb.seq + 1, sender="")


class AsyncPlus1(mycelium.Actor):
    @mycelium.handler(Heartbeat)
    async def plus1(self, hb: Heartbeat) -> Heartbeat:
        return Heartbeat(ts_ns=0, seq=hb.seq + 1, sender="")


def mycelium_w10(
    n: int,
    warmup: int,
    actor_class=Plus1,
    timeout: float | None = None,
    by_name: bool = False,
    virtual_time: bool = False,
) -> list[int]:
    with mycelium.Bus(virtual_time=virtual_time) as bus:
        actor = bus.spawn(actor_class, service="plus1" if by_name else None)
        if by_name:
            actor = bus.ref("plus1")
        samples = []
        for i in range(warmup + n):
            msg = Heartbeat(ts_ns=0, seq=i, sender="")
            t0 = time.perf_counter_ns()
            reply = actor.ask(msg, timeout)
            t1 = time.perf_counter_ns()
            assert reply.seq == i + 1
            if i >= warmup:
                samples.append(t1 - t0)
        return samples


def mycelium_w10_ask_async(n: int, warmup: int) -> list[int]:
    with mycelium.Bus() as bus:
        actor = bus.spawn(Plus1)

        async def main() -> list[int]:
            samples = []
            for i in range(warmup + n):
                msg = Heartbeat(ts_ns=0, seq=i, sender="")
                t0 = time.perf_counter_ns()
                reply = await actor.ask_async(msg)
                t1 = time.perf_counter_ns()
                assert reply.seq == i + 1
                if i >= warmup:
                    samples.append(t1 - t0)
            return samples

        return asyncio.run(main())


def mycelium_w10_gathered(n: int) -> float:
    """Mean ns an ask of `n` `ask_async` calls gathered at once."""
    with mycelium.Bus() as bus:
        actor = bus.spawn(Plus1)
        msgs = [Heartbeat(ts_ns=0, seq=i, sender="") for i in range(n)]

        async def main() -> float:
            t0 = time.perf_counter_ns()
            replies = await asyncio.gather(*(actor.ask_async(m) for m in msgs))
            elapsed = time.perf_counter_ns() - t0
            assert [r.seq for r in replies] == list(range(1, n + 1))
            return elapsed / n

        return asyncio.run(main())

class Counter(mycelium.Actor):
    """Adds each Heartbeat's seq (or each int told) to a total; asked, answers it."""

    def on_start(self, args: object) -> None:
        self.total = 0

    @mycelium.handler(Heartbeat)
    def add(self, hb: Heartbeat) -> Heartbeat | None:
        if hb.seq == 0:
            return Heartbeat(ts_ns=0, seq=self.total, sender="")
        self.total += hb.seq
        return None

    @mycelium.handler(int)
    def add_int(self, x: int) -> int | None:
        if x == 0:
            return self.total
        self.total += x
        return None


def mycelium_w11_python(
    n: int, plain: bool = False, virtual_time: bool = False, awaited: bool = False
) -> float:
    with mycelium.Bus(virtual_time=virtual_time) as bus:
        counter = bus.spawn(Counter)
        one = 1 if plain else Heartbeat(ts_ns=0, seq=1, sender="")
        get = 0 if plain else Heartbeat(ts_ns=0, seq=0, sender="")
        t0 = time.perf_counter()
        if awaited:

            async def tell_all() -> None:
                for _ in range(n):
                    await counter.tell_async(one)

            asyncio.run(tell_all())
        else:
            for _ in range(n):
                counter.tell(one)
        total = counter.ask(get, 60.0)
        elapsed = time.perf_counter() - t0
        total = total if plain else total.seq
        assert total == n, total
        return n / elapsed


class QuoteCounter(mycelium.Actor):
    """Counts the quotes published on its topic; asked a Heartbeat, answers the count."""

    def on_start(self, topic: str) -> None:
        self.seen = 0
        self.subscribe(Quote, topic)

    @mycelium.handler(Quote)
    def quote(self, q: Quote) -> None:
        self.seen += 1

    @mycelium.handler(Heartbeat)
    def count(self, hb: Heartbeat) -> Heartbeat:
        return Heartbeat(ts_ns=0, seq=self.seen, sender="")


def mycelium_w15(n: int, subscriber: str) -> float:
    """A Rust actor publishes `n` quotes; the time until the subscriber has counted them."""
    with mycelium.Bus() as bus:
        topic = f"w15.{subscriber}"
        if subscriber == "python":
            counter = bus.spawn(QuoteCounter, topic)  # type: ignore[assignment]
        else:
            counter = bus.spawn_rust("quote_recorder", "recorder", topic)
        source = bus.spawn_rust("quote_source", "source", topic)
        t0 = time.perf_counter()
        published = source.ask(Heartbeat(ts_ns=0, seq=n, sender=""), 600.0).seq
        seen = counter.ask(Heartbeat(ts_ns=0, seq=0, sender=""), 600.0).seq
        elapsed = time.perf_counter() - t0
        assert published == n and seen == n, (published, seen)
        return n / elapsed


def mycelium_w12(n: int, target: str, busy: bool) -> tuple[int, int]:
    """A Rust actor asks `target` n times in a row; (p50, p99) in ns, measured in Rust."""
    import threading

    with mycelium.Bus() as bus:
        if target == "python":
            bus.spawn(Plus1, service="target")
        else:
            bus.spawn_rust("counter", "target")
        probe = bus.spawn_rust("ask_probe", "probe", "target")
        stop = threading.Event()

        def compute() -> None:
            x = 0
            while not stop.is_set():
                for i in range(10_000):
                    x += i * i

        worker = threading.Thread(target=compute)
        if busy:
            worker.start()
        try:
            answer = probe.ask(Heartbeat(ts_ns=0, seq=n, sender=""), 600.0)
        finally:
            stop.set()
            if busy:
                worker.join()
        return answer.ts_ns, answer.seq


def mycelium_w11(n: int) -> float:
    with mycelium.Bus() as bus:
        counter = bus.spawn_rust("counter", "counter")
        one = Heartbeat(ts_ns=0, seq=1, sender="")
        t0 = time.perf_counter()
        for _ in range(n):
            counter.tell(one)
        total = counter.ask(Heartbeat(ts_ns=0, seq=0, sender="")).seq
        elapsed = time.perf_counter() - t0
        assert total == n, total
        return n / elapsed


# --- pykka ------------------------------------------------------------------------------


def pykka_w10(n: int, warmup: int, timeout: float | None = None) -> list[int]:
    import pykka

    class Plus1Actor(pykka.ThreadingActor):
        def on_receive(self, message):
            return message + 1

    ref = Plus1Actor.start()
    try:
        samples = []
        for i in range(warmup + n):
            t0 = time.perf_counter_ns()
            reply = ref.ask(i, timeout=timeout)
            t1 = time.perf_counter_ns()
            assert reply == i + 1
            if i >= warmup:
                samples.append(t1 - t0)
        return samples
    finally:
        ref.stop()


def pykka_w11(n: int) -> float:
    import pykka

    class Counter(pykka.ThreadingActor):
        def __init__(self):
            super().__init__()
            self.total = 0

        def on_receive(self, message):
            if message == "get":
                return self.total
            self.total += message

    ref = Counter.start()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            ref.tell(1)
        total = ref.ask("get")
        elapsed = time.perf_counter() - t0
        assert total == n
        return n / elapsed
    finally:
        ref.stop()


# --- asyncio ----------------------------------------------------------------------------


def asyncio_w10(n: int, warmup: int) -> list[int]:
    async def main() -> list[int]:
        requests: asyncio.Queue = asyncio.Queue()
        replies: asyncio.Queue = asyncio.Queue()

        async def server():
            while True:
                x = await requests.get()
                await replies.put(x + 1)

        task = asyncio.create_task(server())
        samples = []
        for i in range(warmup + n):
            t0 = time.perf_counter_ns()
            await requests.put(i)
            reply = await replies.get()
            t1 = time.perf_counter_ns()
            assert reply == i + 1
            if i >= warmup:
                samples.append(t1 - t0)
        task.cancel()
        return samples

    return asyncio.run(main())


def asyncio_w10_gathered(n: int) -> float:
    """Mean ns a round trip of `n` requests gathered at once, each with its reply future."""

    async def main() -> float:
        requests: asyncio.Queue = asyncio.Queue()

        async def server():
            while True:
                x, reply = await requests.get()
                reply.set_result(x + 1)

        task = asyncio.create_task(server())
        loop = asyncio.get_running_loop()

        async def ask(x: int) -> int:
            reply = loop.create_future()
            await requests.put((x, reply))
            return await reply

        t0 = time.perf_counter_ns()
        replies = await asyncio.gather(*(ask(i) for i in range(n)))
        elapsed = time.perf_counter_ns() - t0
        assert replies == list(range(1, n + 1))
        task.cancel()
        return elapsed / n

    return asyncio.run(main())


def asyncio_w11(n: int) -> float:
    async def main() -> float:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1024)
        done = asyncio.get_running_loop().create_future()

        async def counter():
            total = 0
            while total < n:
                total += await queue.get()
            done.set_result(total)

        task = asyncio.create_task(counter())
        t0 = time.perf_counter()
        for _ in range(n):
            await queue.put(1)
        total = await done
        elapsed = time.perf_counter() - t0
        await task
        assert total == n
        return n / elapsed

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    o = parser.parse_args()
    asks, tells, warmup = (300, 5_000, 50) if o.quick else (5_000, 200_000, 500)
    quotes, probes = (20_000, 2_000) if o.quick else (500_000, 20_000)

    try:
        import pykka  # noqa: F401

        have_pykka = True
    except ImportError:
        have_pykka = False

    w10 = [
        ("mycelium", mycelium_w10),
        ("mycelium-timeout", lambda n, w: mycelium_w10(n, w, timeout=60.0)),
        ("mycelium-mailbox", lambda n, w: mycelium_w10(n, w, by_name=True)),
        ("mycelium-async", lambda n, w: mycelium_w10(n, w, AsyncPlus1)),
        ("mycelium-ask_async", mycelium_w10_ask_async),
        ("mycelium-virtual", lambda n, w: mycelium_w10(n, w, virtual_time=True)),
        ("asyncio", asyncio_w10),
    ]
    gathered = [
        ("mycelium-ask_async-gathered", mycelium_w10_gathered),
        ("asyncio-gathered", asyncio_w10_gathered),
    ]
    w11 = [
        ("mycelium", mycelium_w11_python),
        ("mycelium-plain", lambda n: mycelium_w11_python(n, plain=True)),
        ("mycelium-virtual", lambda n: mycelium_w11_python(n, virtual_time=True)),
        ("mycelium-tell_async", lambda n: mycelium_w11_python(n, awaited=True)),
        ("mycelium-rust-target", mycelium_w11),
        ("asyncio", asyncio_w11),
    ]
    if have_pykka:
        w10.insert(1, ("pykka", pykka_w10))
        w10.insert(3, ("pykka-timeout", lambda n, w: pykka_w10(n, w, timeout=60.0)))
        w11.insert(1, ("pykka", pykka_w11))
    for name, run in w10:
        p50, p99 = percentiles(run(asks, warmup))
        print(f"w10 {name} p50_ns={p50} p99_ns={p99}", flush=True)
    for name, run in gathered:
        mean = statistics.median(run(10_000) for _ in range(3))
        print(f"w10 {name} mean_ns={mean:.0f}", flush=True)
    if not have_pykka:
        print("w10 pykka skipped: pip install 'pykka>=4,<5'")
    for name, run in w11:
        rates = [run(tells) for _ in range(3)]
        print(f"w11 {name} msgs_per_sec={statistics.median(rates):.0f}", flush=True)
    if not have_pykka:
        print("w11 pykka skipped: pip install 'pykka>=4,<5'")
    for subscriber in ("python", "rust"):
        rates = [mycelium_w15(quotes, subscriber) for _ in range(3)]
        print(f"w15 {subscriber} msgs_per_sec={statistics.median(rates):.0f}", flush=True)
    for target, busy in (("python", False), ("python", True), ("rust", False)):
        p50, p99 = mycelium_w12(probes, target, busy)
        name = target + ("-busy" if busy else "")
        print(f"w12 {name} p50_ns={p50} p99_ns={p99}", flush=True)


if __name__ == "__main__":
    main()
