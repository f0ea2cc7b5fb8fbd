//! The `Sub` test actor, which subscribes in `on_start` and records what it receives, the
//! messages that ask it what it got, and the helpers that spawn and park it.

use crate::common::Log;
use crate::settle;
use mycelium::actors::{SpawnOptions, Subscription, SubscriptionStats};
use mycelium::prelude::*;
use tokio::sync::oneshot;

/// An actor that subscribes in `on_start` and records what it receives.
#[derive(Clone)]
pub(crate) struct SubArgs {
    name: &'static str,
    pattern: &'static str,
    options: SubscribeOptions,
    log: Log,
}

impl SubArgs {
    pub(crate) fn new(
        name: &'static str,
        pattern: &'static str,
        options: SubscribeOptions,
    ) -> Self {
        SubArgs {
            name,
            pattern,
            options,
            log: Log::default(),
        }
    }

    pub(crate) fn log(mut self, log: &Log) -> Self {
        self.log = log.clone();
        self
    }
}

pub(crate) struct Sub {
    name: &'static str,
    log: Log,
    got: Vec<Published<u64>>,
    subscription: Subscription,
}

impl Actor for Sub {
    type Args = SubArgs;
    async fn on_start(args: SubArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let subscription = ctx.subscribe::<u64>(args.pattern, args.options)?;
        args.log.push(format!("start {}", args.name));
        Ok(Sub {
            name: args.name,
            log: args.log,
            got: Vec::new(),
            subscription,
        })
    }
}

impl Handler<Published<u64>> for Sub {
    type Reply = ();
    async fn handle(&mut self, msg: Published<u64>, _ctx: &mut Context<Self>) {
        self.log.push(format!("{} {}", self.name, *msg));
        self.got.push(msg);
    }
}

/// The values received so far.
pub(crate) struct Got;
impl Handler<Got> for Sub {
    type Reply = Vec<u64>;
    async fn handle(&mut self, _: Got, _ctx: &mut Context<Self>) -> Vec<u64> {
        self.got.iter().map(|m| **m).collect()
    }
}

/// The messages received so far, as delivered.
pub(crate) struct Raw;
impl Handler<Raw> for Sub {
    type Reply = Vec<Published<u64>>;
    async fn handle(&mut self, _: Raw, _ctx: &mut Context<Self>) -> Vec<Published<u64>> {
        self.got.clone()
    }
}

pub(crate) struct Stats;
impl Handler<Stats> for Sub {
    type Reply = SubscriptionStats;
    async fn handle(&mut self, _: Stats, _ctx: &mut Context<Self>) -> SubscriptionStats {
        self.subscription.stats()
    }
}

/// The (key, value) pairs received so far.
pub(crate) struct Pairs;
impl Handler<Pairs> for Sub {
    type Reply = Vec<(u64, u64)>;
    async fn handle(&mut self, _: Pairs, _ctx: &mut Context<Self>) -> Vec<(u64, u64)> {
        self.got
            .iter()
            .map(|m| (m.key().unwrap_or(u64::MAX), **m))
            .collect()
    }
}

/// Holds the actor in this handler until the sender fires.
struct Hold(oneshot::Receiver<()>);
impl Handler<Hold> for Sub {
    type Reply = ();
    async fn handle(&mut self, Hold(go): Hold, _ctx: &mut Context<Self>) {
        let _ = go.await;
    }
}

/// Spawns a subscriber and waits until its `on_start` (and so its subscription) has run.
pub(crate) async fn subscriber(bus: &Bus, args: SubArgs) -> ActorRef<Sub> {
    subscriber_with(bus, args, SpawnOptions::new()).await
}

pub(crate) async fn subscriber_with(
    bus: &Bus,
    args: SubArgs,
    options: SpawnOptions,
) -> ActorRef<Sub> {
    let (started, ready) = oneshot::channel();
    let actor = bus
        .spawn_with::<Sub>(args, options.on_started(started))
        .unwrap();
    ready.await.unwrap();
    actor
}

/// Parks the actor in a handler; returns the key that lets it go on.
pub(crate) async fn hold(actor: &ActorRef<Sub>) -> oneshot::Sender<()> {
    let (go, wait) = oneshot::channel();
    actor.tell(Hold(wait)).await.unwrap();
    // Let the actor take the message out of its mailbox and park in the handler.
    settle().await;
    go
}
