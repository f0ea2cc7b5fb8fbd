//! Hibernating actors (`SpawnOptions::hibernate`): no task while they have no mail, and
//! otherwise the same actors: order, asks, waiting handlers, failures, supervision, kill,
//! shutdown, and a runtime that goes away. And default actors, which share the first part:
//! no task until their first mail.

#[path = "../common/mod.rs"]
mod common;

mod default_actors;
mod failures;
mod linked_children;
mod mail_order;
mod refused_spawns;
mod sleeping;
mod stopping;

use common::*;
use mycelium::actors::SpawnOptions;
use mycelium::prelude::*;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

fn hibernating(bus: &Bus, name: &'static str, log: &Log) -> ActorRef<Probe> {
    bus.spawn_with::<Probe>(ProbeArgs::new(name, log), SpawnOptions::new().hibernate())
        .unwrap()
}

/// A hibernating actor that has started and gone to sleep (the driver has run).
async fn asleep(bus: &Bus, name: &'static str, log: &Log) -> ActorRef<Probe> {
    let h = hibernating(bus, name, log);
    h.ask(Seen).await.unwrap();
    tokio::task::yield_now().await;
    h
}

/// Spawns `n` actors, each with `options()` and a start notification, and waits until all
/// have started (their bus's driver runs the starts in one turn).
async fn spawn_started(
    bus: &Bus,
    name: &'static str,
    log: &Log,
    n: usize,
    options: impl Fn() -> SpawnOptions,
) -> Vec<ActorRef<Probe>> {
    let mut refs = Vec::new();
    let mut started = Vec::new();
    for _ in 0..n {
        let (tx, rx) = oneshot::channel();
        refs.push(
            bus.spawn_with::<Probe>(ProbeArgs::new(name, log), options().on_started(tx))
                .unwrap(),
        );
        started.push(rx);
    }
    for rx in started {
        rx.await.unwrap();
    }
    refs
}

/// Tasks alive on the current runtime (the test's own future is not one).
fn tasks() -> usize {
    Handle::current().metrics().num_alive_tasks()
}
