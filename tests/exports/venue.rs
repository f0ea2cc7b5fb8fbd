//! The `Venue` test actor, the messages that ask it what it got or hold it, and the encoded
//! bodies of the contract messages it takes.

use mycelium::prelude::*;
use mycelium_codec::WireMessage;
use mycelium_contracts::{CancelOrder, Heartbeat, OrderAck};
use tokio::sync::oneshot;

pub(crate) struct Venue {
    cancels: u64,
}

impl Actor for Venue {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Venue { cancels: 0 })
    }
}

impl Handler<CancelOrder> for Venue {
    type Reply = OrderAck;
    async fn handle(&mut self, c: CancelOrder, _ctx: &mut Context<Self>) -> OrderAck {
        self.cancels += 1;
        OrderAck {
            client_order_id: c.client_order_id,
            venue_order_id: format!("V{}", c.client_order_id),
            ts_ns: c.ts_ns,
            venue_ts_ns: Some(self.cancels),
        }
    }
}

/// Echoes a heartbeat; panics on sequence number 0.
impl Handler<Heartbeat> for Venue {
    type Reply = Heartbeat;
    async fn handle(&mut self, h: Heartbeat, _ctx: &mut Context<Self>) -> Heartbeat {
        assert!(h.seq != 0, "heartbeat 0 requested a crash");
        h
    }
}

pub(crate) struct Cancels;
impl Handler<Cancels> for Venue {
    type Reply = u64;
    async fn handle(&mut self, _: Cancels, _ctx: &mut Context<Self>) -> u64 {
        self.cancels
    }
}

pub(crate) struct Hold(pub(crate) oneshot::Receiver<()>);
impl Handler<Hold> for Venue {
    type Reply = ();
    async fn handle(&mut self, Hold(wait): Hold, _ctx: &mut Context<Self>) {
        let _ = wait.await;
    }
}

pub(crate) fn cancel(id: u64) -> Vec<u8> {
    let mut body = Vec::new();
    CancelOrder {
        client_order_id: id,
        instrument: 9,
        ts_ns: 1_000 + id,
    }
    .encode_body(&mut body);
    body
}

pub(crate) fn heartbeat(seq: u64) -> Vec<u8> {
    let mut body = Vec::new();
    Heartbeat {
        ts_ns: 1,
        seq,
        sender: "feed".into(),
    }
    .encode_body(&mut body);
    body
}
