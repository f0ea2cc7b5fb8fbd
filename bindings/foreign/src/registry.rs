//! The Rust actors a Python, C or OCaml program starts by name, in its own process.
//!
//! A crate of Rust actors registers each one once per process with [`register`]: the name
//! bindings use, the schema its messages come from, how its `Args` are built from the text
//! argument a binding passes, and which schema messages it takes ([`RustActor::answers`] for
//! asks and tells, [`RustActor::takes`] for tells only). A binding then finds it with
//! [`Kind::parse`] and starts it like any of its own actors: unsupervised and exported under a
//! service name ([`Kind::spawn`]), or as a child of a supervision tree ([`Kind::child_spec`],
//! then [`Kind::export_child`]), restarted by the tree with the same `Args`. Callers reach it
//! through the bus's export table by service name, with the schema's type ids and bodies.
//!
//! ```
//! use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
//! use mycelium_codec::WireMessage;
//! use mycelium_contracts::{Heartbeat, PACKAGE, SCHEMA_DIGEST};
//! use mycelium_foreign::registry::{register, Kind, RustActor, SchemaId};
//!
//! /// Answers every heartbeat with its `seq` doubled.
//! struct Doubler;
//! impl Actor for Doubler {
//!     type Args = ();
//!     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Doubler) }
//! }
//! impl Handler<Heartbeat> for Doubler {
//!     type Reply = Heartbeat;
//!     async fn handle(&mut self, hb: Heartbeat, _ctx: &mut Context<Self>) -> Heartbeat {
//!         Heartbeat { seq: hb.seq * 2, ..hb }
//!     }
//! }
//!
//! register(
//!     RustActor::<Doubler>::new("doubler", SchemaId::new(PACKAGE, SCHEMA_DIGEST))
//!         .no_arg()
//!         .answers::<Heartbeat>(),
//! )
//! .unwrap();
//!
//! # tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap().block_on(async {
//! let bus = Bus::new();
//! let kind = Kind::parse("doubler").unwrap();
//! kind.spawn(&bus, "double", None).unwrap().await.unwrap();
//! let mut body = Vec::new();
//! Heartbeat { ts_ns: 0, seq: 21, sender: String::new() }.encode_body(&mut body);
//! let (_, reply) = bus.exports().ask("double", Heartbeat::TYPE_ID, &body).await.unwrap();
//! assert_eq!(Heartbeat::decode_body(&reply).unwrap().seq, 42);
//! # });
//! ```
//!
//! The registry is process-wide: every binding of the process (a Python extension, the C
//! ABI) sees the same registrations, and a registration lives as long as the process. It
//! starts with the example actors of [`builtin`](crate::builtin).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};

use mycelium_actors::export::Exports;
use mycelium_actors::{Actor, ActorRef, BoxError, Bus, Context, Handler, SpawnOptions};
use mycelium_codec::WireMessage;
use mycelium_supervisor::{ChildSpec, SupervisorRef};
use tokio::sync::oneshot;

/// The schema a registered actor's messages come from: its package name and digest (the
/// `PACKAGE` and `SCHEMA_DIGEST` constants of the Rust module `mycelium-codegen` generates),
/// and the name of the Python module generated from the same file, if there is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchemaId {
    /// The schema's package name.
    pub package: &'static str,
    /// The schema's digest (SHA-256 of its canonical form).
    pub digest: [u8; 32],
    /// The Python module generated from the schema (`"desk.messages"`): a Python bus that
    /// speaks no schema yet adopts it when it starts the actor.
    pub python_module: Option<&'static str>,
}

impl SchemaId {
    /// The schema `package` with `digest`.
    pub const fn new(package: &'static str, digest: [u8; 32]) -> SchemaId {
        SchemaId {
            package,
            digest,
            python_module: None,
        }
    }

    /// Names the Python module generated from the same schema file.
    pub const fn python_module(mut self, module: &'static str) -> SchemaId {
        self.python_module = Some(module);
        self
    }

    /// The digest in lowercase hex, as `mycelium-codegen digest` prints it.
    pub fn digest_hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Whether the actor takes the binding's text argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgUse {
    /// It takes none; an argument given is refused.
    None,
    /// It needs one.
    Required,
    /// It may take one.
    Optional,
}

type ParseArgs<A> =
    Arc<dyn Fn(Option<&str>) -> Result<<A as Actor>::Args, String> + Send + Sync + 'static>;

/// Exports the supervisor's child (by name) under a service; `None` when it has no such
/// child of the registered type.
type ExportChild = fn(&Exports, &SupervisorRef, &str, &str) -> Option<Result<(), String>>;

/// Exports a running `A` (a ref, or a supervisor's child by name) under a service.
struct Export<A: Actor> {
    type_id: u16,
    spawned: fn(&Exports, &str, &ActorRef<A>) -> Result<(), String>,
    child: ExportChild,
}

/// A Rust actor `A` described for [`register`]: its name, schema, argument and messages.
pub struct RustActor<A: Actor> {
    name: String,
    schema: SchemaId,
    arg: ArgUse,
    arg_doc: String,
    args: Option<ParseArgs<A>>,
    exports: Vec<Export<A>>,
}

impl<A: Actor> RustActor<A> {
    /// The actor bindings start as `name`, speaking `schema`. Say how its `Args` are built
    /// ([`no_arg`](Self::no_arg), [`text_arg`](Self::text_arg), [`args`](Self::args)) and
    /// which messages it takes before registering it.
    pub fn new(name: impl Into<String>, schema: SchemaId) -> RustActor<A> {
        RustActor {
            name: name.into(),
            schema,
            arg: ArgUse::None,
            arg_doc: String::new(),
            args: None,
            exports: Vec::new(),
        }
    }

    /// Builds the `Args` from the binding's argument (`None` when none was given); `arg`
    /// says whether one is needed, `doc` what it is (shown in errors: "the venue to route
    /// to"). An `Err` is the refusal the caller reads.
    pub fn args<F>(mut self, arg: ArgUse, doc: impl Into<String>, parse: F) -> RustActor<A>
    where
        F: Fn(Option<&str>) -> Result<A::Args, String> + Send + Sync + 'static,
    {
        self.arg = arg;
        self.arg_doc = doc.into();
        self.args = Some(Arc::new(parse));
        self
    }

    /// Asks the caller for a tell of `M` (and an ask, answered with the handler's reply, a
    /// message of the same schema) under the service the actor is exported as.
    pub fn answers<M>(mut self) -> RustActor<A>
    where
        A: Handler<M>,
        M: WireMessage + Send + 'static,
        <A as Handler<M>>::Reply: WireMessage + Send + 'static,
    {
        self.exports.push(Export {
            type_id: M::TYPE_ID,
            spawned: |exports, service, actor| {
                exports
                    .export_ask(service, actor.reply_recipient::<M>())
                    .map_err(|e| e.to_string())
            },
            child: |exports, sup, name, service| {
                let to = sup.child_reply_recipient::<A, M>(name)?;
                Some(exports.export_ask(service, to).map_err(|e| e.to_string()))
            },
        });
        self
    }

    /// Takes tells of `M` (a handler without a reply) under its service.
    pub fn takes<M>(mut self) -> RustActor<A>
    where
        A: Handler<M, Reply = ()>,
        M: WireMessage + Send + 'static,
    {
        self.exports.push(Export {
            type_id: M::TYPE_ID,
            spawned: |exports, service, actor| {
                exports
                    .export(service, actor.recipient::<M>())
                    .map_err(|e| e.to_string())
            },
            child: |exports, sup, name, service| {
                let to = sup.child_recipient::<A, M>(name)?;
                Some(exports.export(service, to).map_err(|e| e.to_string()))
            },
        });
        self
    }
}

impl<A: Actor<Args = ()>> RustActor<A> {
    /// The actor takes no argument (`Args = ()`).
    pub fn no_arg(self) -> RustActor<A> {
        self.args(ArgUse::None, "", |_| Ok(()))
    }
}

impl<A: Actor<Args = String>> RustActor<A> {
    /// The actor needs a text argument, its `Args` as given; `doc` says what it is.
    pub fn text_arg(self, doc: impl Into<String>) -> RustActor<A> {
        self.args(ArgUse::Required, doc, |arg| {
            Ok(arg.unwrap_or_default().to_string())
        })
    }
}

/// What [`register`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Another actor is registered under the name.
    #[error("a Rust actor named `{0}` is already registered in this process")]
    Taken(String),
    /// The name is empty.
    #[error("a Rust actor needs a non-empty name")]
    EmptyName,
    /// No `args`, `no_arg` or `text_arg` was given.
    #[error("the Rust actor `{0}` does not say how its Args are built (args, no_arg or text_arg)")]
    NoArgs(String),
    /// No message was given.
    #[error("the Rust actor `{0}` takes no message (answers::<M>() or takes::<M>())")]
    NoMessages(String),
    /// A message type was given twice.
    #[error("the Rust actor `{name}` lists type id {type_id} twice")]
    DuplicateMessage {
        /// The actor's name.
        name: String,
        /// The repeated type id.
        type_id: u16,
    },
}

/// Registers `actor` for every binding of the process; [`Kind::parse`] finds it by name.
pub fn register<A: Actor>(actor: RustActor<A>) -> Result<Kind, RegisterError> {
    let registration = Registration::of(actor)?;
    let mut table = registry().write().unwrap_or_else(|e| e.into_inner());
    if table.contains_key(&registration.name) {
        return Err(RegisterError::Taken(registration.name));
    }
    // A registration lives as long as the process: kinds are plain references to it.
    let registration: &'static Registration = Box::leak(Box::new(registration));
    table.insert(registration.name.clone(), registration);
    Ok(Kind(registration))
}

/// The registered actors, by name.
pub fn registered() -> Vec<Kind> {
    let table = registry().read().unwrap_or_else(|e| e.into_inner());
    table.values().map(|r| Kind(r)).collect()
}

type Table = RwLock<BTreeMap<String, &'static Registration>>;

fn registry() -> &'static Table {
    static REGISTRY: OnceLock<Table> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut table = BTreeMap::new();
        for mut registration in crate::builtin::examples() {
            registration.built_in = true;
            let registration: &'static Registration = Box::leak(Box::new(registration));
            table.insert(registration.name.clone(), registration);
        }
        RwLock::new(table)
    })
}

/// One registered actor, its type erased.
pub(crate) struct Registration {
    name: String,
    /// One of the example actors every process has ([`builtin`](crate::builtin)).
    built_in: bool,
    schema: SchemaId,
    arg: ArgUse,
    arg_doc: String,
    type_ids: Vec<u16>,
    ops: Box<dyn Ops>,
}

impl Registration {
    /// Checks and erases `actor`.
    pub(crate) fn of<A: Actor>(actor: RustActor<A>) -> Result<Registration, RegisterError> {
        if actor.name.is_empty() {
            return Err(RegisterError::EmptyName);
        }
        let Some(parse) = actor.args else {
            return Err(RegisterError::NoArgs(actor.name));
        };
        if actor.exports.is_empty() {
            return Err(RegisterError::NoMessages(actor.name));
        }
        let mut type_ids: Vec<u16> = actor.exports.iter().map(|e| e.type_id).collect();
        type_ids.sort_unstable();
        if let Some(w) = type_ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(RegisterError::DuplicateMessage {
                name: actor.name,
                type_id: w[0],
            });
        }
        Ok(Registration {
            name: actor.name,
            built_in: false,
            schema: actor.schema,
            arg: actor.arg,
            arg_doc: actor.arg_doc,
            type_ids,
            ops: Box::new(Typed {
                parse,
                exports: actor.exports,
            }),
        })
    }
}

trait Ops: Send + Sync {
    fn check(&self, arg: Option<&str>) -> Result<(), String>;
    fn spawn(
        &self,
        kind: Kind,
        bus: &Bus,
        service: &str,
        arg: Option<&str>,
    ) -> Result<Starting, String>;
    fn child_spec(&self, kind: Kind, name: &str, arg: Option<&str>) -> ChildSpec;
    fn export_child(
        &self,
        bus: &Bus,
        sup: &SupervisorRef,
        name: &str,
        service: &str,
    ) -> Option<Result<(), String>>;
}

struct Typed<A: Actor> {
    parse: ParseArgs<A>,
    exports: Vec<Export<A>>,
}

impl<A: Actor> Ops for Typed<A> {
    fn check(&self, arg: Option<&str>) -> Result<(), String> {
        (self.parse)(arg).map(drop)
    }

    fn spawn(
        &self,
        kind: Kind,
        bus: &Bus,
        service: &str,
        arg: Option<&str>,
    ) -> Result<Starting, String> {
        let args = (self.parse)(arg).map_err(|e| kind.refused_arg(&e))?;
        if bus.exports().type_ids(service).is_some() {
            return Err(format!(
                "the service name `{service}` is taken on this bus: start {} under another",
                kind.title()
            ));
        }
        let (outcome, started) = oneshot::channel();
        let actor = bus
            .spawn_with::<A>(args, SpawnOptions::new().on_start_outcome(outcome))
            .map_err(|e| e.to_string())?;
        let bus = bus.clone();
        let service = service.to_string();
        let exports: Vec<_> = self.exports.iter().map(|e| e.spawned).collect();
        Ok(Box::pin(async move {
            match started.await {
                Ok(Ok(())) => {}
                // An unsupervised actor whose start failed has stopped with the failure.
                Ok(Err(reason)) => {
                    return Err(format!("{} could not start: {reason}", kind.title()))
                }
                Err(_) => {
                    return Err(format!(
                        "{} stopped before its start finished",
                        kind.title()
                    ))
                }
            }
            let table = bus.exports();
            for export in exports {
                if let Err(e) = export(&table, &service, &actor) {
                    // Unreachable by name, it would run for nothing; all or nothing.
                    table.unexport(&service);
                    actor.stop();
                    actor.wait_for_stop().await;
                    return Err(e);
                }
            }
            Ok(())
        }))
    }

    fn child_spec(&self, kind: Kind, name: &str, arg: Option<&str>) -> ChildSpec {
        match (self.parse)(arg) {
            Ok(args) => ChildSpec::new::<A>(name, args),
            // Each start of the child fails with the reason, as a failing `on_start` does.
            Err(e) => ChildSpec::new::<Refused>(name, kind.refused_arg(&e)),
        }
    }

    fn export_child(
        &self,
        bus: &Bus,
        sup: &SupervisorRef,
        name: &str,
        service: &str,
    ) -> Option<Result<(), String>> {
        let table = bus.exports();
        if table.type_ids(service).is_some() {
            return Some(Err(format!(
                "the service name `{service}` is taken on this bus"
            )));
        }
        for export in &self.exports {
            match (export.child)(&table, sup, name, service) {
                Some(Ok(())) => {}
                failed => {
                    table.unexport(service);
                    return failed;
                }
            }
        }
        Some(Ok(()))
    }
}

/// The child of a registration whose argument did not parse: every start fails with why.
struct Refused;

impl Actor for Refused {
    type Args = String;
    async fn on_start(reason: String, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Err(reason.into())
    }
}

/// A Rust actor being started by [`Kind::spawn`]: resolves once it runs and is exported,
/// or with why it is not running.
pub type Starting = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A registered Rust actor, found by name with [`Kind::parse`].
#[derive(Clone, Copy)]
pub struct Kind(&'static Registration);

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.name)
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Kind {}

impl Kind {
    /// The actor registered as `name`, or an error that lists the registered names.
    pub fn parse(name: &str) -> Result<Kind, String> {
        let table = registry().read().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = table.get(name) {
            return Ok(Kind(r));
        }
        let known: Vec<String> = table.values().map(|r| Kind(r).describe()).collect();
        Err(format!(
            "no built-in Rust actor `{name}`, and no crate of this process registered one by \
             that name; the Rust actors here: {} (a crate registers its own with \
             mycelium_foreign::registry::register)",
            known.join(", ")
        ))
    }

    /// The name bindings use for it.
    pub fn name(self) -> &'static str {
        &self.0.name
    }

    /// Whether it is one of the example actors built into every process
    /// ([`builtin`](crate::builtin)) rather than a crate's registration.
    pub fn is_built_in(self) -> bool {
        self.0.built_in
    }

    /// "the built-in Rust actor `counter`", "the Rust actor `execution`": how errors name it.
    pub fn title(self) -> String {
        if self.0.built_in {
            format!("the built-in Rust actor `{}`", self.0.name)
        } else {
            format!("the Rust actor `{}`", self.0.name)
        }
    }

    /// The schema its messages come from.
    pub fn schema(self) -> SchemaId {
        self.0.schema
    }

    /// Whether it takes an argument.
    pub fn arg(self) -> ArgUse {
        self.0.arg
    }

    /// What its argument is (empty when it takes none).
    pub fn arg_doc(self) -> &'static str {
        &self.0.arg_doc
    }

    /// The type ids it takes under its service, ascending.
    pub fn type_ids(self) -> &'static [u16] {
        &self.0.type_ids
    }

    /// `name (arg: what it is)`, for lists of names.
    pub fn describe(self) -> String {
        match self.0.arg {
            ArgUse::None => self.0.name.clone(),
            ArgUse::Required => format!("{} (arg: {})", self.0.name, self.0.arg_doc),
            ArgUse::Optional => format!("{} (optional arg: {})", self.0.name, self.0.arg_doc),
        }
    }

    fn refused_arg(self, why: &str) -> String {
        format!("{} refuses its arg: {why}", self.title())
    }

    /// Checks the argument as a start would: one it needs is given, one it does not take is
    /// not, and its `Args` build from it.
    pub fn check_arg(self, arg: &Option<String>) -> Result<(), String> {
        let r = self.0;
        match (r.arg, arg) {
            (ArgUse::Required, None) => {
                return Err(format!("{} needs an arg: {}", self.title(), r.arg_doc))
            }
            (ArgUse::None, Some(given)) => {
                return Err(format!("{} takes no arg (given {given:?})", self.title()))
            }
            _ => {}
        }
        r.ops
            .check(arg.as_deref())
            .map_err(|e| self.refused_arg(&e))
    }

    /// Spawns it unsupervised; the future it gives waits for its `on_start` and, once the
    /// start has succeeded, exports it under `service` for each message it takes. The
    /// future fails (with a message for the caller) when the start fails or the export is
    /// refused; nothing is left running then. Refused at once: an argument its `Args` do not
    /// build from, a service name already taken. Call it from within the bus's runtime.
    pub fn spawn(self, bus: &Bus, service: &str, arg: Option<String>) -> Result<Starting, String> {
        self.check_arg(&arg)?;
        self.0.ops.spawn(self, bus, service, arg.as_deref())
    }

    /// A child spec for a supervision tree (export it with [`export_child`](Self::export_child)
    /// once the tree runs). Check the argument first ([`check_arg`](Self::check_arg)): a
    /// child whose argument does not build its `Args` fails each start with why.
    pub fn child_spec(self, name: &str, arg: Option<String>) -> ChildSpec {
        self.0.ops.child_spec(self, name, arg.as_deref())
    }

    /// Exports the supervised child `name` under `service`, through addresses that follow
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
        self.0
            .ops
            .export_child(bus, sup, name, service)
            .unwrap_or_else(|| {
                Err(format!(
                    "the supervisor has no `{name}` child of kind {}",
                    self.0.name
                ))
            })
    }
}
