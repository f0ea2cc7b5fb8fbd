//! Rust actors every binding can start by name, so a Python, C or OCaml program mixes Rust
//! and foreign actors without compiling Rust: a counter, a relay that asks another service,
//! a quote recorder. Each answers `Heartbeat` asks and is exported under a service name.
//! They speak the repository's example schema (`mycelium-contracts`), so they run on a bus
//! of that schema only: a binding refuses them on a bus of another schema.

use mycelium_actors::{
    Actor, BoxError, Bus, Context, Handler, Published, SpawnOptions, SubscribeOptions,
};
use mycelium_codec::WireMessage;
use mycelium_contracts::{Heartbeat, Quote};
use mycelium_supervisor::{ChildSpec, SupervisorRef};
use std::future::Future;
use std::pin::Pin;

use tokio::sync::oneshot;

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

/// The built-in Rust actor kinds, by the name bindings use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `counter`: [`Counter`].
    Counter,
    /// `relay` (arg: the service it asks): [`Relay`].
    Relay,
    /// `quote_recorder` (arg: a topic pattern): [`QuoteRecorder`].
    QuoteRecorder,
}

impl Kind {
    /// The kind named `name`, or what the names are.
    pub fn parse(name: &str) -> Result<Kind, String> {
        match name {
            "counter" => Ok(Kind::Counter),
            "relay" => Ok(Kind::Relay),
            "quote_recorder" => Ok(Kind::QuoteRecorder),
            other => Err(format!(
                "no built-in Rust actor `{other}`: use counter, relay (arg: the service to ask) or quote_recorder (arg: a topic pattern)"
            )),
        }
    }

    /// The name bindings use for the kind (`counter`, `relay`, `quote_recorder`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Relay => "relay",
            Kind::QuoteRecorder => "quote_recorder",
        }
    }

    fn needs_arg(self) -> bool {
        !matches!(self, Kind::Counter)
    }

    /// Checks that a kind that needs an argument has one.
    pub fn check_arg(self, arg: &Option<String>) -> Result<(), String> {
        if self.needs_arg() && arg.is_none() {
            return Err(format!("the built-in `{self:?}` actor needs an arg"));
        }
        Ok(())
    }

    /// Spawns it unsupervised; the future it gives waits for its `on_start` and, once the
    /// start has succeeded, exports it under `service`. The future fails (with a message for
    /// the caller) when the start fails (a `quote_recorder` pattern that breaks the topic
    /// grammar) or the export is refused (the service name is taken); nothing is left
    /// running then. Call it from within the bus's runtime.
    pub fn spawn(self, bus: &Bus, service: &str, arg: Option<String>) -> Result<Starting, String> {
        let arg = arg.unwrap_or_default();
        match self {
            Kind::Counter => spawn_exported::<Counter>(bus, service, (), self),
            Kind::Relay => spawn_exported::<Relay>(bus, service, arg, self),
            Kind::QuoteRecorder => spawn_exported::<QuoteRecorder>(bus, service, arg, self),
        }
    }

    /// A child spec for a supervision tree (export it with [`export_child`](Self::export_child)
    /// once the tree runs).
    pub fn child_spec(self, name: &str, arg: Option<String>) -> ChildSpec {
        let arg = arg.unwrap_or_default();
        match self {
            Kind::Counter => ChildSpec::new::<Counter>(name, ()),
            Kind::Relay => ChildSpec::new::<Relay>(name, arg),
            Kind::QuoteRecorder => ChildSpec::new::<QuoteRecorder>(name, arg),
        }
    }

    /// Exports the supervised child `name` under `service`, through an address that follows
    /// the child by name ([`SupervisorRef::child_reply_recipient`]): the service reaches the
    /// incarnation that runs now, also after the child was killed and spawned anew with a new
    /// ref. While none runs, a call is refused as for a stopped actor.
    pub fn export_child(
        self,
        bus: &Bus,
        sup: &SupervisorRef,
        name: &str,
        service: &str,
    ) -> Result<(), String> {
        let missing = || format!("the supervisor has no `{name}` child of kind {self:?}");
        let child = match self {
            Kind::Counter => sup.child_reply_recipient::<Counter, Heartbeat>(name),
            Kind::Relay => sup.child_reply_recipient::<Relay, Heartbeat>(name),
            Kind::QuoteRecorder => sup.child_reply_recipient::<QuoteRecorder, Heartbeat>(name),
        }
        .ok_or_else(missing)?;
        bus.exports()
            .export_ask(service, child)
            .map_err(|e| e.to_string())
    }
}

/// A built-in actor being started by [`Kind::spawn`]: resolves once it runs and is exported,
/// or with why it is not running.
pub type Starting = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

fn spawn_exported<A>(
    bus: &Bus,
    service: &str,
    args: A::Args,
    kind: Kind,
) -> Result<Starting, String>
where
    A: Handler<Heartbeat, Reply = Heartbeat>,
{
    let (outcome, started) = oneshot::channel();
    let actor = bus
        .spawn_with::<A>(args, SpawnOptions::new().on_start_outcome(outcome))
        .map_err(|e| e.to_string())?;
    let bus = bus.clone();
    let service = service.to_string();
    Ok(Box::pin(async move {
        match started.await {
            Ok(Ok(())) => {}
            // An unsupervised actor whose start failed has stopped with the failure.
            Ok(Err(reason)) => {
                return Err(format!(
                    "the built-in {kind:?} actor could not start: {reason}"
                ))
            }
            Err(_) => {
                return Err(format!(
                    "the built-in {kind:?} actor stopped before its start finished"
                ))
            }
        }
        let exported = bus
            .exports()
            .export_ask(&service, actor.reply_recipient::<Heartbeat>());
        if let Err(e) = exported {
            // Unreachable by name, it would run for nothing.
            actor.stop();
            actor.wait_for_stop().await;
            return Err(e.to_string());
        }
        Ok(())
    }))
}
