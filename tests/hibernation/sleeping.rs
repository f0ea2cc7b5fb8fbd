//! No task while asleep: idle hibernating actors hold none, a waiting handler holds one until
//! the actor sleeps again, and a sleeper woken with a long mailbox moves into one of its own
//! so that the other sleepers are not held up.

use std::time::Duration;

use crate::common::*;
use crate::{hibernating, spawn_started, tasks};
use mycelium::actors::SpawnOptions;
use mycelium::prelude::*;
use tokio::sync::oneshot;

#[tokio::test(start_paused = true)]
async fn an_idle_hibernating_actor_holds_no_task() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let refs = spawn_started(&bus, "h", &log, 20, || SpawnOptions::new().hibernate()).await;
    // The driver ran the 20 starts in one turn; it is the bus's one task for them.
    assert_eq!(tasks(), 1, "no task per idle hibernating actor");
    for (i, r) in refs.iter().enumerate() {
        r.tell(Record(i as u64)).await.unwrap();
    }
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(r.ask(Seen).await.unwrap(), [i as u64]);
    }
    assert_eq!(tasks(), 1, "each went back to sleep after its mail");
    // The same actors without hibernation are a task each.
    let plain: Vec<_> = (0..20)
        .map(|_| bus.spawn::<Probe>(ProbeArgs::new("p", &log)))
        .collect();
    for p in &plain {
        p.ask(Seen).await.unwrap();
    }
    assert_eq!(tasks(), 21);
    // The driver's task ends with its bus.
    bus.shutdown(Duration::from_secs(5)).await;
    drop((bus, refs, plain));
    tokio::task::yield_now().await;
    assert_eq!(tasks(), 0, "no task outlives the bus");
}

#[tokio::test(start_paused = true)]
async fn a_waiting_handler_moves_the_actor_into_a_task_until_it_sleeps_again() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let h = hibernating(&bus, "h", &log);
    // A handler that sleeps on the bus clock: the actor waits in a task of its own...
    let at = h.ask(Nap(Duration::from_secs(3))).await.unwrap();
    assert_eq!(at, Duration::from_secs(3));
    // ...and gives the task up once its handler has returned and its mailbox is empty.
    h.ask(Seen).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(tasks(), 1, "the bus's driver only");
    // Mail sent while the handler waits is handled after it, in order.
    let (go, wait) = oneshot::channel();
    h.tell(Block(wait)).await.unwrap();
    h.tell(Record(1)).await.unwrap();
    h.tell(Record(2)).await.unwrap();
    go.send(()).unwrap();
    assert_eq!(h.ask(Seen).await.unwrap(), [1, 2]);
}

/// Logs `name:n` for each number it is told.
struct Tally {
    name: &'static str,
    log: Log,
}

impl Actor for Tally {
    type Args = (&'static str, Log);
    async fn on_start((name, log): Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Tally { name, log })
    }
}

impl Handler<u64> for Tally {
    type Reply = ();
    async fn handle(&mut self, n: u64, _: &mut Context<Self>) {
        self.log.push(format!("{}:{n}", self.name));
    }
}

/// A sleeper woken with a long mailbox has a turn of messages, then moves into a task of its
/// own, so the bus's other sleepers are not held up behind it.
#[tokio::test(start_paused = true)]
async fn a_busy_sleeper_lets_the_others_run() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let spawn = |name| {
        bus.spawn_with::<Tally>((name, log.clone()), SpawnOptions::new().hibernate())
            .unwrap()
    };
    let (a, b) = (spawn("a"), spawn("b"));
    a.tell(0).await.unwrap();
    b.tell(0).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(log.take(), ["a:0", "b:0"]);
    // Both asleep; `a` is woken first, with 500 messages.
    for n in 1..=500 {
        a.try_tell(n).unwrap();
    }
    b.try_tell(1).unwrap();
    a.ask(501u64).await.unwrap();
    b.ask(2u64).await.unwrap();
    let seen = log.take();
    let at = |entry: &str| seen.iter().position(|e| e == entry).unwrap();
    assert!(
        at("b:1") < at("a:500"),
        "`b` waited for all of `a`'s mail: {:?}",
        &seen[..8]
    );
    assert_eq!(seen.iter().filter(|e| e.starts_with("a:")).count(), 501);
    // `a` sleeps again once its mailbox is empty: the bus's driver is the only task.
    tokio::task::yield_now().await;
    assert_eq!(tasks(), 1);
}
