//! Example Rust actors every binding can start by name, so a Python, C or OCaml program mixes
//! Rust and foreign actors without compiling Rust: a counter, a relay that asks another
//! service, a quote recorder. Each answers `Heartbeat` asks and is exported under a service
//! name. They are ordinary [registrations](crate::registry) of the repository's example
//! schema (`mycelium-contracts`), so they run on a bus of that schema only: a binding refuses
//! them on a bus of another schema.

use mycelium_actors::{Actor, BoxError, Context, Handler, Published, SubscribeOptions};
use mycelium_codec::WireMessage;
use mycelium_contracts::{Heartbeat, Quote, PACKAGE, SCHEMA_DIGEST};

pub use crate::registry::{Kind, Starting};
use crate::registry::{Registration, RustActor, SchemaId};

/// Counts: each `Heartbeat` adds its `seq`; the reply carries the total.
pub struct Counter {
    total: u64,
}

impl Actor for Counter {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Counter { total: 0 })
    }
}

impl Handler<Heartbeat> for Counter {
    type Reply = Heartbeat;
    async fn handle(&mut self, hb: Heartbeat, _ctx: &mut Context<Self>) -> Heartbeat {
        self.total = self.total.wrapping_add(hb.seq);
        Heartbeat {
            ts_ns: hb.ts_ns,
            seq: self.total,
            sender: "counter".into(),
        }
    }
}

/// Asks the service it was started with, passing `seq + 1`, and answers with that reply:
/// a Rust actor in the middle of a Python -> Rust -> Python chain. A failed inner ask is
/// answered with `seq = 0` and the error in `sender`.
pub struct Relay {
    target: String,
}

impl Actor for Relay {
    type Args = String;
    async fn on_start(target: String, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Relay { target })
    }
}

impl Handler<Heartbeat> for Relay {
    type Reply = Heartbeat;
    async fn handle(&mut self, hb: Heartbeat, ctx: &mut Context<Self>) -> Heartbeat {
        let mut body = Vec::new();
        Heartbeat {
            seq: hb.seq.wrapping_add(1),
            ..hb.clone()
        }
        .encode_body(&mut body);
        let asked = ctx
            .bus()
            .exports()
            .ask(&self.target, Heartbeat::TYPE_ID, &body)
            .await;
        let answer = match asked {
            Ok((Heartbeat::TYPE_ID, reply)) => {
                Heartbeat::decode_body(&reply).map_err(|e| e.to_string())
            }
            Ok((other, _)) => Err(format!("`{}` answered with type id {other}", self.target)),
            Err(e) => Err(e.to_string()),
        };
        answer.unwrap_or_else(|e| Heartbeat {
            ts_ns: hb.ts_ns,
            seq: 0,
            sender: format!("relay error: {e}"),
        })
    }
}

/// Subscribes to `Quote`s under the pattern it was started with and counts them; a
/// `Heartbeat` ask answers with the count in `seq` and the last quote's `ts_ns`.
pub struct QuoteRecorder {
    seen: u64,
    last_ts: u64,
}

impl Actor for QuoteRecorder {
    type Args = String;
    async fn on_start(pattern: String, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.subscribe::<Quote>(&pattern, SubscribeOptions::new())?;
        Ok(QuoteRecorder {
            seen: 0,
            last_ts: 0,
        })
    }
}

impl Handler<Published<Quote>> for QuoteRecorder {
    type Reply = ();
    async fn handle(&mut self, q: Published<Quote>, _ctx: &mut Context<Self>) {
        self.seen += 1;
        self.last_ts = q.msg().ts_ns;
    }
}

impl Handler<Heartbeat> for QuoteRecorder {
    type Reply = Heartbeat;
    async fn handle(&mut self, _hb: Heartbeat, _ctx: &mut Context<Self>) -> Heartbeat {
        Heartbeat {
            ts_ns: self.last_ts,
            seq: self.seen,
            sender: "recorder".into(),
        }
    }
}

/// The example actors, registered in every process as `counter`, `relay` (arg: the service
/// it asks) and `quote_recorder` (arg: a topic pattern).
pub(crate) fn examples() -> Vec<Registration> {
    let schema = SchemaId::new(PACKAGE, SCHEMA_DIGEST).python_module("mycelium.trading");
    let registrations = [
        Registration::of(
            RustActor::<Counter>::new("counter", schema)
                .no_arg()
                .answers::<Heartbeat>(),
        ),
        Registration::of(
            RustActor::<Relay>::new("relay", schema)
                .text_arg("the service to ask")
                .answers::<Heartbeat>(),
        ),
        Registration::of(
            RustActor::<QuoteRecorder>::new("quote_recorder", schema)
                .text_arg("a topic pattern")
                .answers::<Heartbeat>(),
        ),
    ];
    // Each is complete (an Args rule and a message), so none is refused.
    registrations.into_iter().flatten().collect()
}
