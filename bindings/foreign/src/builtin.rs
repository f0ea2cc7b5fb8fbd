//! Example Rust actors every binding can start by name, so a Python, C or OCaml program mixes
//! Rust and foreign actors without compiling Rust: a counter, a relay that asks another
//! service, a quote recorder, a quote source and an ask latency probe. Each answers `Heartbeat` asks and is exported under a service
//! name. They are ordinary [registrations](crate::registry) of the repository's example
//! schema (`mycelium-contracts`), so they run on a bus of that schema only: a binding refuses
//! them on a bus of another schema.

use mycelium_actors::{Actor, BoxError, Context, Handler, Published, Publisher, SubscribeOptions};
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

/// Publishes `Quote`s on the topic it was started with: a `Heartbeat` ask publishes `seq` of
/// them in a row (waiting for subscribers that block when full) and answers once all are
/// published, with their number in `seq`. A source for throughput measurements.
pub struct QuoteSource {
    publisher: Publisher<Quote>,
}

impl Actor for QuoteSource {
    type Args = String;
    async fn on_start(topic: String, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(QuoteSource {
            publisher: ctx.bus().publisher::<Quote>(&topic)?,
        })
    }
}

impl Handler<Heartbeat> for QuoteSource {
    type Reply = Heartbeat;
    async fn handle(&mut self, hb: Heartbeat, _ctx: &mut Context<Self>) -> Heartbeat {
        for i in 0..hb.seq {
            let px = 100.0 + (i % 100) as f64 * 0.01;
            self.publisher
                .publish(Quote {
                    ts_ns: i,
                    instrument: (i % 64) as u32,
                    bid_px: px,
                    bid_qty: 10.0,
                    ask_px: px + 0.01,
                    ask_qty: 12.0,
                })
                .await;
        }
        Heartbeat {
            ts_ns: hb.ts_ns,
            seq: hb.seq,
            sender: "quote_source".into(),
        }
    }
}

/// Asks the service it was started with a `Heartbeat` `seq` times in a row (each answered
/// before the next, after a tenth as many to warm up) and answers with the median round trip
/// in `ts_ns` and the 99th percentile in `seq`, in nanoseconds of the wall clock: the latency
/// a Rust actor sees. A failed ask is answered with `seq = 0` and the error in `sender`.
pub struct AskProbe {
    service: String,
}

impl Actor for AskProbe {
    type Args = String;
    async fn on_start(service: String, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(AskProbe { service })
    }
}

impl Handler<Heartbeat> for AskProbe {
    type Reply = Heartbeat;
    async fn handle(&mut self, hb: Heartbeat, ctx: &mut Context<Self>) -> Heartbeat {
        let mut body = Vec::new();
        Heartbeat {
            ts_ns: 0,
            seq: 1,
            sender: "ask_probe".into(),
        }
        .encode_body(&mut body);
        let n = usize::try_from(hb.seq).unwrap_or(usize::MAX).max(1);
        let warmup = n / 10;
        let mut samples = Vec::with_capacity(n);
        for i in 0..warmup + n {
            let t0 = std::time::Instant::now();
            let asked = ctx
                .bus()
                .exports()
                .ask(&self.service, Heartbeat::TYPE_ID, &body)
                .await;
            let took = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
            if let Err(e) = asked {
                return Heartbeat {
                    ts_ns: 0,
                    seq: 0,
                    sender: format!("ask_probe error: {e}"),
                };
            }
            if i >= warmup {
                samples.push(took);
            }
        }
        samples.sort_unstable();
        let at = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
        Heartbeat {
            ts_ns: at(50),
            seq: at(99),
            sender: "ask_probe".into(),
        }
    }
}

/// The example actors, registered in every process as `counter`, `relay` (arg: the service
/// it asks), `quote_recorder` (arg: a topic pattern), `quote_source` (arg: a topic) and
/// `ask_probe` (arg: the service to ask).
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
        Registration::of(
            RustActor::<QuoteSource>::new("quote_source", schema)
                .text_arg("the topic to publish on")
                .answers::<Heartbeat>(),
        ),
        Registration::of(
            RustActor::<AskProbe>::new("ask_probe", schema)
                .text_arg("the service to ask")
                .answers::<Heartbeat>(),
        ),
    ];
    // Each is complete (an Args rule and a message), so none is refused.
    registrations.into_iter().flatten().collect()
}
