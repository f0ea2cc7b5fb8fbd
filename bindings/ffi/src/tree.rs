//! Supervision trees from C: foreign and registered Rust children side by side.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::ActorRef;
use mycelium_actors::SpawnError;
use mycelium_foreign::builtin::Kind;
use mycelium_foreign::{ForeignActor, ForeignGate, ForeignRef};
use mycelium_supervisor::{
    Backoff, ChildSpec, RestartStrategy, SupervisionEvent, Supervisor, SupervisorBuilder,
    SupervisorRef,
};

use tokio::sync::watch;

use crate::actor::{hibernates, runs_here, CArgs, CForeign, MycActor, MycActorCallbacks, Released};
use crate::bus::MycBus;
use crate::error::{bytes, guard, handle, optional_text, put, text, writable, Error, MycStatus};

/// Strategy of a tree: only the failed child restarts.
pub const MYC_ONE_FOR_ONE: u32 = 0;
/// Strategy of a tree: every child restarts when one fails.
pub const MYC_ONE_FOR_ALL: u32 = 1;
/// Strategy of a tree: the failed child and those started after it restart.
pub const MYC_REST_FOR_ONE: u32 = 2;

enum Child {
    Foreign { type_ids: Vec<u16>, gate: Gate },
    Rust { kind: Kind },
}

/// The gate of a foreign child (see `mycelium_foreign::ForeignGate`): every ref handed out
/// carries it, so asks from a foreign thread can run the handler there. Held until the tree
/// runs, then only through a ref (which holds it weakly), so the callbacks are released once
/// the child has stopped for good.
enum Gate {
    Held(ForeignGate<CForeign>),
    Through(ForeignRef<CForeign>),
}

impl Gate {
    /// `actor` with the child's gate.
    fn attach(&self, actor: ActorRef<ForeignActor<CForeign>>) -> ForeignRef<CForeign> {
        let actor = ForeignRef::from_actor_ref(actor);
        let gate = match self {
            Gate::Held(gate) => Some(gate.clone()),
            Gate::Through(r) => r.gate(),
        };
        match gate {
            Some(gate) => actor.with_gate(gate),
            None => actor,
        }
    }

    /// True while one of the child's callbacks runs on this thread, below the caller.
    fn runs_here(&self) -> bool {
        match self {
            Gate::Held(gate) => runs_here(gate.foreign()),
            Gate::Through(r) => r.gate().is_some_and(|g| runs_here(g.foreign())),
        }
    }
}

struct ChildEntry {
    name: String,
    service: Option<String>,
    child: Child,
}

/// A tree being described (not started). Consumed by [`myc_tree_start`], or freed with
/// [`myc_tree_free`]. Not safe to share between threads: calls on one tree (adding children,
/// starting it, freeing it) must not overlap.
pub struct MycTree {
    builder: Option<SupervisorBuilder>,
    children: Vec<ChildEntry>,
    released: Vec<Released>,
    restarts: watch::Sender<Vec<String>>,
}

/// A running tree. Free with [`myc_supervisor_free`], which stops it.
pub struct MycSupervisor {
    sup: SupervisorRef,
    released: Vec<Released>,
    bus: Arc<mycelium_foreign::HostedBus>,
    children: Vec<ChildEntry>,
    restarts: watch::Sender<Vec<String>>,
}

/// Describes a tree: its strategy (`MYC_ONE_FOR_ONE`, ...), its restart intensity (more than `max_restarts` restarts
/// within `within_ms` of bus time make it give up and fail the bus) and its backoff
/// (`min(initial * factor^n, cap)`).
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn myc_tree_new(
    strategy: u32,
    max_restarts: u32,
    within_ms: u64,
    backoff_initial_ms: u64,
    backoff_factor: f64,
    backoff_cap_ms: u64,
    out: *mut *mut MycTree,
) -> MycStatus {
    guard(|| {
        writable(out, "out")?;
        if !(backoff_factor.is_finite() && backoff_factor >= 1.0) {
            return Err(Error::invalid("backoff_factor must be a number >= 1"));
        }
        let strategy = match strategy {
            MYC_ONE_FOR_ONE => RestartStrategy::OneForOne,
            MYC_ONE_FOR_ALL => RestartStrategy::OneForAll,
            MYC_REST_FOR_ONE => RestartStrategy::RestForOne,
            other => {
                return Err(Error::invalid(format!(
                    "strategy {other} is none of MYC_ONE_FOR_ONE, MYC_ONE_FOR_ALL, MYC_REST_FOR_ONE"
                )))
            }
        };
        let restarts = watch::Sender::new(Vec::new());
        let log = restarts.clone();
        let builder = Supervisor::builder(strategy)
            .intensity(max_restarts, Duration::from_millis(within_ms))
            .backoff(Backoff::exponential(
                Duration::from_millis(backoff_initial_ms),
                backoff_factor,
                Duration::from_millis(backoff_cap_ms),
            ))
            .on_event(move |e| {
                if let SupervisionEvent::Restarted { child, .. } = e {
                    log.send_modify(|names| names.push(child.to_string()));
                }
            });
        let tree = Box::into_raw(Box::new(MycTree {
            builder: Some(builder),
            children: Vec::new(),
            released: Vec::new(),
            restarts,
        }));
        // SAFETY: per contract.
        unsafe { put(out, tree, "out") }
    })
}

fn add(tree: &mut MycTree, spec: ChildSpec, entry: ChildEntry) -> Result<(), Error> {
    if tree.children.iter().any(|c| c.name == entry.name) {
        return Err(Error::invalid(format!(
            "the tree already has a child named `{}`",
            entry.name
        )));
    }
    let builder = tree
        .builder
        .take()
        .ok_or_else(|| Error::invalid("the tree has been started"))?;
    tree.builder = Some(builder.child(spec));
    tree.children.push(entry);
    Ok(())
}

/// Adds a foreign child: every restart re-runs `start` with the same `args` (copied). With a
/// `service` (may be null), it is exported under that name for `type_ids` (the message type
/// ids of the bus's schema) before the tree starts, so that the start of a child added after
/// it reaches it by name. On any failure (an argument refused, a name
/// already taken) the callbacks' `free_user_data` has run (once)
/// when this returns (see `MycActorCallbacks::free_user_data`).
///
/// # Safety
/// No other call on `tree` runs meanwhile (see [`MycTree`]).
/// `tree` null or live; `name` null or a NUL-terminated string; `callbacks` null or valid
/// (copied); `args` null or `args_len` bytes; `service` null or a string; `type_ids` null or
/// `n` ids.
#[no_mangle]
pub unsafe extern "C" fn myc_tree_add_foreign(
    tree: *mut MycTree,
    name: *const c_char,
    callbacks: *const MycActorCallbacks,
    args: *const u8,
    args_len: usize,
    service: *const c_char,
    type_ids: *const u16,
    n: usize,
) -> MycStatus {
    // SAFETY: the same contract.
    unsafe {
        myc_tree_add_foreign_with(
            tree, name, callbacks, args, args_len, service, type_ids, n, 0,
        )
    }
}

/// `myc_tree_add_foreign` with `flags`: 0, or `MYC_SPAWN_HIBERNATE` (the child gives up its
/// task whenever its mailbox is empty). Unknown bits are refused with `InvalidArgument`.
///
/// # Safety
/// As `myc_tree_add_foreign`.
#[no_mangle]
pub unsafe extern "C" fn myc_tree_add_foreign_with(
    tree: *mut MycTree,
    name: *const c_char,
    callbacks: *const MycActorCallbacks,
    args: *const u8,
    args_len: usize,
    service: *const c_char,
    type_ids: *const u16,
    n: usize,
    flags: u32,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let cb = unsafe { handle(callbacks, "callbacks")? };
        // First: from here an error drops `foreign`, which releases `user_data`.
        let (foreign, released) = CForeign::new(cb)?;
        // SAFETY: per contract.
        let (tree, name, args, service, ids) = unsafe {
            (
                tree.as_mut()
                    .ok_or_else(|| Error::invalid("tree is null"))?,
                text(name, "name")?,
                bytes(args, args_len, "args")?,
                optional_text(service, "service")?,
                bytes(type_ids, n, "type_ids")?,
            )
        };
        let hibernate = hibernates(flags)?;
        let (spec, gate) =
            mycelium_foreign::gated_child_spec(name, foreign, CArgs(Arc::from(args)));
        let spec = if hibernate { spec.hibernate() } else { spec };
        let entry = ChildEntry {
            name: name.to_string(),
            service: service.map(str::to_string),
            child: Child::Foreign {
                type_ids: ids.to_vec(),
                gate: Gate::Held(gate),
            },
        };
        add(tree, spec, entry)?;
        tree.released.push(released);
        Ok(())
    })
}

/// Records the foreign child `name` of an unstarted tree into `recorder` from its first
/// start, as an actor of the type `actor_type` (its name in the journal), across its
/// restarts: each incarnation's start (then a restart), what it handles and answers, what
/// it sends while handling, its failures and stops, as for `myc_actor_spawn_recorded`.
/// Direct calls are off for it. `InvalidArgument` for a name that is no foreign child of the
/// tree, or a child recorded already.
///
/// # Safety
/// No other call on `tree` runs meanwhile; `tree` is live; `name` and `actor_type` are
/// NUL-terminated strings; `recorder` is a live recorder.
#[no_mangle]
pub unsafe extern "C" fn myc_tree_record_child(
    tree: *mut MycTree,
    name: *const c_char,
    recorder: *const crate::MycRecorder,
    actor_type: *const c_char,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (tree, name, recorder, actor_type) = unsafe {
            (
                tree.as_mut()
                    .ok_or_else(|| Error::invalid("tree is null"))?,
                text(name, "name")?,
                handle(recorder, "recorder")?,
                text(actor_type, "actor_type")?,
            )
        };
        if tree.builder.is_none() {
            return Err(Error::invalid(
                "the tree has been started: record a child before",
            ));
        }
        let gate = tree.children.iter().find_map(|c| match &c.child {
            Child::Foreign {
                gate: Gate::Held(gate),
                ..
            } if c.name == name => Some(gate),
            _ => None,
        });
        let gate = gate.ok_or_else(|| {
            Error::invalid(format!("the tree has no foreign child named `{name}`"))
        })?;
        gate.foreign().name_as(actor_type);
        gate.record(recorder.for_actor(actor_type))
            .map_err(|_| Error::invalid(format!("the child `{name}` is recorded already")))
    })
}

/// Adds a child started from the Rust actor registered as `kind` (a built-in one or one of a
/// team's actor library; see `myc_spawn_rust`), exported under `service` (may be null) once
/// the tree runs; restarted by the tree like any child. An unknown kind or an argument it
/// cannot read is `InvalidArgument` here; a Rust child of another schema than the bus's (or
/// than the tree's other Rust children) is `InvalidArgument` at `myc_tree_start`.
///
/// # Safety
/// `tree` is live; `name` and `kind` NUL-terminated strings; `arg` and `service` null or
/// strings.
#[no_mangle]
pub unsafe extern "C" fn myc_tree_add_rust(
    tree: *mut MycTree,
    name: *const c_char,
    kind: *const c_char,
    arg: *const c_char,
    service: *const c_char,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (tree, name, kind, arg, service) = unsafe {
            (
                tree.as_mut()
                    .ok_or_else(|| Error::invalid("tree is null"))?,
                text(name, "name")?,
                text(kind, "kind")?,
                optional_text(arg, "arg")?,
                optional_text(service, "service")?,
            )
        };
        let kind = crate::bus::parse_kind(kind)?;
        let arg = arg.map(str::to_string);
        kind.check_arg(&arg).map_err(Error::invalid)?;
        let entry = ChildEntry {
            name: name.to_string(),
            service: service.map(str::to_string),
            child: Child::Rust { kind },
        };
        add(tree, kind.child_spec(name, arg), entry)
    })
}

/// Frees a tree that was not started.
///
/// # Safety
/// `tree` is null or a live, unstarted tree, not used again.
#[no_mangle]
pub unsafe extern "C" fn myc_tree_free(tree: *mut MycTree) -> MycStatus {
    guard(|| {
        if !tree.is_null() {
            // SAFETY: a live handle from `Box::into_raw`, given up by the caller.
            drop(unsafe { Box::from_raw(tree) });
        }
        Ok(())
    })
}

/// Starts the tree on `bus` (children in order, each waited for) and exports the children
/// that have a service name. Consumes `tree` (even on an error). If a child's first start
/// fails, the tree does not start: `StartFailed`, the message naming the child (the
/// children already started are stopped again), returned once the foreign children's
/// `free_user_data` callbacks have run.
///
/// # Safety
/// `bus` is live; `tree` a live tree, not used again; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_tree_start(
    bus: *const MycBus,
    tree: *mut MycTree,
    out: *mut *mut MycSupervisor,
) -> MycStatus {
    guard(|| {
        if tree.is_null() {
            return Err(Error::invalid("tree is null"));
        }
        // SAFETY: a live handle from `Box::into_raw`, given up by the caller.
        let mut tree = unsafe { Box::from_raw(tree) };
        // SAFETY: per contract.
        let bus = unsafe { handle(bus, "bus")? };
        writable(out, "out")?;
        let builder = tree
            .builder
            .take()
            .ok_or_else(|| Error::invalid("the tree has been started"))?;
        let hosted = bus.hosted.clone();
        let kinds: Vec<(&str, Kind)> = tree
            .children
            .iter()
            .filter_map(|c| match c.child {
                Child::Rust { kind } => Some((c.name.as_str(), kind)),
                Child::Foreign { .. } => None,
            })
            .collect();
        // The Rust children speak one schema, the bus's (or the one it adopts from them).
        let refused = kinds.iter().find_map(|&(name, kind)| {
            let what = format!("myc_tree_start: child `{name}`");
            match bus.speaks(&what, kind) {
                Err(e) => Some(e),
                Ok(()) if kind.schema().digest != kinds[0].1.schema().digest => {
                    Some(Error::invalid(format!(
                        "{what}: {} speaks the schema `{}`, but the child `{}`, {}, speaks `{}`: \
                     the Rust children of a tree speak the schema of its bus",
                        kind.title(),
                        kind.schema().package,
                        kinds[0].0,
                        kinds[0].1.title(),
                        kinds[0].1.schema().package
                    )))
                }
                Ok(()) => None,
            }
        });
        let first = kinds.first().map(|&(_, kind)| kind);
        if let Some(e) = refused {
            drop(builder);
            release(&mut tree, &hosted);
            return Err(e);
        }
        // A foreign child's service is exported before the tree starts, found through the
        // child's gate (also once a killed child is spawned anew, with a new ref): the start
        // of a child after it reaches it by name. The services this call adds are removed
        // again if the tree does not start or cannot be wired up.
        let mut added: Vec<String> = Vec::new();
        let exports = hosted.bus().exports();
        let unexport = |added: &[String]| {
            for service in added {
                exports.unexport(service);
            }
        };
        for c in &tree.children {
            let (Some(service), Child::Foreign { type_ids, gate }) = (&c.service, &c.child) else {
                continue;
            };
            let Gate::Held(gate) = gate else {
                continue;
            };
            let fresh = exports.type_ids(service).is_none();
            if let Err(e) =
                mycelium_foreign::export_gated_child(hosted.bus(), gate, service, type_ids)
            {
                unexport(&added);
                drop(builder);
                release(&mut tree, &hosted);
                return Err(Error::invalid(e.to_string()));
            }
            if fresh {
                added.push(service.clone());
            }
        }
        let sup = match hosted.block_on(builder.spawn(hosted.bus())) {
            Ok(sup) => sup,
            Err(e) => {
                unexport(&added);
                // The children's callbacks go with the failed tree.
                release(&mut tree, &hosted);
                return Err(match e {
                    // Refused before anything started (the tree's own checks come first).
                    SpawnError::InvalidSpec(_) => Error::invalid(e.to_string()),
                    // A child whose first start failed (named in the message), or no runtime.
                    _ => Error::new(MycStatus::StartFailed, e.to_string()),
                });
            }
        };
        let mut refused = None;
        for c in &mut tree.children {
            let exported = match &mut c.child {
                Child::Foreign { gate, .. } => {
                    let Some(actor) = sup.child::<ForeignActor<CForeign>>(&c.name) else {
                        refused = Some(format!("child `{}` is not running", c.name));
                        break;
                    };
                    let actor = gate.attach(actor);
                    // From here the gate is held only through the ref.
                    *gate = Gate::Through(actor);
                    Ok(())
                }
                Child::Rust { kind } => match &c.service {
                    Some(service) => {
                        let fresh = exports.type_ids(service).is_none();
                        let exported = kind.export_child(hosted.bus(), &sup, &c.name, service);
                        if fresh && exported.is_ok() {
                            added.push(service.clone());
                        }
                        exported
                    }
                    None => Ok(()),
                },
            };
            if let Err(e) = exported {
                refused = Some(e);
                break;
            }
        }
        if let Some(refused) = refused {
            unexport(&added);
            // Nothing of a tree that could not be wired up is left running.
            hosted.block_on(sup.stop());
            drop(sup);
            release(&mut tree, &hosted);
            return Err(Error::invalid(refused));
        }
        if let Some(kind) = first {
            bus.adopt(kind);
        }
        let running = Box::into_raw(Box::new(MycSupervisor {
            sup,
            released: std::mem::take(&mut tree.released),
            bus: hosted,
            children: std::mem::take(&mut tree.children),
            restarts: tree.restarts.clone(),
        }));
        // SAFETY: per contract.
        unsafe { put(out, running, "out") }
    })
}

/// Lets go of a tree that did not start (or was stopped again): returns once every child's
/// `free_user_data` has run, so the caller's state for them can go too. The children's gates
/// go first: callbacks are released only when nothing holds them.
fn release(tree: &mut MycTree, hosted: &mycelium_foreign::HostedBus) {
    tree.children.clear();
    for released in std::mem::take(&mut tree.released) {
        let _ = hosted.block_on(released);
    }
}

/// A handle on the foreign child `name` (valid across its restarts in place). Freeing it does
/// not stop the child.
///
/// # Safety
/// `sup` is live; `name` a NUL-terminated string; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_supervisor_child(
    sup: *const MycSupervisor,
    name: *const c_char,
    out: *mut *mut MycActor,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (sup, name) = unsafe { (handle(sup, "supervisor")?, text(name, "name")?) };
        writable(out, "out")?;
        let gate = match sup.children.iter().find(|c| c.name == name) {
            Some(ChildEntry {
                child: Child::Foreign { gate, .. },
                ..
            }) => gate,
            Some(_) => {
                return Err(Error::invalid(format!(
                    "`{name}` is a Rust child: reach it by its service name"
                )))
            }
            None => return Err(Error::invalid(format!("no child named `{name}`"))),
        };
        let actor = sup
            .sup
            .child::<ForeignActor<CForeign>>(name)
            .ok_or_else(|| {
                Error::new(MycStatus::Stopped, format!("child `{name}` is not running"))
            })?;
        let boxed = Box::into_raw(Box::new(MycActor {
            actor: gate.attach(actor),
            hosted: sup.bus.clone(),
            owned: None,
        }));
        // SAFETY: per contract.
        unsafe { put(out, boxed, "out") }
    })
}

impl MycSupervisor {
    /// `name` if the tree has a child of that name (or `None`, for every child).
    fn known<'a>(&self, name: Option<&'a str>) -> Result<Option<&'a str>, Error> {
        match name {
            Some(n) if !self.children.iter().any(|c| c.name == n) => {
                let names: Vec<_> = self
                    .children
                    .iter()
                    .map(|c| format!("`{}`", c.name))
                    .collect();
                Err(Error::invalid(format!(
                    "no child named `{n}` (the tree's children: {})",
                    names.join(", ")
                )))
            }
            _ => Ok(name),
        }
    }
}

fn count(names: &[String], name: Option<&str>) -> u64 {
    names
        .iter()
        .filter(|c| name.is_none_or(|n| n == c.as_str()))
        .count() as u64
}

/// How many restarts the tree has finished of child `name` (of any child if `name` is null;
/// `InvalidArgument` for a name the tree has no child of). A restart is counted once the
/// supervisor is done with it, which can be just after the restarted child has answered its
/// first message: use `myc_supervisor_wait_restarts` to wait for a count.
///
/// # Safety
/// `sup` is live; `name` null or a NUL-terminated string; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_supervisor_restarts(
    sup: *const MycSupervisor,
    name: *const c_char,
    out: *mut u64,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (sup, name) = unsafe { (handle(sup, "supervisor")?, optional_text(name, "name")?) };
        let name = sup.known(name)?;
        let n = count(&sup.restarts.borrow(), name);
        // SAFETY: per contract.
        unsafe { put(out, n, "out") }
    })
}

/// Waits until the tree has finished at least `n` restarts of child `name` (of any child if
/// `name` is null; `InvalidArgument` at once for a name the tree has no child of). Returns
/// `Stopped` if the tree stops first.
///
/// # Safety
/// `sup` is live; `name` null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn myc_supervisor_wait_restarts(
    sup: *const MycSupervisor,
    name: *const c_char,
    n: u64,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (sup, name) = unsafe { (handle(sup, "supervisor")?, optional_text(name, "name")?) };
        let name = sup.known(name)?;
        let mut rx = sup.restarts.subscribe();
        let tree = sup.sup.clone();
        let reached = sup.bus.block_on(async move {
            tokio::select! {
                r = rx.wait_for(|names| count(names, name) >= n) => r.is_ok(),
                _ = tree.wait_for_stop() => false,
            }
        });
        if reached {
            Ok(())
        } else {
            Err(Error::new(
                MycStatus::Stopped,
                "the tree stopped before that many restarts",
            ))
        }
    })
}

/// Stops the tree (children in reverse start order, each `stop` callback run), waits until
/// it has stopped and its foreign children's `free_user_data` callbacks have run, and frees
/// the handle. Called from inside a callback of one of its children (on this thread), it
/// does not wait, which would wait for that callback: the tree stops on the runtime once the
/// callback has returned, and `myc_bus_shutdown` or `myc_bus_free` waits for the release.
///
/// # Safety
/// `sup` is null or a live handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn myc_supervisor_free(sup: *mut MycSupervisor) -> MycStatus {
    guard(|| {
        if sup.is_null() {
            return Ok(());
        }
        // SAFETY: a live handle from `Box::into_raw`, given up by the caller.
        let sup = unsafe { Box::from_raw(sup) };
        let MycSupervisor {
            sup: tree,
            released,
            bus,
            children,
            ..
        } = *sup;
        let inside = children.iter().any(|c| match &c.child {
            Child::Foreign { gate, .. } => gate.runs_here(),
            Child::Rust { .. } => false,
        });
        // Children's gates go first: the callbacks are released only when nothing holds them.
        drop(children);
        if inside {
            drop(bus.handle().spawn(async move {
                tree.stop().await;
            }));
            crate::deferred::defer(&bus, released);
            return Ok(());
        }
        // Returns once the whole tree is down.
        bus.block_on(tree.stop());
        drop(tree);
        // The tree's task lets go of its child specs, and so of the callbacks, as it ends.
        for r in released {
            let _ = bus.block_on(r);
        }
        Ok(())
    })
}
