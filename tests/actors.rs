//! The actor core: sending, mailboxes, asks, timers, pinned actors, dead letters, kill,
//! shutdown, and isolation between buses.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use common::*;
use mycelium::actors::{
    BusExit, DeadLetterReason, Failure, MailboxConfig, OnFailure, Recipient, SpawnError,
    SpawnOptions, StopReason, TrySendError,
};
use mycelium::prelude::*;
use tokio::sync::oneshot;

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut TaskContext::from_waker(std::task::Waker::noop()))
}

#[tokio::test(start_paused = true)]
async fn full_mailbox_hands_the_message_back_and_tell_waits_for_room() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus
        .spawn_with::<Probe>(
            ProbeArgs::new("p", &log),
            SpawnOptions::new().mailbox(MailboxConfig::Bounded(2)),
        )
        .unwrap();
    let (go, wait) = oneshot::channel();
    p.tell(Block(wait)).await.unwrap();
    // Let the actor take the Block message and sit in its handler (one turn of the
    // current-thread runtime).
    tokio::task::yield_now().await;
    assert!(p.try_tell(Record(0)).is_ok());
    assert!(p.try_tell(Record(1)).is_ok());
    match p.try_tell(Record(2)) {
        Err(TrySendError::Full(Record(2))) => {}
        other => panic!("expected Full(Record(2)), got {other:?}"),
    }
    // `tell` waits while the mailbox is full...
    let mut waiting = pin!(p.tell(Record(3)));
    assert!(poll_once(waiting.as_mut()).is_pending());
    // ...and completes once the actor makes room.
    go.send(()).unwrap();
    waiting.await.unwrap();
    let seen = p.ask(Seen).await.unwrap();
    assert_eq!(seen, [0, 1, 3]);
}

#[tokio::test(start_paused = true)]
async fn tell_many_keeps_order_behind_queued_messages_and_waits_for_room() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus
        .spawn_with::<Probe>(
            ProbeArgs::new("p", &log),
            SpawnOptions::new().mailbox(MailboxConfig::Bounded(2)),
        )
        .unwrap();
    let (go, wait) = oneshot::channel();
    p.tell(Block(wait)).await.unwrap();
    tokio::task::yield_now().await; // the actor sits in the Block handler
    p.try_tell(Record(0)).unwrap();
    // More than the mailbox holds: the batch waits for room, in order.
    let mut batch = pin!(p.tell_many((1..=5).map(Record)));
    assert!(poll_once(batch.as_mut()).is_pending());
    go.send(()).unwrap();
    batch.await.unwrap();
    p.tell(Record(6)).await.unwrap();
    assert_eq!(p.ask(Seen).await.unwrap(), [0, 1, 2, 3, 4, 5, 6]);
}

#[tokio::test(start_paused = true)]
async fn tell_many_to_a_stopped_actor_hands_the_messages_back() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &log));
    p.stop();
    p.wait_for_stop().await;
    match p.tell_many([Record(1), Record(2)]).await {
        Err(SendError(back)) => assert_eq!(back.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]),
        other => panic!("expected SendError, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn stopped_actor_hands_messages_back_and_dead_letters_the_queue() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &log));
    let (go, wait) = oneshot::channel();
    p.tell(Block(wait)).await.unwrap();
    p.tell(Record(7)).await.unwrap();
    let asker = {
        let p = p.clone();
        tokio::spawn(async move { p.ask(Seen).await })
    };
    tokio::task::yield_now().await;
    p.stop(); // overtakes the queued Record(7) and Seen
    go.send(()).unwrap();
    assert_eq!(p.wait_for_stop().await, StopReason::Normal);
    assert_eq!(log.take(), ["start p", "stop p"]);

    match asker.await.unwrap() {
        Err(AskError::Stopped(StopReason::Normal)) => {}
        other => panic!("expected Stopped, got {other:?}"),
    }
    let mut letters = bus.dead_letters().drain();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters[0].message_type, "Record");
    assert_eq!(letters[0].downcast::<Record>().map(|r| r.0), Some(7));
    assert_eq!(letters[1].message_type, "Seen");
    assert!(matches!(
        letters[0].reason,
        DeadLetterReason::ActorStopped(StopReason::Normal)
    ));

    match p.try_tell(Record(8)) {
        Err(TrySendError::Closed(Record(8))) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
    match p.tell(Record(9)).await {
        Err(SendError(Record(9))) => {}
        other => panic!("expected SendError, got {other:?}"),
    }
    match p.ask(Seen).await {
        Err(AskError::Closed(Seen)) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn ask_timeout_follows_the_bus_clock() {
    let bus = virtual_bus(1);
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &Log::default()));
    p.tell(Hang).await.unwrap();
    let before = bus.now();
    match p.ask_timeout(Seen, Duration::from_secs(30)).await {
        Err(AskError::Timeout(d)) => assert_eq!(d, Duration::from_secs(30)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(bus.now() - before, Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn system_signals_overtake_user_messages() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &log));
    let (go, wait) = oneshot::channel();
    p.tell(Block(wait)).await.unwrap();
    tokio::task::yield_now().await; // the actor is now inside the Block handler
    for n in 0..5 {
        p.tell(Record(n)).await.unwrap();
    }
    p.stop();
    go.send(()).unwrap();
    p.wait_for_stop().await;
    // None of the five queued records was handled.
    assert_eq!(bus.dead_letters().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn recipient_needs_only_the_message_type() {
    let bus = virtual_bus(1);
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &Log::default()));
    let r: Recipient<Record> = p.recipient();
    assert_eq!(r.id(), p.id());
    r.tell(Record(1)).await.unwrap();
    r.try_tell(Record(2)).unwrap();
    assert_eq!(p.ask(Seen).await.unwrap(), [1, 2]);
    p.stop();
    p.wait_for_stop().await;
    assert!(!r.is_alive());
    assert!(matches!(r.tell(Record(3)).await, Err(SendError(Record(3)))));
}

/// `Clock::within`: what is ready at once, after a turn or before the time runs out is
/// returned; what is not is given up at the deadline, on bus time.
#[tokio::test(start_paused = true)]
async fn within_waits_no_longer_than_its_time_of_the_bus_clock() {
    let bus = virtual_bus(1);
    let clock = bus.clock();
    let second = Duration::from_secs(1);
    assert_eq!(clock.within(second, async { 1 }).await, Some(1));
    // Pending for one poll, woken at once: ready with no time passed.
    let mut polled = false;
    let after_a_turn = std::future::poll_fn(|cx| {
        if polled {
            return Poll::Ready(2);
        }
        polled = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    });
    assert_eq!(clock.within(second, after_a_turn).await, Some(2));
    assert_eq!(clock.now(), Duration::ZERO, "no time passed");
    let late = clock.sleep(Duration::from_millis(300));
    assert_eq!(
        clock
            .within(second, async {
                late.await;
                3
            })
            .await,
        Some(3)
    );
    assert_eq!(clock.now(), Duration::from_millis(300));
    let never = std::future::pending::<u8>();
    assert_eq!(clock.within(second, never).await, None);
    assert_eq!(
        clock.now(),
        Duration::from_millis(1_300),
        "one second after it began"
    );
    // A deadline past what bus time holds is no deadline: the wait ends with its future.
    let later = clock.sleep(Duration::from_secs(3_600));
    assert_eq!(
        clock
            .within(Duration::MAX, async {
                later.await;
                4
            })
            .await,
        Some(4)
    );
}

/// Timers on the context: one-shot and interval, on bus time, cancelled at restart and stop.
#[tokio::test(start_paused = true)]
async fn timers_follow_the_bus_clock() {
    #[derive(Clone)]
    struct Tick;
    struct Timed {
        ticks: Vec<Duration>,
    }
    impl Actor for Timed {
        type Args = ();
        async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            ctx.send_after(Tick, Duration::from_millis(500));
            ctx.send_interval(Tick, Duration::from_secs(2));
            Ok(Timed { ticks: vec![] })
        }
    }
    impl Handler<Tick> for Timed {
        type Reply = ();
        async fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
            self.ticks.push(ctx.now());
        }
    }
    struct Ticks;
    impl Handler<Ticks> for Timed {
        type Reply = Vec<Duration>;
        async fn handle(&mut self, _: Ticks, _ctx: &mut Context<Self>) -> Vec<Duration> {
            self.ticks.clone()
        }
    }
    let bus = virtual_bus(1);
    let t = bus.spawn::<Timed>(());
    bus.clock().sleep(Duration::from_millis(6_100)).await;
    let ms = Duration::from_millis;
    assert_eq!(
        t.ask(Ticks).await.unwrap(),
        [ms(500), ms(2000), ms(4000), ms(6000)]
    );
    t.stop();
    t.wait_for_stop().await;
    bus.clock().sleep(Duration::from_secs(10)).await;
    // The interval ended with the actor: nothing was dead-lettered.
    assert_eq!(bus.dead_letters().total(), 0);
}

/// Durations too long to add to the clock (`Duration::MAX`) are waits that do not end, not
/// panics: an interval, a wait until a bus time, and a shutdown's deadline.
#[tokio::test(start_paused = true)]
async fn durations_too_long_to_add_are_waits_that_do_not_end() {
    #[derive(Clone)]
    struct Tick;
    struct Forever(Option<mycelium::actors::TimerHandle>);
    impl Actor for Forever {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Forever(None))
        }
    }
    struct Arm;
    impl Handler<Arm> for Forever {
        type Reply = ();
        async fn handle(&mut self, _: Arm, ctx: &mut Context<Self>) {
            self.0 = Some(ctx.send_interval(Tick, Duration::MAX));
        }
    }
    impl Handler<Tick> for Forever {
        type Reply = ();
        async fn handle(&mut self, _: Tick, _ctx: &mut Context<Self>) {
            panic!("a tick after Duration::MAX");
        }
    }
    struct TimerEnded;
    impl Handler<TimerEnded> for Forever {
        type Reply = bool;
        async fn handle(&mut self, _: TimerEnded, _ctx: &mut Context<Self>) -> bool {
            self.0.as_ref().is_some_and(|t| t.is_finished())
        }
    }
    let bus = virtual_bus(1);
    let f = bus.spawn::<Forever>(());
    // Armed once bus time has moved on: now + Duration::MAX cannot be added.
    bus.clock().sleep(Duration::from_secs(1)).await;
    f.ask(Arm).await.unwrap();
    let late = bus.clock().sleep_until(Duration::MAX);
    assert!(bus
        .clock()
        .timeout(Duration::from_secs(3600), late)
        .await
        .is_err());
    assert!(
        !f.ask(TimerEnded).await.unwrap(),
        "the interval's task lives on"
    );
    let report = bus.shutdown(Duration::MAX).await;
    assert_eq!((report.stopped.len(), report.killed.len()), (1, 0));
}

/// A zero-delay timer sends at once, at the bus time it was set: no timer tick (tokio rounds a
/// deadline up to its next millisecond, which on a virtual clock moved bus time forward).
#[tokio::test(start_paused = true)]
async fn a_zero_delay_timer_sends_at_the_time_it_was_set() {
    struct Tick;
    struct Arm;
    struct Timed {
        fired: Arc<tokio::sync::Notify>,
        at: Arc<std::sync::Mutex<Option<Duration>>>,
    }
    impl Actor for Timed {
        type Args = (
            Arc<tokio::sync::Notify>,
            Arc<std::sync::Mutex<Option<Duration>>>,
        );
        async fn on_start(
            (fired, at): Self::Args,
            _ctx: &mut Context<Self>,
        ) -> Result<Self, BoxError> {
            Ok(Timed { fired, at })
        }
    }
    impl Handler<Arm> for Timed {
        type Reply = Duration;
        async fn handle(&mut self, _: Arm, ctx: &mut Context<Self>) -> Duration {
            ctx.send_after(Tick, Duration::ZERO);
            ctx.now()
        }
    }
    impl Handler<Tick> for Timed {
        type Reply = ();
        async fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
            *self.at.lock().unwrap() = Some(ctx.now());
            self.fired.notify_one();
        }
    }
    let bus = virtual_bus(1);
    let fired = Arc::new(tokio::sync::Notify::new());
    let at = Arc::new(std::sync::Mutex::new(None));
    let t = bus.spawn::<Timed>((fired.clone(), at.clone()));
    // Off the millisecond grid (a sleep would round up to the next tick).
    tokio::time::advance(Duration::from_micros(1_500)).await;
    let armed = t.ask(Arm).await.unwrap();
    fired.notified().await;
    assert_eq!(armed, Duration::from_micros(1_500));
    assert_eq!(*at.lock().unwrap(), Some(armed));
}

/// A pinned actor runs on its own thread, also when the bus runs on a current-thread
/// runtime, and its timers follow the bus clock.
#[tokio::test(start_paused = true)]
async fn pinned_actor_runs_on_its_own_thread() {
    struct Pinned {
        home: std::thread::ThreadId,
    }
    impl Actor for Pinned {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Pinned {
                home: std::thread::current().id(),
            })
        }
    }
    struct Where;
    impl Handler<Where> for Pinned {
        type Reply = (std::thread::ThreadId, bool);
        async fn handle(
            &mut self,
            _: Where,
            ctx: &mut Context<Self>,
        ) -> (std::thread::ThreadId, bool) {
            ctx.clock().sleep(Duration::from_secs(3600)).await;
            (self.home, std::thread::current().id() == self.home)
        }
    }
    let bus = virtual_bus(1);
    let p = bus
        .spawn_with::<Pinned>((), SpawnOptions::new().pinned())
        .unwrap();
    let (home, same) = p.ask(Where).await.unwrap();
    assert!(same, "handled on the thread it started on");
    assert_ne!(home, std::thread::current().id());
    assert!(
        bus.now() >= Duration::from_secs(3600),
        "slept on the bus's virtual clock"
    );
    p.stop();
    assert_eq!(p.wait_for_stop().await, StopReason::Normal);
}

#[tokio::test(start_paused = true)]
async fn kill_skips_on_stop_and_dead_letters_the_queue() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &log));
    p.ask(Seen).await.unwrap();
    p.tell(Hang).await.unwrap();
    tokio::task::yield_now().await; // the actor is now stuck in Hang
    p.tell(Record(1)).await.unwrap();
    p.kill();
    assert_eq!(p.wait_for_stop().await, StopReason::Killed);
    assert_eq!(log.take(), ["start p"]);
    let letters = bus.dead_letters().drain();
    assert_eq!(letters.len(), 1);
    assert!(matches!(
        letters[0].reason,
        DeadLetterReason::ActorStopped(StopReason::Killed)
    ));
    assert_eq!(bus.actor_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn unsupervised_failures_stop_the_actor_unless_it_continues() {
    quiet_panics();
    struct Tough(u32);
    impl Actor for Tough {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Tough(0))
        }
        async fn on_failure(&mut self, _ctx: &mut Context<Self>, _f: &Failure) -> OnFailure {
            self.0 += 1;
            OnFailure::Continue
        }
    }
    impl Handler<Crash> for Tough {
        type Reply = ();
        async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
            panic!("crash requested");
        }
    }
    impl Handler<Seen> for Tough {
        type Reply = u32;
        async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) -> u32 {
            self.0
        }
    }
    let bus = virtual_bus(1);
    let t = bus.spawn::<Tough>(());
    t.tell(Crash).await.unwrap();
    t.tell(Crash).await.unwrap();
    assert_eq!(
        t.ask(Seen).await.unwrap(),
        2,
        "state kept across failures it chose to survive"
    );

    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &Log::default()));
    p.tell(Crash).await.unwrap();
    match p.wait_for_stop().await {
        StopReason::Failed(f) => assert_eq!(
            f.to_string(),
            "panicked while handling `Crash`: crash requested"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn start_failure_of_an_unsupervised_actor() {
    struct NoStart;
    impl Actor for NoStart {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Err("missing config".into())
        }
    }
    impl Handler<Seen> for NoStart {
        type Reply = ();
        async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) {}
    }
    let bus = virtual_bus(1);
    let a = bus.spawn::<NoStart>(());
    let reply = a.ask(Seen).await;
    match a.wait_for_stop().await {
        StopReason::Failed(f) => assert_eq!(
            f.to_string(),
            "returned an error while starting: missing config"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        reply,
        Err(AskError::Stopped(_)) | Err(AskError::Closed(_))
    ));
}

/// A handler, a start hook or a failure hook declared as a plain `fn` returning a future may
/// run code, and panic, before its future exists: that panic is the actor's failure like any
/// other, not the end of its task (which a supervisor would see as a kill).
#[tokio::test(start_paused = true)]
async fn a_panic_before_a_handlers_future_exists_is_a_failure() {
    quiet_panics();
    struct Early(u32);
    impl Actor for Early {
        type Args = bool;
        #[allow(unreachable_code)]
        fn on_start(
            panics: bool,
            _ctx: &mut Context<Self>,
        ) -> impl std::future::Future<Output = Result<Self, BoxError>> + Send {
            if panics {
                panic!("no start");
            }
            async { Ok(Early(0)) }
        }
        #[allow(unreachable_code)]
        fn on_failure(
            &mut self,
            _ctx: &mut Context<Self>,
            _f: &Failure,
        ) -> impl std::future::Future<Output = OnFailure> + Send {
            self.0 += 1;
            if self.0 > 1 {
                panic!("the hook gives up");
            }
            async { OnFailure::Continue }
        }
    }
    impl Handler<Crash> for Early {
        type Reply = ();
        #[allow(unreachable_code)]
        fn handle(
            &mut self,
            _: Crash,
            _ctx: &mut Context<Self>,
        ) -> impl std::future::Future<Output = ()> + Send {
            panic!("crash before the future");
            async {}
        }
    }
    impl Handler<Seen> for Early {
        type Reply = u32;
        async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) -> u32 {
            self.0
        }
    }
    let bus = virtual_bus(1);
    let dead = bus.dead_letters().total();
    let a = bus.spawn::<Early>(false);
    a.tell(Crash).await.unwrap();
    assert_eq!(a.ask(Seen).await.unwrap(), 1, "the failure hook ran");
    assert!(
        bus.dead_letters().total() > dead,
        "the failed message is a dead letter"
    );
    // The hook panics before its future exists the second time: the actor stops, failed.
    a.tell(Crash).await.unwrap();
    match a.wait_for_stop().await {
        StopReason::Failed(f) => assert_eq!(
            f.to_string(),
            "panicked while handling `Crash`: crash before the future"
        ),
        other => panic!("{other:?}"),
    }

    let b = bus.spawn::<Early>(true);
    match b.wait_for_stop().await {
        StopReason::Failed(f) => assert_eq!(f.to_string(), "panicked while starting: no start"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_in_reverse_start_order() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let a = bus.spawn::<Probe>(ProbeArgs::new("a", &log));
    let b = bus.spawn::<Probe>(ProbeArgs::new("b", &log));
    let c = bus.spawn::<Probe>(ProbeArgs::new("c", &log));
    for p in [&a, &b, &c] {
        p.ask(Seen).await.unwrap();
    }
    let report = bus.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        log.take(),
        ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    );
    let ids: Vec<_> = report.stopped.iter().map(|s| s.id).collect();
    assert_eq!(ids, [c.id(), b.id(), a.id()]);
    assert!(report.killed.is_empty());
    assert_eq!(bus.exit(), Some(BusExit::Shutdown));
    assert!(matches!(
        bus.spawn_with::<Probe>(ProbeArgs::new("d", &log), SpawnOptions::new()),
        Err(SpawnError::BusStopped)
    ));
}

/// An actor stuck in a handler cannot stop: at the deadline it and every actor not yet
/// stopped are killed and reported.
#[tokio::test(start_paused = true)]
async fn shutdown_kills_what_is_left_at_the_deadline() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let a = bus.spawn::<Probe>(ProbeArgs::new("a", &log));
    let stuck = bus.spawn::<Probe>(ProbeArgs::new("stuck", &log));
    let c = bus.spawn::<Probe>(ProbeArgs::new("c", &log));
    stuck.tell(Hang).await.unwrap();
    stuck.tell(Record(1)).await.unwrap();
    c.ask(Seen).await.unwrap();
    a.ask(Seen).await.unwrap();
    let report = bus.shutdown(Duration::from_secs(2)).await;
    assert_eq!(bus.now(), Duration::from_secs(2));
    assert_eq!(
        report.stopped.iter().map(|s| s.id).collect::<Vec<_>>(),
        [c.id()]
    );
    assert_eq!(
        report.killed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [stuck.id(), a.id()]
    );
    assert_eq!(stuck.wait_for_stop().await, StopReason::Killed);
    assert_eq!(a.wait_for_stop().await, StopReason::Killed);
    assert_eq!(log.take(), ["start a", "start stuck", "start c", "stop c"]);
    // The stuck actor's queued message is not lost silently.
    assert_eq!(bus.dead_letters().drain().len(), 1);
}

/// An actor whose `on_stop` takes `stop` of bus time, after yielding to the runtime once.
struct SlowStop {
    name: &'static str,
    log: Log,
    stop: Duration,
}
impl Actor for SlowStop {
    type Args = (&'static str, Log, Duration);
    async fn on_start(
        (name, log, stop): (&'static str, Log, Duration),
        _: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        Ok(SlowStop { name, log, stop })
    }
    async fn on_stop(&mut self, ctx: &mut Context<Self>, _: &StopReason) {
        tokio::task::yield_now().await;
        ctx.clock().sleep(self.stop).await;
        self.log
            .push(format!("stop {} at {:?}", self.name, ctx.now()));
    }
}

/// The deadline is the shutdown's, not each actor's: an actor whose stop takes several turns
/// and a timer is waited for while the deadline allows, and the time it took counts against
/// the actors after it. Actors that stop at once take no bus time.
#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_slow_stops_until_its_one_deadline() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let a = bus.spawn::<SlowStop>(("a", log.clone(), Duration::from_millis(1500)));
    let b = bus.spawn::<SlowStop>(("b", log.clone(), Duration::from_millis(1500)));
    let quick = bus.spawn::<Probe>(ProbeArgs::new("quick", &log));
    quick.ask(Seen).await.unwrap();
    let report = bus.shutdown(Duration::from_secs(2)).await;
    assert_eq!(
        report.stopped.iter().map(|s| s.id).collect::<Vec<_>>(),
        [quick.id(), b.id()]
    );
    assert_eq!(
        report.killed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [a.id()]
    );
    assert_eq!(bus.now(), Duration::from_secs(2));
    assert_eq!(log.take(), ["start quick", "stop quick", "stop b at 1.5s"]);
    assert_eq!(a.wait_for_stop().await, StopReason::Killed);

    // Within the deadline, each is waited for in turn.
    let bus = virtual_bus(1);
    let a = bus.spawn::<SlowStop>(("a", log.clone(), Duration::from_millis(500)));
    let b = bus.spawn::<SlowStop>(("b", log.clone(), Duration::from_millis(500)));
    let report = bus.shutdown(Duration::from_secs(2)).await;
    assert_eq!(
        report.stopped.iter().map(|s| s.id).collect::<Vec<_>>(),
        [b.id(), a.id()]
    );
    assert!(report.killed.is_empty());
    assert_eq!(log.take(), ["stop b at 500ms", "stop a at 1s"]);

    // Quick stops alone: no bus time passes.
    let bus = virtual_bus(1);
    let quick = bus.spawn::<Probe>(ProbeArgs::new("quick", &log));
    quick.ask(Seen).await.unwrap();
    let report = bus.shutdown(Duration::from_secs(2)).await;
    assert_eq!(report.stopped.len(), 1);
    assert_eq!(bus.now(), Duration::ZERO);
}

/// Spawns that race with `Bus::shutdown` (from another thread) either come before it, and
/// their actors are stopped by it, or are refused: no actor registers after the shutdown
/// took its list of actors, to be killed as if it had outlived the deadline, or to outlive
/// the shutdown altogether. A race, so many rounds; it never fails with the check and the
/// flag under the registry's lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_spawned_during_shutdown_are_stopped_or_refused() {
    const ROUNDS: usize = 400;
    let mut late = Vec::new();
    for round in 0..ROUNDS {
        let bus = Bus::new();
        // The spawner spawns as fast as it can until it is refused; the shutdown begins once
        // it is under way (a spin of a few spawns: a wake-up across threads would let it
        // spawn thousands), so that a spawn is in progress when the flag is set.
        let spawned = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let (bus, spawned) = (bus.clone(), spawned.clone());
            std::thread::spawn(move || {
                let log = Log::default();
                let mut refs = Vec::new();
                loop {
                    match bus.spawn_with::<Probe>(ProbeArgs::new("p", &log), SpawnOptions::new()) {
                        Ok(r) => refs.push(r),
                        Err(SpawnError::BusStopped) => return refs,
                        Err(e) => panic!("{e}"),
                    }
                    spawned.fetch_add(1, Ordering::Release);
                }
            })
        };
        while spawned.load(Ordering::Acquire) < 16 {
            std::hint::spin_loop();
        }
        let report = tokio::time::timeout(
            Duration::from_secs(60),
            bus.shutdown(Duration::from_secs(30)),
        )
        .await
        .expect("the shutdown ended");
        let refs = tokio::task::spawn_blocking(move || spawner.join().unwrap())
            .await
            .unwrap();
        let alive = refs.iter().filter(|r| r.stop_reason().is_none()).count();
        if !report.killed.is_empty() || alive > 0 {
            late.push((round, report.killed.len(), alive));
            for r in &refs {
                r.kill();
            }
        }
    }
    assert!(
        late.is_empty(),
        "{} of {ROUNDS} rounds had actors registered after the shutdown's list \
         (round, killed, alive after the shutdown): {late:?}",
        late.len()
    );
}

#[tokio::test(start_paused = true)]
async fn supervised_children_stop_with_their_supervisor_at_shutdown() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let first = bus.spawn::<Probe>(ProbeArgs::new("first", &log));
    first.ask(Seen).await.unwrap();
    let _tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("x", ProbeArgs::new("x", &log)))
        .child(ChildSpec::new::<Probe>("y", ProbeArgs::new("y", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let report = bus.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        log.take(),
        [
            "start first",
            "start x",
            "start y",
            "stop y",
            "stop x",
            "stop first"
        ]
    );
    assert_eq!(report.stopped.len(), 2, "the supervisor and `first`");
    assert_eq!(bus.actor_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn two_buses_in_one_process_are_isolated() {
    quiet_panics();
    let one = virtual_bus(1);
    let two = virtual_bus(1);
    let log1 = Log::default();
    let log2 = Log::default();
    let a = one
        .spawn_with::<Probe>(ProbeArgs::new("p", &log1), SpawnOptions::new().name("p"))
        .unwrap();
    let b = two
        .spawn_with::<Probe>(ProbeArgs::new("p", &log2), SpawnOptions::new().name("p"))
        .unwrap();
    assert_eq!(a.id(), b.id(), "each bus allocates its own ids");
    assert!(matches!(
        one.spawn_with::<Probe>(ProbeArgs::new("p", &log1), SpawnOptions::new().name("p")),
        Err(SpawnError::NameTaken(_))
    ));
    assert_eq!(one.lookup::<Probe>("p").unwrap(), a);
    assert_eq!(two.lookup::<Probe>("p").unwrap(), b);
    a.tell(Crash).await.unwrap();
    a.wait_for_stop().await;
    assert_eq!(one.dead_letters().total(), 1);
    assert_eq!(two.dead_letters().total(), 0);
    assert!(one.lookup::<Probe>("p").is_none());
    one.shutdown(Duration::from_secs(1)).await;
    assert!(b.is_alive());
    b.tell(Record(1)).await.unwrap();
    assert_eq!(b.ask(Seen).await.unwrap(), [1]);
    assert_eq!(two.actor_count(), 1);
}

#[test]
fn a_bus_needs_a_runtime() {
    assert!(matches!(
        Bus::builder().build(),
        Err(mycelium::actors::BusError::NoRuntime)
    ));
}

#[test]
fn virtual_time_needs_a_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let err = rt
        .block_on(async { Bus::builder().virtual_time().build() })
        .unwrap_err();
    assert_eq!(err, mycelium::actors::BusError::VirtualNeedsCurrentThread);
}

/// The same actors on a multi-thread runtime with real time.
#[test]
fn works_on_a_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bus = Bus::new();
        let p = bus.spawn::<Probe>(ProbeArgs::new("p", &Log::default()));
        let senders: Vec<_> = (0..4u64)
            .map(|k| {
                let p = p.clone();
                tokio::spawn(async move {
                    for n in 0..1000 {
                        p.tell(Record(k * 1000 + n)).await.unwrap();
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        let seen = p.ask(Seen).await.unwrap();
        assert_eq!(seen.len(), 4000);
        // Per-sender order is kept.
        for k in 0..4u64 {
            let mine: Vec<u64> = seen.iter().copied().filter(|n| n / 1000 == k).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
        }
        let report = bus.shutdown(Duration::from_secs(5)).await;
        assert_eq!(report.stopped.len(), 1);
    });
}
