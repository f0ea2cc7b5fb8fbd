//! The direct call: an ask to an idle actor runs its handler on the asker's task. What must
//! hold whichever path an ask takes: order behind queued messages, one handler at a time,
//! a failure is the actor's failure (supervision restarts it), a handler that awaits or
//! stops the actor, a kill while the state is lent, and other tasks still get to run.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mycelium::actors::{AskError, Failure, OnFailure, StopReason};
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisionEvent, SupervisorRef};
use tokio::sync::oneshot;

/// Counts, and says on which task each handler ran.
struct Where {
    total: u64,
}

impl Actor for Where {
    type Args = u64;
    async fn on_start(total: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Where { total })
    }
}

/// Adds `n`; replies with the total and the task the handler ran on.
struct Add(u64);
impl Handler<Add> for Where {
    type Reply = (u64, Option<tokio::task::Id>);
    async fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self>) -> Self::Reply {
        self.total += n;
        (self.total, tokio::task::try_id())
    }
}

/// Adds `n` after awaiting `go`: a handler that does not finish at its first poll.
struct AddAfter(u64, oneshot::Receiver<()>);
impl Handler<AddAfter> for Where {
    type Reply = u64;
    async fn handle(&mut self, AddAfter(n, go): AddAfter, _ctx: &mut Context<Self>) -> u64 {
        let _ = go.await;
        self.total += n;
        self.total
    }
}

/// Adds `n` after giving its runtime a turn: not finished at its first poll, so a direct ask
/// of it is answered through the channel made at the end of that poll.
struct AddYielding(u64);
impl Handler<AddYielding> for Where {
    type Reply = u64;
    async fn handle(&mut self, AddYielding(n): AddYielding, _ctx: &mut Context<Self>) -> u64 {
        tokio::task::yield_now().await;
        self.total += n;
        self.total
    }
}

/// Panics.
struct Boom;
impl Handler<Boom> for Where {
    type Reply = ();
    async fn handle(&mut self, _: Boom, _ctx: &mut Context<Self>) {
        panic!("boom on the direct path");
    }
}

/// Panics before its future exists.
struct BoomEarly;
impl Handler<BoomEarly> for Where {
    type Reply = ();
    #[allow(unreachable_code)]
    fn handle(
        &mut self,
        _: BoomEarly,
        _ctx: &mut Context<Self>,
    ) -> impl std::future::Future<Output = ()> + Send {
        panic!("boom before the future");
        async {}
    }
}

/// Replies with the total, then stops the actor.
struct Last;
impl Handler<Last> for Where {
    type Reply = u64;
    async fn handle(&mut self, _: Last, ctx: &mut Context<Self>) -> u64 {
        ctx.stop();
        self.total
    }
}

#[tokio::test]
async fn an_ask_to_an_idle_actor_runs_on_the_askers_task() {
    let bus = Bus::new();
    let a = bus.spawn::<Where>(0);
    // Let the actor start and wait for mail.
    a.ask(Add(0)).await.unwrap();
    let asker = tokio::spawn(async move {
        let (total, ran_on) = a.ask(Add(2)).await.unwrap();
        (total, ran_on, tokio::task::id())
    });
    let (total, ran_on, asker_id) = asker.await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        ran_on,
        Some(asker_id),
        "the idle actor's handler ran on the asker's task"
    );
}

#[tokio::test]
async fn messages_queued_before_an_ask_are_handled_before_it() {
    let bus = Bus::new();
    let a = bus.spawn::<Where>(0);
    a.ask(Add(0)).await.unwrap();
    for round in 1..=50u64 {
        // On this current-thread runtime the actor cannot run between these tells and the
        // ask: the ask finds them queued and goes behind them, through the mailbox. (`try_tell`
        // always queues; an awaited `tell` to the idle actor would run here, as the ask does.)
        for _ in 0..round {
            a.try_tell(Add(1)).unwrap();
        }
        let (total, ran_on) = a.ask(Add(0)).await.unwrap();
        assert_eq!(total, round * (round + 1) / 2, "round {round}");
        assert_ne!(
            ran_on,
            tokio::task::try_id(),
            "queued mail: not on the asker's task"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_handler_at_a_time_and_each_senders_order_with_concurrent_askers() {
    let bus = Bus::new();
    let a = bus.spawn::<Where>(0);
    let tasks: Vec<_> = (0..4u64)
        .map(|k| {
            let a = a.clone();
            tokio::spawn(async move {
                let mut last = 0;
                for i in 0..2_000u64 {
                    // Alternate tells and asks: each ask sees this sender's earlier tells.
                    a.tell(Add(1)).await.unwrap();
                    let (total, _) = a.ask(Add(k + i % 2)).await.unwrap();
                    assert!(total > last, "totals only grow: {total} after {last}");
                    last = total;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Every addition landed exactly once.
    let expected: u64 = (0..4u64)
        .map(|k| (0..2_000u64).map(|i| 1 + k + i % 2).sum::<u64>())
        .sum();
    assert_eq!(a.ask(Add(0)).await.unwrap().0, expected);
}

/// A `Where` (total 100) supervised one-for-one without backoff, asked once (101) so that it
/// is idle and asked directly from here on; with the tree's events.
async fn supervised_where() -> (
    Bus,
    SupervisorRef,
    ActorRef<Where>,
    tokio::sync::mpsc::UnboundedReceiver<SupervisionEvent>,
) {
    quiet_panics();
    let bus = Bus::new();
    let (observer, events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(10, Duration::from_secs(60))
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Where>("w", 100))
        .spawn(&bus)
        .await
        .unwrap();
    let w = tree.child::<Where>("w").unwrap();
    assert_eq!(w.ask(Add(1)).await.unwrap().0, 101);
    (bus, tree, w, events)
}

#[tokio::test]
async fn a_failure_on_the_direct_path_fails_the_actor_and_it_restarts() {
    let (bus, tree, w, mut events) = supervised_where().await;
    let dead = bus.dead_letters().total();
    match w.ask(Boom).await {
        Err(AskError::Failed(failure)) => {
            assert!(
                failure.to_string().contains("boom on the direct path"),
                "{failure}"
            )
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    next_event(&mut events, is_restarted).await;
    assert!(
        bus.dead_letters().total() > dead,
        "the failed message is a dead letter"
    );
    let (total, ran_on) = w.ask(Add(5)).await.unwrap();
    assert_eq!(total, 105, "the new incarnation starts from its args");
    assert_eq!(ran_on, tokio::task::try_id(), "and is asked directly again");
    tree.stop().await;
}

/// A handler that panics before its future exists, asked directly: the panic is the actor's
/// failure (the asker gets `Failed`, the supervisor restarts the actor), not the asker's own.
#[tokio::test]
async fn a_panic_before_the_handlers_future_on_the_direct_path_fails_the_actor() {
    let (_bus, tree, w, mut events) = supervised_where().await;
    match w.ask(BoomEarly).await {
        Err(AskError::Failed(failure)) => {
            assert!(failure.to_string().contains("boom before"), "{failure}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    next_event(&mut events, is_restarted).await;
    assert_eq!(w.ask(Add(5)).await.unwrap().0, 105, "a new incarnation");
    tree.stop().await;
}

/// A handler asked directly that stops its actor and then fails, in an actor whose failure
/// hook lets it go on: the stop still ends it, as it does through the mailbox (it used to stay
/// pending and end the actor after some later message).
#[tokio::test(start_paused = true)]
async fn a_stop_before_a_failure_on_the_direct_path_ends_the_actor() {
    quiet_panics();
    struct Survivor;
    impl Actor for Survivor {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Survivor)
        }
        async fn on_failure(&mut self, _ctx: &mut Context<Self>, _f: &Failure) -> OnFailure {
            OnFailure::Continue
        }
    }
    struct StopThenPanic;
    impl Handler<StopThenPanic> for Survivor {
        type Reply = ();
        async fn handle(&mut self, _: StopThenPanic, ctx: &mut Context<Self>) {
            ctx.stop();
            panic!("failed after asking to stop");
        }
    }
    struct Ping;
    impl Handler<Ping> for Survivor {
        type Reply = Option<tokio::task::Id>;
        async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self>) -> Self::Reply {
            tokio::task::try_id()
        }
    }
    let bus = Bus::new();
    let a = bus.spawn::<Survivor>(());
    a.ask(Ping).await.unwrap();
    assert_eq!(
        a.ask(Ping).await.unwrap(),
        tokio::task::try_id(),
        "asked directly"
    );
    assert!(matches!(
        a.ask(StopThenPanic).await,
        Err(AskError::Failed(_))
    ));
    let stopped = tokio::time::timeout(Duration::from_secs(60), a.wait_for_stop()).await;
    assert_eq!(stopped, Ok(StopReason::Normal));
}

#[tokio::test]
async fn a_handler_that_awaits_finishes_on_the_actors_task_in_order() {
    let bus = Bus::new();
    let a = bus.spawn::<Where>(0);
    a.ask(Add(0)).await.unwrap();
    let (go, wait) = oneshot::channel();
    let asker = {
        let a = a.clone();
        tokio::spawn(async move { a.ask(AddAfter(10, wait)).await.unwrap() })
    };
    // The asker started the handler; it waits for `go` on the actor's task now. A message
    // sent meanwhile is handled after it.
    tokio::task::yield_now().await;
    let later = {
        let a = a.clone();
        tokio::spawn(async move { a.ask(Add(1)).await.unwrap().0 })
    };
    tokio::task::yield_now().await;
    go.send(()).unwrap();
    assert_eq!(asker.await.unwrap(), 10);
    assert_eq!(later.await.unwrap(), 11);
}

/// Askers on two workers, each ask adding one, half of them to a handler that finishes at
/// once (its answer written in the asker's place) and half to one that goes on after its
/// first poll (answered through a channel, from whichever task finishes it): every asker gets
/// the answer of its own ask, so the totals answered are each of 1..=N exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_in_place_or_through_a_channel_each_reach_their_own_asker() {
    const ASKERS: u64 = 4;
    const ASKS: u64 = 500;
    let bus = Bus::new();
    let a = bus.spawn::<Where>(0);
    a.ask(Add(0)).await.unwrap();
    let tasks: Vec<_> = (0..ASKERS)
        .map(|k| {
            let a = a.clone();
            tokio::spawn(async move {
                let mut totals = Vec::new();
                for i in 0..ASKS {
                    let total = if (i + k) % 2 == 0 {
                        a.ask(Add(1)).await.unwrap().0
                    } else {
                        a.ask(AddYielding(1)).await.unwrap()
                    };
                    totals.push(total);
                }
                totals
            })
        })
        .collect();
    let mut totals = Vec::new();
    for t in tasks {
        totals.extend(t.await.unwrap());
    }
    totals.sort_unstable();
    assert_eq!(totals, (1..=ASKERS * ASKS).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_handler_that_stops_the_actor_on_the_direct_path() {
    let bus = Bus::new();
    let a = bus.spawn::<Where>(7);
    a.ask(Add(0)).await.unwrap();
    assert_eq!(a.ask(Last).await.unwrap(), 7);
    assert_eq!(a.wait_for_stop().await, StopReason::Normal);
    assert!(matches!(a.ask(Add(1)).await, Err(AskError::Closed(_))));
}

#[tokio::test]
async fn a_kill_while_the_state_is_lent_or_a_handler_is_handed_over() {
    let bus = Bus::new();
    // Idle, its state lent.
    let a = bus.spawn::<Where>(0);
    a.ask(Add(1)).await.unwrap();
    a.kill();
    assert_eq!(a.wait_for_stop().await, StopReason::Killed);
    assert!(a.ask(Add(1)).await.is_err());
    // A handler started by an asker and handed to the actor's task, never finishing.
    let b = bus.spawn::<Where>(0);
    b.ask(Add(1)).await.unwrap();
    let (_go, wait) = oneshot::channel::<()>();
    let asker = {
        let b = b.clone();
        tokio::spawn(async move { b.ask(AddAfter(1, wait)).await })
    };
    tokio::task::yield_now().await;
    b.kill();
    assert_eq!(b.wait_for_stop().await, StopReason::Killed);
    assert!(matches!(asker.await.unwrap(), Err(AskError::Stopped(_))));
}

#[tokio::test]
async fn a_long_run_of_direct_asks_lets_other_tasks_run() {
    let bus = Bus::new();
    let a = bus.spawn::<Where>(0);
    a.ask(Add(0)).await.unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let other = {
        let ran = ran.clone();
        tokio::spawn(async move { ran.store(true, Ordering::SeqCst) })
    };
    let mut direct = 0;
    for _ in 0..10_000 {
        if a.ask(Add(1)).await.unwrap().1 == tokio::task::try_id() {
            direct += 1;
        }
    }
    assert!(direct > 9_000, "most asks ran directly ({direct})");
    assert!(
        ran.load(Ordering::SeqCst),
        "the other task ran during the asks: direct asks yield to the scheduler"
    );
    other.await.unwrap();
}

#[test]
fn an_ask_from_another_runtime_goes_through_the_mailbox() {
    // The actor's runtime has a worker of its own, so it runs while another runtime asks.
    let home = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let a = home.block_on(async {
        let bus = Bus::new();
        let a = bus.spawn::<Where>(0);
        a.ask(Add(0)).await.unwrap();
        a
    });
    let other = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let asks = AtomicU64::new(0);
    other.block_on(async {
        for _ in 0..100 {
            let (_, ran_on) = a.ask(Add(1)).await.unwrap();
            assert_ne!(
                ran_on,
                tokio::task::try_id(),
                "never on a task of another runtime"
            );
            asks.fetch_add(1, Ordering::Relaxed);
        }
    });
    assert_eq!(asks.load(Ordering::Relaxed), 100);
    assert_eq!(other.block_on(a.ask(Add(0))).unwrap().0, 100);
}

#[tokio::test(start_paused = true)]
async fn direct_asks_on_virtual_time_keep_the_clock() {
    let bus = virtual_bus(3);
    let a = bus.spawn::<Where>(0);
    a.ask(Add(0)).await.unwrap();
    let t0 = bus.clock().now();
    for _ in 0..100 {
        a.ask(Add(1)).await.unwrap();
    }
    assert_eq!(
        bus.clock().now(),
        t0,
        "no bus time passes in handlers that do not wait"
    );
    assert_eq!(a.ask(Add(0)).await.unwrap().0, 100);
}

type Asks = mycelium::actors::ReplyRecipient<Add, (u64, Option<tokio::task::Id>)>;

/// A started `Where` (asked once) with a reply recipient and a recipient for `Add`.
async fn spawn_where(bus: &Bus) -> (ActorRef<Where>, Asks, mycelium::actors::Recipient<Add>) {
    let a = bus.spawn::<Where>(0);
    let asks: Asks = a.reply_recipient();
    let tells = a.recipient();
    asks.ask(Add(0)).await.unwrap();
    (a, asks, tells)
}

#[tokio::test]
async fn a_reply_recipient_of_a_local_actor_takes_the_direct_call_too() {
    quiet_panics();
    let bus = Bus::new();
    let (a, asks, tells) = spawn_where(&bus).await;
    let (total, ran_on) = asks.ask(Add(2)).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(ran_on, tokio::task::try_id(), "idle: on the asker's task");
    // Queued tells first, whichever path the ask takes.
    for _ in 0..10 {
        tells.tell(Add(1)).await.unwrap();
    }
    assert_eq!(asks.ask(Add(0)).await.unwrap().0, 12);
    // A failure through it is the actor's failure.
    let boom: mycelium::actors::ReplyRecipient<Boom, ()> = a.reply_recipient();
    assert!(matches!(boom.ask(Boom).await, Err(AskError::Failed(_))));
    assert!(matches!(a.wait_for_stop().await, StopReason::Failed(_)));
    assert!(asks.ask(Add(1)).await.is_err(), "the actor has stopped");
}

/// The two-step ask a link's reader uses: an idle actor's handler runs inside `ask_queued`,
/// so its reply is ready when `ask_queued` returns; with messages queued it goes behind them;
/// a failure arrives with the reply, after the actor's task has dealt with it.
#[tokio::test]
async fn ask_queued_runs_an_idle_actors_handler_at_once_and_keeps_order() {
    quiet_panics();
    let bus = Bus::new();
    let (a, asks, tells) = spawn_where(&bus).await;

    let mut pending = asks.ask_queued(Add(3)).await.unwrap();
    let waker = std::task::Waker::noop();
    let ready = pending
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker));
    match ready {
        std::task::Poll::Ready(Ok((total, ran_on))) => {
            assert_eq!(total, 3);
            assert_eq!(ran_on, tokio::task::try_id(), "ran on the asking task");
        }
        other => panic!("the idle actor's reply was not ready at once: {other:?}"),
    }

    // Queued tells first: the request goes through the mailbox behind them, and a tell
    // sent after `ask_queued` returned comes after it.
    for _ in 0..5 {
        tells.tell(Add(1)).await.unwrap();
    }
    let behind = asks.ask_queued(Add(0)).await.unwrap();
    tells.tell(Add(100)).await.unwrap();
    let (total, ran_on) = behind.await.unwrap();
    assert_eq!(
        total, 8,
        "after the five queued tells, before the later one"
    );
    assert_ne!(
        ran_on,
        tokio::task::try_id(),
        "queued: the actor's task ran it"
    );
    assert_eq!(asks.ask(Add(0)).await.unwrap().0, 108);

    let boom: mycelium::actors::ReplyRecipient<Boom, ()> = a.reply_recipient();
    let failed = boom.ask_queued(Boom).await.unwrap();
    assert!(matches!(failed.await, Err(AskError::Failed(_))));
    assert!(matches!(a.wait_for_stop().await, StopReason::Failed(_)));
}

/// An address that follows a supervised child takes the direct call of the incarnation that
/// runs now, before and after a kill that spawns the child anew, as the child's own ref does.
#[tokio::test]
async fn an_address_following_a_supervised_child_takes_its_direct_call() {
    let (_bus, tree, w, mut events) = supervised_where().await;
    let asks = tree.child_reply_recipient::<Where, Add>("w").unwrap();
    let (total, ran_on) = asks.ask(Add(1)).await.unwrap();
    assert_eq!(total, 102);
    assert_eq!(ran_on, tokio::task::try_id(), "idle: on the asker's task");
    w.kill();
    next_event(&mut events, is_restarted).await;
    // The child spawned anew has no task until its first mail, which this ask is.
    assert_eq!(
        asks.ask(Add(0)).await.unwrap().0,
        100,
        "the new incarnation"
    );
    let (total, ran_on) = asks.ask(Add(5)).await.unwrap();
    assert_eq!(total, 105, "the new incarnation");
    assert_eq!(ran_on, tokio::task::try_id(), "asked directly again");
    // A failure through it is the new incarnation's, which the tree restarts.
    let boom = tree.child_reply_recipient::<Where, Boom>("w").unwrap();
    assert!(matches!(boom.ask(Boom).await, Err(AskError::Failed(_))));
    next_event(&mut events, is_restarted).await;
    assert_eq!(asks.ask(Add(7)).await.unwrap().0, 107);
    tree.stop().await;
}
