//! Hibernating linked children: kept without a task each, and stopped with their parent.

use crate::common::*;
use crate::tasks;
use mycelium::actors::SpawnOptions;
use mycelium::prelude::*;

/// Keeps `n` hibernating linked children, one per "order".
struct Desk {
    orders: Vec<ActorRef<Probe>>,
}

impl Actor for Desk {
    type Args = (usize, Log);
    async fn on_start((n, log): Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let mut orders = Vec::new();
        for _ in 0..n {
            let args = ProbeArgs::new("order", &log);
            orders.push(ctx.spawn_child_with::<Probe>(args, SpawnOptions::new().hibernate())?);
        }
        Ok(Desk { orders })
    }
}

struct Orders;
impl Handler<Orders> for Desk {
    type Reply = Vec<ActorRef<Probe>>;
    async fn handle(&mut self, _: Orders, _: &mut Context<Self>) -> Vec<ActorRef<Probe>> {
        self.orders.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn an_actor_keeps_hibernating_linked_children_and_stops_them_first() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let desk = bus.spawn::<Desk>((10, log.clone()));
    let orders = desk.ask(Orders).await.unwrap();
    for (i, order) in orders.iter().enumerate() {
        order.tell(Record(i as u64)).await.unwrap();
        assert_eq!(order.ask(Seen).await.unwrap(), [i as u64]);
    }
    tokio::task::yield_now().await;
    assert_eq!(
        tasks(),
        2,
        "the desk and the bus's driver: no task per order"
    );
    log.take();
    desk.stop();
    desk.wait_for_stop().await;
    assert_eq!(
        log.take(),
        vec!["stop order"; 10],
        "each order stopped with its desk"
    );
    assert_eq!(bus.actor_count(), 0);
}
