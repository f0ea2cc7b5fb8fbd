//! Foreign actors from C: callbacks, spawning, tell/ask to an actor handle, subscriptions.

mod callbacks;

use std::ffi::c_char;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mycelium_actors::export::ByteService;
use mycelium_actors::{Bus, SpawnOptions, SubscribeOptions, Subscription};
use mycelium_foreign::{
    DeliverySwitch, Direct, ForeignAskError, ForeignMessage, ForeignRef, HostedBus,
};

use crate::bus::MycBus;
use crate::call::MycBytes;
use crate::error::{bytes, guard, handle, put, text, writable, Error, MycStatus};

pub use callbacks::MycActorCallbacks;
pub(crate) use callbacks::{in_callback, runs_here, CArgs, CForeign, Released};

/// A foreign actor. Free with [`myc_actor_free`].
pub struct MycActor {
    pub(crate) actor: ForeignRef<CForeign>,
    pub(crate) hosted: Arc<HostedBus>,
    /// Spawned by `myc_actor_spawn` (not a supervisor's child): freeing the handle stops it
    /// and waits for its callbacks to be released.
    pub(crate) owned: Option<Released>,
}

impl MycActor {
    fn bus(&self) -> &Bus {
        self.hosted.bus()
    }

    /// True while one of this actor's callbacks runs on this thread, below the caller.
    fn in_own_callback(&self) -> bool {
        self.actor.gate().is_some_and(|g| runs_here(g.foreign()))
    }

    /// Asks from this thread: when the actor is idle its `handle` callback runs right here
    /// (through the actor's gate: same state, same one-at-a-time rule and order, a failure
    /// fails the actor as on the blocking pool); otherwise through its mailbox, waiting for
    /// the reply. The flag says which. A timeout bounds the wait for the reply on either
    /// path, but a callback running on this thread cannot be cut short: one that returns
    /// after the timeout gives `Timeout`, its reply dropped as a late reply through the
    /// mailbox is (the message was handled).
    fn ask_here(
        &self,
        type_id: u16,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(ForeignMessage, Path), Error> {
        let started = timeout.map(|t| (Instant::now(), t));
        match self
            .actor
            .try_direct(type_id, |foreign, state| foreign.call(state, type_id, body))
        {
            Direct::Done(Some(_)) if started.is_some_and(|(at, t)| at.elapsed() > t) => {
                let t = started.map_or(Duration::ZERO, |(_, t)| t);
                return Err(Error::new(
                    MycStatus::Timeout,
                    format!(
                        "no reply within {t:?}: the actor was idle, so its handler ran on this \
                         thread, and it returned after the timeout (a handler cannot be cut \
                         short); the message was handled and its reply dropped"
                    ),
                ));
            }
            Direct::Done(Some(reply)) => return Ok((reply, Path::Direct)),
            Direct::Done(None) => return Err(ForeignAskError::NoReply { type_id }.into()),
            Direct::Failed(e) => return Err(e.into()),
            Direct::Busy => {}
        }
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        let reply = self.hosted.block_on(self.actor.ask(msg, timeout))?;
        Ok((reply, Path::Mailbox))
    }
}

/// How an ask from a foreign thread was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// The handler ran on the asking thread.
    Direct,
    /// Through the mailbox: the handler ran on the bus runtime's blocking pool.
    Mailbox,
}

pub(crate) fn timeout(ms: i64) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// Spawn flag (`myc_actor_spawn_with`, `myc_tree_add_foreign_with`): the actor gives up its
/// task whenever its mailbox is empty and is woken by its next message, for many mostly idle
/// actors; each message that finds it asleep costs a wake-up. Its state stays with its
/// callbacks, so an ask from a foreign thread still runs on that thread while it is idle.
pub const MYC_SPAWN_HIBERNATE: u32 = 1;

/// Whether spawn `flags` ask for hibernation; an unknown bit is refused.
pub(crate) fn hibernates(flags: u32) -> Result<bool, Error> {
    if flags & !MYC_SPAWN_HIBERNATE != 0 {
        return Err(Error::invalid(format!(
            "unknown spawn flags {:#x} (known: MYC_SPAWN_HIBERNATE = {MYC_SPAWN_HIBERNATE})",
            flags & !MYC_SPAWN_HIBERNATE
        )));
    }
    Ok(flags & MYC_SPAWN_HIBERNATE != 0)
}

/// Spawns a foreign actor (unsupervised) and waits until its `start` has run. A failing
/// start gives `StartFailed` with the start's message. `args` are copied and given to
/// `start` (the same bytes at every restart, for a supervised actor). On any failure the
/// callbacks' `free_user_data` has run (once) when this returns (see
/// `MycActorCallbacks::free_user_data`).
///
/// # Safety
/// `bus` is null or a live bus; `callbacks` null or a callbacks struct (copied); `args` null
/// or `args_len` bytes; `out` null or writable.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_spawn(
    bus: *const MycBus,
    callbacks: *const MycActorCallbacks,
    args: *const u8,
    args_len: usize,
    out: *mut *mut MycActor,
) -> MycStatus {
    // SAFETY: the same contract.
    unsafe { myc_actor_spawn_with(bus, callbacks, args, args_len, 0, out) }
}

/// `myc_actor_spawn` with `flags`: 0, or `MYC_SPAWN_HIBERNATE`. Unknown bits are refused
/// with `InvalidArgument` (and `free_user_data` has run, as for any failure).
///
/// # Safety
/// As `myc_actor_spawn`.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_spawn_with(
    bus: *const MycBus,
    callbacks: *const MycActorCallbacks,
    args: *const u8,
    args_len: usize,
    flags: u32,
    out: *mut *mut MycActor,
) -> MycStatus {
    // SAFETY: the same contract.
    unsafe { spawn(bus, callbacks, args, args_len, flags, None, out) }
}

/// `myc_actor_spawn_with`, the actor recorded into `recorder` from its first start, as an
/// actor of the type `actor_type` (its name in the journal): what it handles and answers,
/// what it sends through this library while handling, its starts, failures and stops.
/// Direct calls are off for it (every message goes through its mailbox, where it is
/// recorded in handling order).
///
/// # Safety
/// As `myc_actor_spawn`; `recorder` is a live recorder and `actor_type` a NUL-terminated
/// string.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_spawn_recorded(
    bus: *const MycBus,
    callbacks: *const MycActorCallbacks,
    args: *const u8,
    args_len: usize,
    flags: u32,
    recorder: *const crate::MycRecorder,
    actor_type: *const c_char,
    out: *mut *mut MycActor,
) -> MycStatus {
    // SAFETY: the same contract.
    unsafe {
        spawn(
            bus,
            callbacks,
            args,
            args_len,
            flags,
            Some((recorder, actor_type)),
            out,
        )
    }
}

/// Spawns an actor, recorded into the recorder `record` names (with the actor's type name),
/// if it names one.
///
/// # Safety
/// As `myc_actor_spawn_with`; `record` as `myc_actor_spawn_recorded`.
unsafe fn spawn(
    bus: *const MycBus,
    callbacks: *const MycActorCallbacks,
    args: *const u8,
    args_len: usize,
    flags: u32,
    record: Option<(*const crate::MycRecorder, *const c_char)>,
    out: *mut *mut MycActor,
) -> MycStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let cb = unsafe { handle(callbacks, "callbacks")? };
        // First: from here an error drops `foreign`, which releases `user_data`.
        let (foreign, released) = CForeign::new(cb)?;
        // SAFETY: per this function's contract.
        let (bus, args) = unsafe { (handle(bus, "bus")?, bytes(args, args_len, "args")?) };
        writable(out, "out")?;
        let options = if hibernates(flags)? {
            SpawnOptions::new().hibernate()
        } else {
            SpawnOptions::new()
        };
        let recording = match record {
            Some((recorder, actor_type)) => {
                // SAFETY: per this function's contract.
                let (recorder, actor_type) = unsafe {
                    (
                        handle(recorder, "recorder")?,
                        text(actor_type, "actor_type")?,
                    )
                };
                foreign.name_as(actor_type);
                Some(recorder.for_actor(actor_type))
            }
            None => None,
        };
        let args = CArgs(Arc::from(args));
        let hosted = bus.hosted.clone();
        let spawned = hosted.block_on(async {
            match recording {
                Some(recording) => {
                    mycelium_foreign::spawn_recorded(
                        hosted.bus(),
                        foreign,
                        args,
                        options,
                        recording,
                    )
                    .await
                }
                None => mycelium_foreign::spawn(hosted.bus(), foreign, args, options).await,
            }
        });
        let actor = match spawned {
            Ok(actor) => actor,
            Err(e) => {
                // The actor's task lets go of the callbacks as it ends: return once
                // `free_user_data` has run, so the caller's state for it can be gone too.
                let _ = hosted.block_on(released);
                return Err(Error::new(MycStatus::StartFailed, e.to_string()));
            }
        };
        let boxed = Box::into_raw(Box::new(MycActor {
            actor,
            hosted,
            owned: Some(released),
        }));
        // SAFETY: per contract.
        unsafe { put(out, boxed, "out") }
    })
}

/// Exports the actor under `service` for the messages `type_ids` of the bus's schema (any
/// schema: the ids are the actor's to decode).
///
/// # Safety
/// `actor` is live; `service` a NUL-terminated string; `type_ids` points to `n` ids.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_export(
    actor: *const MycActor,
    service: *const c_char,
    type_ids: *const u16,
    n: usize,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (actor, service, ids) = unsafe {
            (
                handle(actor, "actor")?,
                text(service, "service")?,
                bytes(type_ids, n, "type_ids")?,
            )
        };
        actor
            .actor
            .export(actor.bus(), service, ids)
            .map_err(|e| Error::invalid(e.to_string()))
    })
}

/// Tells the actor `type_id` with `body`, waiting for room in a full mailbox.
///
/// # Safety
/// `actor` is live; `body` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_tell(
    actor: *const MycActor,
    type_id: u16,
    body: *const u8,
    len: usize,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (actor, body) = unsafe { (handle(actor, "actor")?, bytes(body, len, "body")?) };
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        actor
            .hosted
            .block_on(actor.actor.tell(msg))
            .map_err(|_| Error::new(MycStatus::Stopped, "the actor has stopped"))
    })
}

/// Asks the actor; on success `*reply_type` and `*reply` (free it with `myc_bytes_free`) hold
/// the answer. `timeout_ms` < 0: no timeout (bus time otherwise).
///
/// When the actor is idle (nothing queued or running, not restarting, a real-time bus), its
/// `handle` callback runs on the calling thread, with no hand-off to the bus runtime; a
/// failure there fails the actor exactly as on the runtime (dead letter, restart) and this
/// returns `Failed`. A callback running on the calling thread cannot be cut short: one that
/// returns after the timeout gives `Timeout` all the same, its reply dropped, as a reply that
/// comes late through the mailbox is (the message was handled). Otherwise the ask goes
/// through the mailbox, in order behind what is queued.
///
/// # Safety
/// `actor` is live; `body` points to `len` bytes; the out pointers are writable.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_ask(
    actor: *const MycActor,
    type_id: u16,
    body: *const u8,
    len: usize,
    timeout_ms: i64,
    reply_type: *mut u16,
    reply: *mut MycBytes,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (actor, body) = unsafe { (handle(actor, "actor")?, bytes(body, len, "body")?) };
        if reply_type.is_null() || reply.is_null() {
            return Err(Error::invalid("reply_type or reply is null"));
        }
        let (answer, _) = actor.ask_here(type_id, body, timeout(timeout_ms))?;
        // SAFETY: checked non-null; the caller promises them writable.
        unsafe {
            put(reply_type, answer.type_id, "reply_type")?;
            put(reply, MycBytes::from_vec(answer.body), "reply")
        }
    })
}

/// Measures ask round trips from this thread to the actor: `n` asks in a row, each exactly as
/// `myc_actor_ask` makes it (no timeout), writing each round trip's wall-clock duration in
/// nanoseconds to `out_ns[i]` and, if `direct` is not null, how many ran the handler on this
/// thread to `*direct`. A benchmark aid. Stops at the first failed ask and returns its error.
///
/// # Safety
/// `actor` is live; `body` points to `len` bytes; `out_ns` points to `n` writable values;
/// `direct` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn myc_measure_actor_asks(
    actor: *const MycActor,
    type_id: u16,
    body: *const u8,
    len: usize,
    n: usize,
    out_ns: *mut u64,
    direct: *mut usize,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (actor, body) = unsafe { (handle(actor, "actor")?, bytes(body, len, "body")?) };
        if out_ns.is_null() && n > 0 {
            return Err(Error::invalid("out_ns is null"));
        }
        let mut here = 0;
        for i in 0..n {
            let start = std::time::Instant::now();
            let (_, path) = actor.ask_here(type_id, body, None)?;
            let took = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            here += usize::from(path == Path::Direct);
            // SAFETY: i < n, and the caller promises `n` writable values.
            unsafe { out_ns.add(i).write(took) };
        }
        if !direct.is_null() {
            // SAFETY: non-null, and the caller promises it writable.
            unsafe { put(direct, here, "direct")? };
        }
        Ok(())
    })
}

/// True (1) while the actor runs, 0 once it has stopped for good.
///
/// # Safety
/// `actor` is live; `alive` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_is_alive(actor: *const MycActor, alive: *mut bool) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let actor = unsafe { handle(actor, "actor")? };
        // SAFETY: per contract.
        unsafe { put(alive, actor.actor.is_alive(), "alive") }
    })
}

/// The actor's number on its bus: what a journal records it as (`#N` in `mycelium-journal
/// ls`) and what `myc_replay_actor` takes. A supervisor's child keeps its number across its
/// restarts.
///
/// # Safety
/// `actor` is live; `number` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_number(actor: *const MycActor, number: *mut u64) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let actor = unsafe { handle(actor, "actor")? };
        // SAFETY: per contract.
        unsafe { put(number, actor.actor.id().local(), "number") }
    })
}

/// Refuses a supervisor's child, which only its tree stops.
fn not_a_child(actor: &MycActor) -> Result<(), Error> {
    match actor.owned {
        Some(_) => Ok(()),
        None => Err(Error::invalid(
            "the actor is a supervisor's child, which its supervisor restarts: stop it with its tree (Supervisor.stop in OCaml, myc_supervisor_free in C)",
        )),
    }
}

/// Stops an actor from `myc_actor_spawn` and waits until it has stopped for good (its `stop`
/// callback has run). A supervisor's child (from `myc_supervisor_child`) is refused with
/// `InvalidArgument` and keeps running: its supervisor would restart it, so it stops with its
/// tree (`myc_supervisor_free`). Called from inside one of the actor's own callbacks (on
/// this thread), it does not wait, which would wait for that callback: the stop comes once
/// the callback has returned.
///
/// # Safety
/// `actor` is live.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_stop(actor: *const MycActor) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let actor = unsafe { handle(actor, "actor")? };
        not_a_child(actor)?;
        actor.actor.stop();
        if !actor.in_own_callback() {
            actor.hosted.block_on(actor.actor.wait_for_stop());
        }
        Ok(())
    })
}

/// Stops an actor from `myc_actor_spawn` once it has handled everything sent to it before this
/// call, and waits until it has stopped for good (its `stop` callback has run): the stop is
/// queued behind those messages (waiting for room in a full mailbox), and what is sent after
/// it goes to the dead letters. An actor that has stopped already is left as it is. A
/// supervisor's child is refused with `InvalidArgument`, as by `myc_actor_stop`; so is a
/// call from inside one of the actor's own callbacks, whose wait would be for that very
/// callback (`myc_actor_stop` stops it from there).
///
/// # Safety
/// `actor` is live.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_drain_and_stop(actor: *const MycActor) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let actor = unsafe { handle(actor, "actor")? };
        not_a_child(actor)?;
        if actor.in_own_callback() {
            return Err(Error::invalid(
                "called from the actor's own callback, the drain would wait for that callback: stop it from there with Actor_ref.stop (OCaml) or myc_actor_stop (C)",
            ));
        }
        let draining = actor.actor.clone();
        actor.hosted.block_on(async move {
            // Stopped already: nothing to drain, and the wait below returns at once.
            let _ = draining.drain_and_stop().await;
            draining.wait_for_stop().await
        });
        Ok(())
    })
}

/// Frees the handle. An actor from `myc_actor_spawn` is stopped first, and this returns once
/// its `stop` and `free_user_data` callbacks have run; a supervisor's child keeps running
/// under its supervisor. Called from inside one of the actor's own callbacks (on this
/// thread), it does not wait, which would wait for that callback: the stop comes once the
/// callback has returned, and `myc_bus_shutdown` or `myc_bus_free` waits for the release.
///
/// # Safety
/// `actor` is null or a live handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_free(actor: *mut MycActor) -> MycStatus {
    guard(|| {
        if actor.is_null() {
            return Ok(());
        }
        // SAFETY: a live handle from `Box::into_raw`, given up by the caller.
        let actor = unsafe { Box::from_raw(actor) };
        let MycActor {
            actor,
            hosted,
            owned,
        } = *actor;
        if let Some(released) = owned {
            actor.stop();
            if actor.gate().is_some_and(|g| runs_here(g.foreign())) {
                crate::deferred::defer(&hosted, [released]);
                return Ok(());
            }
            hosted.block_on(actor.wait_for_stop());
            drop(actor);
            // The actor's task lets go of the callbacks as it ends, just after the stop.
            let _ = hosted.block_on(released);
        }
        Ok(())
    })
}

/// A topic subscription. Free with [`myc_subscription_free`].
pub struct MycSubscription {
    sub: Subscription,
    /// Closed by the free: what is still queued of the subscription is not handled.
    switch: Arc<DeliverySwitch>,
}

/// Subscribes the actor to the contract message `type_id` published under `pattern` (`name`,
/// `prefix.*` or `*`): each publication is encoded and delivered to its `handle` callback.
/// The message is of the example schema (`contracts.yaml`), as Rust publishers publish it; a
/// message of another schema is subscribed to with [`myc_actor_subscribe_schema`].
/// `InvalidArgument` once the actor's bus has shut down or been closed.
///
/// # Safety
/// `actor` is live; `pattern` a NUL-terminated string; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_actor_subscribe(
    actor: *const MycActor,
    type_id: u16,
    pattern: *const c_char,
    out: *mut *mut MycSubscription,
) -> MycStatus {
    // SAFETY: the caller's contract, passed on.
    unsafe { subscribe(actor, type_id, pattern, out, true) }
}

/// As [`myc_actor_subscribe`], for the message `type_id` of a schema that has no Rust types in
/// this process (a user's own schema), published with [`crate::bus::myc_publish_schema`].
///
/// # Safety
/// As [`myc_actor_subscribe`].
#[no_mangle]
pub unsafe extern "C" fn myc_actor_subscribe_schema(
    actor: *const MycActor,
    type_id: u16,
    pattern: *const c_char,
    out: *mut *mut MycSubscription,
) -> MycStatus {
    // SAFETY: the caller's contract, passed on.
    unsafe { subscribe(actor, type_id, pattern, out, false) }
}

/// # Safety
/// As [`myc_actor_subscribe`].
unsafe fn subscribe(
    actor: *const MycActor,
    type_id: u16,
    pattern: *const c_char,
    out: *mut *mut MycSubscription,
    typed: bool,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (actor, pattern) = unsafe { (handle(actor, "actor")?, text(pattern, "pattern")?) };
        // SAFETY: per contract.
        unsafe {
            subscribe_with(actor, out, |bus, to| {
                let options = SubscribeOptions::new();
                Ok(if typed {
                    mycelium_foreign::subscribe_bytes(bus, type_id, pattern, options, to)?
                } else {
                    mycelium_foreign::subscribe_schema_bytes(bus, type_id, pattern, options, to)?
                })
            })
        }
    })
}

/// Subscribes `actor` with `subscribe` (given its bus and a sink that delivers to it, closed
/// by [`myc_subscription_free`]) and writes the handle to `out`.
///
/// # Safety
/// `out` is writable.
pub(crate) unsafe fn subscribe_with(
    actor: &MycActor,
    out: *mut *mut MycSubscription,
    subscribe: impl FnOnce(&Bus, Arc<dyn ByteService>) -> Result<Subscription, Error>,
) -> Result<(), Error> {
    writable(out, "out")?;
    if actor.bus().exit().is_some() {
        return Err(Error::invalid(
            "the actor's bus is closed: it takes no new subscription",
        ));
    }
    let switch = Arc::new(DeliverySwitch::new());
    let to: Arc<dyn ByteService> = actor.actor.switched(switch.clone());
    let sub = subscribe(actor.bus(), to)?;
    let boxed = Box::into_raw(Box::new(MycSubscription { sub, switch }));
    // SAFETY: per contract.
    unsafe { put(out, boxed, "out") }
}

/// Cancels the subscription and frees it. Nothing more of it reaches the actor's `handle`
/// callback once this returns: a publication already queued is dropped unhandled, and one
/// being handled on another thread has been handled (called from that very callback, this
/// does not wait for it).
///
/// # Safety
/// `sub` is null or a live handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn myc_subscription_free(sub: *mut MycSubscription) -> MycStatus {
    guard(|| {
        if sub.is_null() {
            return Ok(());
        }
        // SAFETY: a live handle from `Box::into_raw`, given up by the caller.
        let sub = unsafe { Box::from_raw(sub) };
        sub.sub.cancel();
        sub.switch.close();
        Ok(())
    })
}
