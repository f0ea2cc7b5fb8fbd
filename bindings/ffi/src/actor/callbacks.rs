//! The callbacks of a foreign actor from C (`MycActorCallbacks`) and `CForeign`, which runs
//! them as a [`Foreign`] actor and owns their `user_data`.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use mycelium_actors::recording::Language;
use mycelium_actors::StopReason;
use mycelium_foreign::{Foreign, ForeignMessage, ForeignRef};
use tokio::sync::oneshot;

use crate::call::MycCall;
use crate::error::Error;

/// The callbacks of a foreign actor. `start` and `handle` are required.
///
/// They run one at a time per actor, on the bus runtime's blocking pool, or (`handle` only)
/// on the thread of a caller of `myc_actor_ask` / `myc_measure_actor_asks` when the actor is
/// idle: never on the runtime's async workers.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MycActorCallbacks {
    /// Passed to every callback; shared by all incarnations.
    pub user_data: *mut c_void,
    /// Starts an incarnation from the spawn arguments: sets `*state` and returns 0, or
    /// returns non-zero (message with `myc_call_fail`) to fail the start.
    pub start: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            args: *const u8,
            args_len: usize,
            state: *mut *mut c_void,
            call: *mut MycCall,
        ) -> i32,
    >,
    /// Handles one message; for an ask, replies with `myc_call_reply`. Returns 0, or non-zero
    /// to fail (like a panic: a dead letter, the asker fails, the supervisor restarts).
    pub handle: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            state: *mut c_void,
            type_id: u16,
            body: *const u8,
            len: usize,
            call: *mut MycCall,
        ) -> i32,
    >,
    /// Ends an incarnation (a stop, a failure before a restart, a shutdown, a kill): release
    /// `state`. Optional.
    pub stop: Option<
        unsafe extern "C" fn(user_data: *mut c_void, state: *mut c_void, reason: *const c_char),
    >,
    /// Frees `user_data` once no callback of the actor (or of the tree child's every
    /// incarnation) can run any more. Optional.
    ///
    /// Ownership: once `myc_actor_spawn` or `myc_tree_add_foreign` is called with a non-null
    /// `callbacks`, the library owns `user_data`, whatever the outcome. If the call fails
    /// (any argument refused, a failed start, ...), `free_user_data` has been called exactly
    /// once, on the calling thread, before it returns; if it succeeds, it is called once
    /// later, when the actor (or the tree) lets go of the callbacks.
    pub free_user_data: Option<unsafe extern "C" fn(user_data: *mut c_void)>,
    /// Runs a batch: calls `run(batch)` once, on the calling thread, holding what the
    /// language's callbacks need (the OCaml runtime lock, say); inside, the library calls
    /// `handle` for several messages of the actor in a row, and each finds it held. The mail
    /// that waits for an actor is handled in such batches. Optional: without it `run` is
    /// called directly. `run` must be called exactly once; a callback that returns without
    /// calling it has its batch run after it returns.
    pub batch: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            run: unsafe extern "C" fn(batch: *mut c_void),
            batch: *mut c_void,
        ),
    >,
}

/// What a batch callback is given to run: the library's batch, and whether it ran.
struct Batch<'a> {
    run: &'a mut dyn FnMut(),
    ran: bool,
}

/// The `run` a batch callback calls.
unsafe extern "C" fn run_batch(batch: *mut c_void) {
    // SAFETY: `batch` is the `Batch` that `CForeign::run_batch` passed to the callback,
    // live until that callback returns; the callback calls this during it.
    let Some(batch) = (unsafe { batch.cast::<Batch<'_>>().as_mut() }) else {
        return;
    };
    if batch.ran {
        return;
    }
    batch.ran = true;
    // The handlers inside catch their own panics; anything else unwinding here would cross
    // the C frames of the callback, which is undefined: end the process instead.
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (batch.run)())).is_err() {
        std::process::abort();
    }
}

thread_local! {
    /// The actors whose callback is running on this thread (innermost last): a handler that
    /// calls another actor's handler directly (an ask of an idle actor) stacks a second.
    static RUNNING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks a callback of `foreign` as running on this thread until dropped.
struct Running;

impl Running {
    fn enter(foreign: &CForeign) -> Running {
        RUNNING.with(|r| r.borrow_mut().push(foreign as *const CForeign as usize));
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.with(|r| r.borrow_mut().pop());
    }
}

/// True while a callback of `foreign` runs on this thread, below the caller: a call made
/// from there that waited for that actor to stop would wait for itself.
pub(crate) fn runs_here(foreign: &Arc<CForeign>) -> bool {
    let me = Arc::as_ptr(foreign) as usize;
    RUNNING.with(|r| r.borrow().contains(&me))
}

/// True while any actor's callback runs on this thread.
pub(crate) fn in_callback() -> bool {
    RUNNING.with(|r| !r.borrow().is_empty())
}

/// The callbacks as a [`Foreign`] implementation.
type StartFn =
    unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut *mut c_void, *mut MycCall) -> i32;
type HandleFn =
    unsafe extern "C" fn(*mut c_void, *mut c_void, u16, *const u8, usize, *mut MycCall) -> i32;

pub(crate) struct CForeign {
    cb: MycActorCallbacks,
    start: StartFn,
    handle: HandleFn,
    /// The actor of the incarnation started last, for the timers its callbacks set.
    me: std::sync::Mutex<Option<ForeignRef<CForeign>>>,
    /// What logs and dead letters call the actor: the type a recorded one is recorded as.
    label: std::sync::OnceLock<&'static str>,
    /// Dropped after `free_user_data` has run: resolves the receiver `new` returned.
    _released: oneshot::Sender<()>,
}

/// Resolves once the callbacks are released (and `free_user_data` has run).
pub(crate) type Released = oneshot::Receiver<()>;

// SAFETY: the ABI's contract: callbacks and `user_data` may be used from any thread (one
// callback at a time per actor), which is what the C side promises by passing them.
unsafe impl Send for CForeign {}
// SAFETY: as above; the struct is only read.
unsafe impl Sync for CForeign {}

impl CForeign {
    /// Takes ownership of the callbacks' `user_data`: on an error here `free_user_data` has
    /// run; otherwise it runs when the last holder of the returned `Arc` drops it. Call it
    /// before checking any other argument, so every failure of the entry point releases
    /// `user_data` the same way.
    pub(crate) fn new(cb: &MycActorCallbacks) -> Result<(Arc<Self>, Released), Error> {
        let (Some(start), Some(handle)) = (cb.start, cb.handle) else {
            if let Some(free) = cb.free_user_data {
                // SAFETY: the ABI's ownership rule: the library owns `user_data` once called,
                // and no callback of these has run or can run.
                unsafe { free(cb.user_data) };
            }
            let which = if cb.start.is_none() {
                "callbacks.start"
            } else {
                "callbacks.handle"
            };
            return Err(Error::invalid(format!("{which} is null")));
        };
        let (released, wait) = oneshot::channel();
        let foreign = Arc::new(CForeign {
            cb: *cb,
            start,
            handle,
            me: std::sync::Mutex::new(None),
            label: std::sync::OnceLock::new(),
            _released: released,
        });
        Ok((foreign, wait))
    }

    /// Runs the `handle` callback on this thread.
    pub(super) fn call(
        &self,
        state: &mut CState,
        type_id: u16,
        body: &[u8],
    ) -> Result<Option<ForeignMessage>, String> {
        let mut call = MycCall::of(self);
        let _running = Running::enter(self);
        // SAFETY: the callback contract: valid pointers for the call's duration.
        let status = unsafe {
            (self.handle)(
                self.cb.user_data,
                state.0,
                type_id,
                body.as_ptr(),
                body.len(),
                &mut call,
            )
        };
        if status == 0 {
            Ok(call.reply.take())
        } else {
            Err(Self::failure(call, status, "handle"))
        }
    }

    /// Names the actor `label` in logs and dead letters (once: a recorded actor, by the type
    /// it is recorded as).
    pub(crate) fn name_as(&self, label: &str) {
        let _ = self
            .label
            .set(mycelium_foreign::recording::static_name(label));
    }

    /// The actor of the incarnation started last: the one whose callback runs.
    pub(crate) fn me(&self) -> Option<ForeignRef<CForeign>> {
        self.me.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn failure(call: MycCall, status: i32, what: &str) -> String {
        call.error
            .unwrap_or_else(|| format!("the {what} callback returned status {status}"))
    }
}

impl Drop for CForeign {
    fn drop(&mut self) {
        if let Some(free) = self.cb.free_user_data {
            // SAFETY: called once, when the last holder of the callbacks goes: no callback
            // can run any more.
            unsafe { free(self.cb.user_data) };
        }
    }
}

/// A foreign actor's state pointer.
pub(crate) struct CState(*mut c_void);

// SAFETY: the state is only touched by this actor's callbacks, one at a time.
unsafe impl Send for CState {}

/// The spawn arguments, shared by every restart.
#[derive(Clone)]
pub(crate) struct CArgs(pub(crate) Arc<[u8]>);

impl Foreign for CForeign {
    type Args = CArgs;
    type State = CState;

    fn start(&self, args: &CArgs, me: &ForeignRef<Self>) -> Result<CState, String> {
        *self.me.lock().unwrap_or_else(|e| e.into_inner()) = Some(me.clone());
        let mut state = std::ptr::null_mut();
        let mut call = MycCall::of(self);
        let _running = Running::enter(self);
        // SAFETY: the callback contract: valid pointers for the call's duration.
        let status = unsafe {
            (self.start)(
                self.cb.user_data,
                args.0.as_ptr(),
                args.0.len(),
                &mut state,
                &mut call,
            )
        };
        if status == 0 {
            Ok(CState(state))
        } else {
            Err(Self::failure(call, status, "start"))
        }
    }

    fn handle(
        &self,
        state: &mut CState,
        msg: ForeignMessage,
    ) -> Result<Option<ForeignMessage>, String> {
        self.call(state, msg.type_id, &msg.body)
    }

    fn label(&self) -> &'static str {
        match (self.label.get(), crate::error::host_language()) {
            (Some(label), _) => label,
            (None, Language::OCaml) => "OCamlActor",
            (None, _) => "CActor",
        }
    }

    fn run_batch(&self, batch: &mut dyn FnMut()) {
        let Some(enter) = self.cb.batch else {
            return batch();
        };
        let mut ctx = Batch {
            run: batch,
            ran: false,
        };
        // SAFETY: the callback contract: `run` is called with `ctx` during the callback,
        // while `ctx` lives.
        unsafe {
            enter(
                self.cb.user_data,
                run_batch,
                (&mut ctx as *mut Batch<'_>).cast::<c_void>(),
            )
        };
        if !ctx.ran {
            (ctx.run)();
        }
    }

    /// Type id `0xFFFF` carries a value of the host language by reference (a plain OCaml
    /// value): it has no encoding a journal could hold, so it is recorded by name only.
    fn recorded(
        &self,
        msg: &mycelium_foreign::ForeignMessage,
        _own_serialization: bool,
    ) -> mycelium_foreign::ForeignRecord {
        if msg.type_id == u16::MAX {
            return mycelium_foreign::ForeignRecord::unrecordable("a plain value");
        }
        mycelium_foreign::ForeignRecord::contract(
            msg,
            crate::names::name_of(msg.type_id)
                .unwrap_or_else(|| mycelium_foreign::recording::contract_name(msg.type_id)),
        )
    }

    /// As the host language named it ([`crate::myc_contract_name`]), else by its type id.
    fn message_name(&self, type_id: u16) -> &'static str {
        match type_id {
            u16::MAX => mycelium_foreign::name_by_type_id(type_id),
            _ => crate::names::name_of(type_id)
                .unwrap_or_else(|| mycelium_foreign::name_by_type_id(type_id)),
        }
    }

    fn stop(&self, state: CState, reason: &StopReason) {
        if let Some(stop) = self.cb.stop {
            let reason = CString::new(reason.to_string().replace('\0', " ")).unwrap_or_default();
            let _running = Running::enter(self);
            // SAFETY: as above; the state is given back once.
            unsafe { stop(self.cb.user_data, state.0, reason.as_ptr()) };
        }
    }

    fn abandon(&self, state: CState) {
        self.stop(state, &StopReason::Killed);
    }
}
