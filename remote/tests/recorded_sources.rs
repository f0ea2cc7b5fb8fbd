//! Where a recorded actor's messages came from: a link's delivery names the peer node; a
//! tell from code outside the actors, from an actor that is not recorded, and from code of
//! another language each say so.

mod common;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mycelium_actors::recording::{self, Delivery, Language, Lifecycle, Recorder, Source};
use mycelium_actors::{actor_from_args, ActorId, ActorRef, Bus, Context, Handler, SpawnOptions};
use mycelium_contracts::CancelOrder;
use mycelium_remote::{LinkEventKind, RemoteActor};
use tokio::sync::mpsc;

/// Where each handled order came from, by its id.
struct Sources(mpsc::UnboundedSender<(u64, Source)>);

impl Recorder for Sources {
    fn handled(
        &self,
        _: ActorId,
        _: Duration,
        _: Delivery,
        from: Source,
        _: &'static str,
        m: &dyn Any,
    ) {
        if let Some(order) = m.downcast_ref::<CancelOrder>() {
            let _ = self.0.send((order.client_order_id, from));
        }
    }
    fn replied(&self, _: ActorId, _: Duration, _: &'static str, _: &dyn Any) {}
    fn lifecycle(&self, _: ActorId, _: Duration, _: Lifecycle<'_>) {}
}

#[derive(Clone)]
struct Venue;
actor_from_args!(Venue);

impl Handler<CancelOrder> for Venue {
    type Reply = ();
    async fn handle(&mut self, _: CancelOrder, _: &mut Context<Self>) {}
}

/// Passes each order on to the venue: an actor that is not recorded.
struct Desk(ActorRef<Venue>);

impl mycelium_actors::Actor for Desk {
    type Args = ActorRef<Venue>;
    async fn on_start(
        venue: ActorRef<Venue>,
        _: &mut Context<Self>,
    ) -> Result<Self, mycelium_actors::BoxError> {
        Ok(Desk(venue))
    }
}

impl Handler<CancelOrder> for Desk {
    type Reply = ();
    async fn handle(&mut self, order: CancelOrder, _: &mut Context<Self>) {
        let _ = self.0.tell(order).await;
    }
}

fn order(id: u64) -> CancelOrder {
    CancelOrder {
        client_order_id: id,
        instrument: 1,
        ts_ns: id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_actor_is_told_where_each_message_came_from() {
    let dir = TempDir::new("sources");
    let (tx, mut handled) = mpsc::unbounded_channel();
    let bus_b = Bus::new();
    let venue = bus_b
        .spawn_with::<Venue>(Venue, SpawnOptions::new().record(Arc::new(Sources(tx))))
        .unwrap();
    let desk = bus_b.spawn::<Desk>(venue.clone());
    let exports = bus_b.exports();
    exports
        .export("venue", venue.recipient::<CancelOrder>())
        .unwrap();
    let (b, mut b_events) = node("b", &bus_b, Arc::new(exports), fast_config());
    let at = b.listen(&dir.socket("b.sock"), &["a"]).await.unwrap();

    let bus_a = Bus::new();
    let (rec, _) = common::Recorder::new(true);
    let (a, _a_events) = node("a", &bus_a, rec, fast_config());
    a.connect("b", at);
    RemoteActor::<CancelOrder>::new(a.link_to("b"), "venue")
        .tell_numbered(&order(1))
        .await
        .unwrap();
    b_events
        .wait("a's link up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let from_a = b.link("a").expect("the link from a").node_id();

    venue.tell(order(2)).await.unwrap();
    desk.tell(order(3)).await.unwrap();
    recording::sending_from(Language::Python, || venue.try_tell(order(4))).unwrap();

    let mut got = Vec::new();
    tokio::time::timeout(BOUND, async {
        while got.len() < 4 {
            got.push(handled.recv().await.expect("the recorder lives"));
        }
    })
    .await
    .expect("four orders handled");
    got.sort_by_key(|(id, _)| *id);
    assert_eq!(
        got,
        [
            (1, Source::Node(from_a)),
            (2, Source::Outside),
            (3, Source::Actor(desk.id())),
            (4, Source::Foreign(Language::Python)),
        ]
    );
    a.shutdown();
    b.shutdown();
}
