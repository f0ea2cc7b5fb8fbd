//! w4, fan-out: one publisher, `SUBSCRIBERS` subscribers, every message delivered to all of
//! them, none lost; and w14, the same with one subscriber and every message published alone
//! (by Mycelium too), which measures what a publish costs on its own ([`W14`]). Each framework
//! uses its own facility:
//!
//! - Mycelium: a typed topic (`Bus::publisher::<u64>`), the messages published in batches of
//!   `BATCH` with `Publisher::publish_many(..).await` (the publisher has all `n` messages at
//!   hand, so a user would batch them; no peer has a batch publish), subscribers attached with `Bus::subscribe_actor(.., SubscribeOptions::new())` (overflow
//!   policy `Block`, the default: the publisher waits for room, nothing is dropped).
//! - kameo: `kameo_actors::pubsub::PubSub` with `DeliveryStrategy::Guaranteed`, used as a
//!   value held by the publisher; `PubSub::publish(msg).await` waits for room in each
//!   subscriber's mailbox (`tell(..).await`).
//! - ractor: a process group (`ractor::pg::join`); each message goes to the group's members
//!   as `pg` documents a broadcast: `pg::get_members`, up-cast each `ActorCell` to an
//!   `ActorRef`, `cast`.
//! - actix (no pub/sub): a loop of `do_send` over the subscribers' addresses.
//!
//! After the last publish the driver asks every subscriber for its count (the ask queues
//! behind the deliveries); the time runs from the first publish to the last answer.
//! `lost` = subscribers x messages minus the sum of the counts.

use std::time::{Duration, Instant};

use crate::common::{run_tokio, Rt, MAILBOX_CAPACITY};

pub const SUBSCRIBERS: usize = 64;

/// Messages per `publish_many` on Mycelium's side.
pub const BATCH: u64 = 64;

/// What a fan-out run publishes: to how many subscribers, and how many messages Mycelium
/// publishes at once (1: each with `Publisher::publish`). The peers publish one at a time.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub subscribers: usize,
    pub batch: u64,
}

/// w4: `SUBSCRIBERS` subscribers, batches of `BATCH`.
pub const W4: Shape = Shape {
    subscribers: SUBSCRIBERS,
    batch: BATCH,
};

/// w14: one subscriber, each message published alone.
pub const W14: Shape = Shape {
    subscribers: 1,
    batch: 1,
};

/// Result of one run: deliveries per second and deliveries missing.
pub struct W4Result {
    pub deliveries_per_sec: f64,
    pub lost: f64,
}

fn result(n: u64, counted: u64, secs: f64, shape: Shape) -> W4Result {
    let expected = shape.subscribers as u64 * n;
    W4Result {
        deliveries_per_sec: expected as f64 / secs,
        lost: expected.saturating_sub(counted) as f64,
    }
}

pub mod mycelium {
    use super::*;
    use ::mycelium::actors::MailboxConfig;
    use ::mycelium::prelude::*;

    struct Sub {
        count: u64,
    }
    impl Actor for Sub {
        type Args = ();
        async fn on_start(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Sub { count: 0 })
        }
    }
    impl Handler<Published<u64>> for Sub {
        type Reply = ();
        async fn handle(&mut self, _: Published<u64>, _: &mut Context<Self>) {
            self.count += 1;
        }
    }
    struct Count;
    impl Handler<Count> for Sub {
        type Reply = u64;
        async fn handle(&mut self, _: Count, _: &mut Context<Self>) -> u64 {
            self.count
        }
    }

    /// `hibernate`: the subscribers are spawned with `SpawnOptions::hibernate`, so every
    /// batch wakes each of them (the fan-out of a burst to sleeping actors).
    ///
    /// `recorded`: the subscribers are recorded into a journal (`SpawnOptions::record`); the
    /// time includes the journal's flush. A publication of a `u64` is written as a record
    /// of its type's name without a payload (the journal chooses no codec for `Published`
    /// of an in-process type).
    pub fn run(rt: Rt, n: u64, shape: Shape, hibernate: bool, recorded: bool) -> W4Result {
        run_tokio(rt, async move {
            let bus = Bus::builder()
                .mailbox(MailboxConfig::Bounded(MAILBOX_CAPACITY))
                .build()
                .expect("bus inside a tokio runtime");
            let journal = recorded.then(|| crate::fw_mycelium::BenchJournal::open("w14"));
            let recording = journal.as_ref().map(|j| {
                std::sync::Arc::new(
                    mycelium_journal::Recording::new(j.journal.clone()).serde::<u64>(),
                )
            });
            let mut subs = Vec::with_capacity(shape.subscribers);
            let mut subscriptions = Vec::with_capacity(shape.subscribers);
            for _ in 0..shape.subscribers {
                let s = if let Some(r) = &recording {
                    bus.spawn_with::<Sub>(
                        (),
                        ::mycelium::actors::SpawnOptions::new().record(r.clone()),
                    )
                    .expect("spawn")
                } else if hibernate {
                    bus.spawn_with::<Sub>((), ::mycelium::actors::SpawnOptions::new().hibernate())
                        .expect("spawn")
                } else {
                    bus.spawn::<Sub>(())
                };
                subscriptions.push(
                    bus.subscribe_actor::<Sub, u64>(&s, "w4.fanout", SubscribeOptions::new())
                        .expect("subscribe"),
                );
                assert_eq!(s.ask(Count).await.expect("ask"), 0);
                subs.push(s);
            }
            let publisher = bus.publisher::<u64>("w4.fanout").expect("publisher");
            let t0 = Instant::now();
            if shape.batch == 1 {
                for i in 0..n {
                    let report = publisher.publish(i).await;
                    debug_assert_eq!(report.delivered, shape.subscribers);
                }
            }
            let mut i = 0;
            while shape.batch > 1 && i < n {
                let end = (i + shape.batch).min(n);
                let report = publisher.publish_many(i..end).await;
                debug_assert_eq!(report.delivered, shape.subscribers * (end - i) as usize);
                i = end;
            }
            let mut counted = 0;
            for s in &subs {
                counted += s.ask(Count).await.expect("ask");
            }
            if let Some(j) = &journal {
                j.flush();
            }
            let secs = t0.elapsed().as_secs_f64();
            drop(subscriptions);
            bus.shutdown(Duration::from_secs(5)).await;
            result(n, counted, secs, shape)
        })
    }
}

pub mod kameo {
    use super::*;
    use ::kameo::error::Infallible;
    use ::kameo::mailbox;
    use ::kameo::prelude::*;
    use kameo_actors::pubsub::PubSub;
    use kameo_actors::DeliveryStrategy;

    struct Sub {
        count: u64,
    }
    impl Actor for Sub {
        type Args = ();
        type Error = Infallible;
        async fn on_start(_: (), _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(Sub { count: 0 })
        }
    }
    impl Message<u64> for Sub {
        type Reply = ();
        async fn handle(&mut self, _: u64, _: &mut Context<Self, ()>) {
            self.count += 1;
        }
    }
    struct Count;
    impl Message<Count> for Sub {
        type Reply = u64;
        async fn handle(&mut self, _: Count, _: &mut Context<Self, u64>) -> u64 {
            self.count
        }
    }

    pub fn run(rt: Rt, n: u64, shape: Shape) -> W4Result {
        run_tokio(rt, async move {
            let mut pubsub = PubSub::<u64>::new(DeliveryStrategy::Guaranteed);
            let mut subs = Vec::with_capacity(shape.subscribers);
            for _ in 0..shape.subscribers {
                let s = Sub::spawn_with_mailbox((), mailbox::bounded(MAILBOX_CAPACITY));
                s.wait_for_startup().await;
                pubsub.subscribe(s.clone());
                subs.push(s);
            }
            let t0 = Instant::now();
            for i in 0..n {
                pubsub.publish(i).await;
            }
            let mut counted = 0;
            for s in &subs {
                counted += s.ask(Count).await.expect("ask");
            }
            let secs = t0.elapsed().as_secs_f64();
            drop(pubsub);
            for s in &subs {
                s.stop_gracefully().await.ok();
            }
            for s in &subs {
                s.wait_for_shutdown().await;
            }
            result(n, counted, secs, shape)
        })
    }
}

pub mod ractor {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use ::ractor::{call, pg, Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

    struct Sub;
    enum SubMsg {
        Val(#[allow(dead_code)] u64),
        Count(RpcReplyPort<u64>),
    }
    impl ::ractor::Message for SubMsg {}
    impl Actor for Sub {
        type Msg = SubMsg;
        type State = u64;
        type Arguments = ();
        async fn pre_start(&self, _: ActorRef<SubMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
            Ok(0)
        }
        async fn handle(
            &self,
            _: ActorRef<SubMsg>,
            msg: SubMsg,
            count: &mut u64,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                SubMsg::Val(_) => *count += 1,
                SubMsg::Count(reply) => {
                    let _ = reply.send(*count);
                }
            }
            Ok(())
        }
    }

    /// Process groups are process-global: a fresh group name per run.
    static RUN: AtomicU64 = AtomicU64::new(0);

    pub fn run(rt: Rt, n: u64, shape: Shape) -> W4Result {
        run_tokio(rt, async move {
            let group = format!("w4-fanout-{}", RUN.fetch_add(1, Ordering::Relaxed));
            let mut subs = Vec::with_capacity(shape.subscribers);
            let mut handles = Vec::with_capacity(shape.subscribers);
            for _ in 0..shape.subscribers {
                let (s, h) = Actor::spawn(None, Sub, ()).await.expect("spawn");
                subs.push(s);
                handles.push(h);
            }
            pg::join(group.clone(), subs.iter().map(|s| s.get_cell()).collect());
            assert_eq!(pg::get_members(&group).len(), shape.subscribers);
            let t0 = Instant::now();
            for i in 0..n {
                for cell in pg::get_members(&group) {
                    let member: ActorRef<SubMsg> = cell.into();
                    member.cast(SubMsg::Val(i)).expect("cast");
                }
            }
            let mut counted = 0;
            for s in &subs {
                counted += call!(s, SubMsg::Count).expect("call");
            }
            let secs = t0.elapsed().as_secs_f64();
            for s in &subs {
                s.stop(None);
            }
            for h in handles {
                h.await.ok();
            }
            result(n, counted, secs, shape)
        })
    }
}

pub mod actix {
    use super::*;
    use ::actix::prelude::*;

    struct Sub {
        count: u64,
    }
    impl Actor for Sub {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Val(#[allow(dead_code)] u64);
    impl Handler<Val> for Sub {
        type Result = ();
        fn handle(&mut self, _: Val, _: &mut Context<Self>) {
            self.count += 1;
        }
    }

    #[derive(Message)]
    #[rtype(result = "u64")]
    struct Count;
    impl Handler<Count> for Sub {
        type Result = u64;
        fn handle(&mut self, _: Count, _: &mut Context<Self>) -> u64 {
            self.count
        }
    }

    /// rt=ct: everything in one `System`; rt=mt: the subscribers on a second `Arbiter`, the
    /// publisher on the `System` thread (as w1 does).
    pub fn run(rt: Rt, n: u64, shape: Shape) -> W4Result {
        let sys = System::new();
        let out = sys.block_on(async move {
            let arbiter = match rt {
                Rt::Ct => None,
                Rt::Mt => Some(Arbiter::new()),
            };
            let mut subs = Vec::with_capacity(shape.subscribers);
            for _ in 0..shape.subscribers {
                let make = |ctx: &mut Context<Sub>| {
                    ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
                    Sub { count: 0 }
                };
                let s = match &arbiter {
                    None => Sub::create(make),
                    Some(a) => Sub::start_in_arbiter(&a.handle(), make),
                };
                assert_eq!(s.send(Count).await.expect("ask"), 0);
                subs.push(s);
            }
            let t0 = Instant::now();
            for i in 0..n {
                for s in &subs {
                    s.do_send(Val(i));
                }
            }
            let mut counted = 0;
            for s in &subs {
                counted += s.send(Count).await.expect("ask");
            }
            let secs = t0.elapsed().as_secs_f64();
            drop(subs);
            if let Some(a) = arbiter {
                a.stop();
                a.join().ok();
            }
            result(n, counted, secs, shape)
        });
        System::current().stop();
        sys.run().ok();
        out
    }
}
