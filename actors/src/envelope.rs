//! Envelopes: a message with its reply slot, type-erased so one mailbox carries every message
//! type an actor handles.
//!
//! An envelope stores its payload (the message, and an ask's reply sender) *inline* when it
//! fits in 48 bytes with an alignment of at most 8 — the common case of small trading
//! messages — and behind a box otherwise. Together with the actor's [`FutureSlot`], a `tell`
//! of a small message allocates nothing: measured, the two allocations per message the
//! obvious design makes (a boxed envelope, a boxed handler future) were the largest cost of a
//! `tell` (docs/perf/actors.md).

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop, MaybeUninit};
use std::pin::Pin;
use std::task::Poll;

use tokio::sync::oneshot;

use crate::error::NoReply;
use crate::failure::{Failure, Phase};
use crate::handler::{Handler, Reply};
use crate::panic::{catch_unwind_future, CatchUnwind};
use crate::recording::{Delivery, ReplyRecord};
use crate::slot::{FutureSlot, SlotFuture};
use crate::{Actor, Context, StopReason};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What handling one envelope came to.
pub(crate) enum Outcome {
    Done,
    /// Boxed: a failure is rare, and a boxed one keeps `Poll<Outcome>` at two words, returned
    /// in registers from every handler future's poll.
    Failed(Box<Failure>),
}

/// What an envelope taken from an actor's mailbox asks of it ([`Envelope::into_signal`]).
///
/// The mailbox carries envelopes, not signals: a control signal travels as an envelope whose
/// payload is a [`SystemSignal`], so a queued element is the envelope's 56 bytes. As an enum
/// beside the envelope, the tag made it 64 (rustc has one niche in the vtable reference, and
/// five variants to place).
pub(crate) enum Signal<A: Actor> {
    Message(Envelope<A>),
    /// End the current incarnation (`ActorRef::stop`).
    Stop,
    /// Stop for good, from the supervisor or the bus; no restart decision is asked for.
    Terminate(Box<StopReason>),
    /// End the current incarnation for a sibling's restart; ack when the state is dropped.
    Suspend(oneshot::Sender<()>),
    /// Build a new incarnation; ack with the outcome once `on_start` has finished. A failed
    /// start is then the acknowledged party's to handle: it is not also reported as ended.
    Restart(Option<oneshot::Sender<Result<(), StopReason>>>),
    /// Wake up: an asker that ran a handler on the actor's lent state left work for the
    /// actor's task (`direct.rs`).
    Resume,
}

/// The control signals, as the payload of an envelope ([`Signal`] has their meaning).
pub(crate) enum SystemSignal {
    Stop,
    Terminate(Box<StopReason>),
    Suspend(oneshot::Sender<()>),
    Restart(Option<oneshot::Sender<Result<(), StopReason>>>),
    Resume,
}

impl SystemSignal {
    /// The envelope that carries this signal through an actor's mailbox.
    pub(crate) fn envelope<A: Actor>(self) -> Envelope<A> {
        Envelope::new(self)
    }
}

const INLINE: usize = 48;

#[repr(C, align(8))]
struct Storage(MaybeUninit<[u8; INLINE]>);

/// Whether a payload of type `P` is stored inline (else it is stored as a `Box<P>`).
const fn fits<P>() -> bool {
    size_of::<P>() <= INLINE && align_of::<P>() <= align_of::<Storage>()
}

/// A message on its way to an actor of type `A`.
pub(crate) struct Envelope<A: Actor> {
    vtable: &'static VTable<A>,
    storage: Storage,
}

// SAFETY: an envelope is only built (by `Envelope::new`) from a `Payload`, which is `Send`;
// the storage holds that payload (or a box of it) and nothing else.
unsafe impl<A: Actor> Send for Envelope<A> {}

struct VTable<A: Actor> {
    message_type: fn() -> &'static str,
    handle: for<'a> unsafe fn(
        *mut Storage,
        &'a mut A,
        &'a mut Context<A>,
        &'a mut FutureSlot,
    ) -> SlotFuture<'a, Outcome>,
    undeliverable: unsafe fn(*mut Storage, StopReason) -> Box<dyn Any + Send>,
    into_message: unsafe fn(*mut Storage) -> Box<dyn Any + Send>,
    drop: unsafe fn(*mut Storage),
    /// The payload is a [`SystemSignal`]: true only in the vtable made for `SystemSignal`.
    control: bool,
}

/// The typed contents of an envelope.
pub(crate) trait Payload<A: Actor>: Send + Sized + 'static {
    fn message_type() -> &'static str;
    fn run<'a>(
        self,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> impl Future<Output = Outcome> + Send + 'a;
    fn undeliverable(self, reason: StopReason) -> Box<dyn Any + Send>;
    fn into_message(self) -> Box<dyn Any + Send>;
    /// True for [`SystemSignal`] alone: [`Envelope::into_signal`] takes such a payload out as a
    /// `SystemSignal`.
    const CONTROL: bool = false;
}

struct VTableOf<A, P>(PhantomData<(A, P)>);

impl<A: Actor, P: Payload<A>> VTableOf<A, P> {
    const VTABLE: VTable<A> = VTable {
        message_type: P::message_type,
        handle: handle_payload::<A, P>,
        undeliverable: undeliverable_payload::<A, P>,
        into_message: into_message_payload::<A, P>,
        drop: drop_payload::<P>,
        control: P::CONTROL,
    };
}

/// Moves the payload out of `storage`.
///
/// # Safety
/// `storage` holds a live `P` written by `Envelope::new::<P>`, and it is not read again.
unsafe fn take<P>(storage: *mut Storage) -> P {
    if fits::<P>() {
        // SAFETY: by the caller's contract a `P` was written here inline.
        unsafe { storage.cast::<P>().read() }
    } else {
        // SAFETY: by the caller's contract a `Box<P>` was written here.
        *unsafe { storage.cast::<Box<P>>().read() }
    }
}

unsafe fn handle_payload<'a, A: Actor, P: Payload<A>>(
    storage: *mut Storage,
    actor: &'a mut A,
    ctx: &'a mut Context<A>,
    slot: &'a mut FutureSlot,
) -> SlotFuture<'a, Outcome> {
    // SAFETY: called once, through `Envelope::handle`, which then forgets the envelope.
    let payload = unsafe { take::<P>(storage) };
    // SAFETY: the handle goes back to `Envelope::handle`'s caller, which promises (the
    // contract of `Envelope::handle`) to let it be dropped, never leaked.
    unsafe { slot.place(|| payload.run(actor, ctx)) }
}

unsafe fn undeliverable_payload<A: Actor, P: Payload<A>>(
    storage: *mut Storage,
    reason: StopReason,
) -> Box<dyn Any + Send> {
    // SAFETY: called once, through `Envelope::undeliverable`, which forgets the envelope.
    unsafe { take::<P>(storage) }.undeliverable(reason)
}

unsafe fn into_message_payload<A: Actor, P: Payload<A>>(
    storage: *mut Storage,
) -> Box<dyn Any + Send> {
    // SAFETY: called once, through `Envelope::into_message`, which forgets the envelope.
    unsafe { take::<P>(storage) }.into_message()
}

unsafe fn drop_payload<P>(storage: *mut Storage) {
    // SAFETY: called once, from `Envelope::drop`, for an envelope never consumed.
    drop(unsafe { take::<P>(storage) });
}

impl<A: Actor> Envelope<A> {
    /// The envelope of `payload`; while an actor is recorded in the process, a message's
    /// carries where it comes from ([`Sourced`]).
    #[inline]
    pub(crate) fn new<P: Payload<A>>(payload: P) -> Self {
        if !P::CONTROL && crate::recording::on() {
            return Self::holding(Sourced {
                inner: payload,
                source: crate::recording::current_source(),
            });
        }
        Self::holding(payload)
    }

    #[inline]
    fn holding<P: Payload<A>>(payload: P) -> Self {
        let mut storage = Storage(MaybeUninit::uninit());
        let at = storage.0.as_mut_ptr();
        if fits::<P>() {
            // SAFETY: `P` fits the 48 bytes of storage and its alignment is at most the
            // storage's 8 (`fits`); the storage is fresh.
            unsafe { at.cast::<P>().write(payload) };
        } else {
            // SAFETY: a `Box<P>` is one pointer: it fits, and the storage is fresh.
            unsafe { at.cast::<Box<P>>().write(Box::new(payload)) };
        }
        Envelope {
            vtable: &VTableOf::<A, P>::VTABLE,
            storage,
        }
    }

    pub(crate) fn message_type(&self) -> &'static str {
        (self.vtable.message_type)()
    }

    /// What this envelope asks of the actor: a message to handle, or a control signal.
    #[inline]
    pub(crate) fn into_signal(self) -> Signal<A> {
        if !self.vtable.control {
            return Signal::Message(self);
        }
        let mut this = ManuallyDrop::new(self);
        // SAFETY: only the vtable made for `SystemSignal` says `control` (`Payload::CONTROL` is
        // true for `SystemSignal` alone), so the storage holds a live `SystemSignal`, written by
        // `Envelope::new::<SystemSignal>`; it is moved out once and `this` is never dropped.
        let control = unsafe { take::<SystemSignal>(&mut this.storage) };
        match control {
            SystemSignal::Stop => Signal::Stop,
            SystemSignal::Terminate(reason) => Signal::Terminate(reason),
            SystemSignal::Suspend(ack) => Signal::Suspend(ack),
            SystemSignal::Restart(ack) => Signal::Restart(ack),
            SystemSignal::Resume => Signal::Resume,
        }
    }

    /// Starts the handler: its future is placed in `slot`; awaiting the result runs it.
    ///
    /// # Safety
    ///
    /// The returned [`SlotFuture`] must be dropped, never leaked, as for
    /// [`FutureSlot::place`], which this calls.
    pub(crate) unsafe fn handle<'a>(
        self,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
        slot: &'a mut FutureSlot,
    ) -> SlotFuture<'a, Outcome> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the payload is moved out exactly once, and `this` is never dropped; the
        // caller keeps the contract of `FutureSlot::place` for the handle returned.
        unsafe { (this.vtable.handle)(&mut this.storage, actor, ctx, slot) }
    }

    /// The actor will never handle this message: tell an asker why and hand the message back.
    pub(crate) fn undeliverable(self, reason: StopReason) -> Box<dyn Any + Send> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: as in `handle`.
        unsafe { (this.vtable.undeliverable)(&mut this.storage, reason) }
    }

    /// The message back, for a send that failed.
    pub(crate) fn into_message(self) -> Box<dyn Any + Send> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: as in `handle`.
        unsafe { (this.vtable.into_message)(&mut this.storage) }
    }
}

impl<A: Actor> Drop for Envelope<A> {
    fn drop(&mut self) {
        // SAFETY: an envelope that reaches `drop` was never consumed (consuming methods wrap
        // it in `ManuallyDrop`), so its payload is still in the storage.
        unsafe { (self.vtable.drop)(&mut self.storage) }
    }
}

pub(crate) struct TellEnvelope<M> {
    pub(crate) msg: M,
}

pin_project_lite::pin_project! {
    /// The future of a told message: its handler's, a reply that reports a failure or a panic
    /// turned into the actor's failure.
    struct Told<F, M> {
        #[pin]
        handling: CatchUnwind<F>,
        // Set for a recorded actor: its handler's sends are attributed to it.
        record: Option<std::sync::Arc<ReplyRecord>>,
        _msg: PhantomData<fn() -> M>,
    }
}

impl<F, M> Future for Told<F, M>
where
    F: Future,
    F::Output: Reply,
{
    type Output = Outcome;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Outcome> {
        let this = self.project();
        let polled = match this.record {
            None => this.handling.poll(cx),
            Some(record) => crate::recording::poll_handling(record, this.handling, cx),
        };
        let handled = match polled {
            Poll::Ready(handled) => handled,
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(match handled {
            Ok(reply) => match reply.failure() {
                None => Outcome::Done,
                Some(err) => failed::<M>(err),
            },
            Err(payload) => panicked::<M>(payload),
        })
    }
}

// The failure paths of a handler, out of line and cold: `Told::poll` and
// `AskEnvelope::run` are the frames that catch a handler's panic, and the unwinder reads the
// catching frame's unwinding rules and call-site table on every panic, so the less they hold
// the cheaper a restart: about 1,770 instructions fewer a restart (measured at 4548c54,
// 2026-11-26: docs/perf/actors.md). They also leave the path of every message smaller.

/// The outcome of a told `M` whose handler returned an error.
#[cold]
#[inline(never)]
fn failed<M>(err: String) -> Outcome {
    Outcome::Failed(Box::new(Failure::from_error(
        Phase::Message(message_name::<M>()),
        err,
    )))
}

/// The outcome of a told `M` whose handler panicked.
#[cold]
#[inline(never)]
fn panicked<M>(payload: Box<dyn Any + Send>) -> Outcome {
    Outcome::Failed(Box::new(Failure::from_panic(
        Phase::Message(message_name::<M>()),
        payload,
    )))
}

/// A told `M` with a step of its own that runs just before the handler (a published
/// message's delivery latency, recorded on a bus that records metrics). In every other way it
/// is a [`TellEnvelope`] of `M`: its failures, dead letters and refusals name and hand back
/// the `M`, so a user never meets a wrapper.
pub(crate) struct PreludedTell<M> {
    pub(crate) msg: M,
    pub(crate) prelude: fn(&M),
}

impl<A, M> Payload<A> for PreludedTell<M>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn message_type() -> &'static str {
        <TellEnvelope<M> as Payload<A>>::message_type()
    }

    fn run<'a>(
        self,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> impl Future<Output = Outcome> + Send + 'a {
        (self.prelude)(&self.msg);
        TellEnvelope { msg: self.msg }.run(actor, ctx)
    }

    fn undeliverable(self, reason: StopReason) -> Box<dyn Any + Send> {
        <TellEnvelope<M> as Payload<A>>::undeliverable(TellEnvelope { msg: self.msg }, reason)
    }

    fn into_message(self) -> Box<dyn Any + Send> {
        <TellEnvelope<M> as Payload<A>>::into_message(TellEnvelope { msg: self.msg })
    }
}

/// A told `M` delivered by a link, with the [`Receipt`](crate::Receipt) signed once its
/// handler has returned (or the message became a dead letter). A refusal hands back the `M` with its
/// receipt, unsigned. In every other way it is a [`TellEnvelope`] of `M`.
pub(crate) struct ReceiptTell<M> {
    pub(crate) msg: M,
    pub(crate) receipt: crate::Receipt,
}

pin_project_lite::pin_project! {
    /// A receipted tell's handling: the receipt is signed once the handler has returned (or
    /// failed, or panicked), or when the handling is dropped unfinished (the actor stopped).
    struct Signed<F> {
        #[pin]
        handling: F,
        receipt: Option<crate::Receipt>,
    }
}

impl<F: Future<Output = Outcome>> Future for Signed<F> {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Outcome> {
        let this = self.project();
        let outcome = std::task::ready!(this.handling.poll(cx));
        if let Some(receipt) = this.receipt.take() {
            receipt.sign();
        }
        Poll::Ready(outcome)
    }
}

impl<A, M> Payload<A> for ReceiptTell<M>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn message_type() -> &'static str {
        <TellEnvelope<M> as Payload<A>>::message_type()
    }

    fn run<'a>(
        self,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> impl Future<Output = Outcome> + Send + 'a {
        Signed {
            handling: TellEnvelope { msg: self.msg }.run(actor, ctx),
            receipt: Some(self.receipt),
        }
    }

    fn undeliverable(self, reason: StopReason) -> Box<dyn Any + Send> {
        // A dead letter of this node: reported here, so signed.
        self.receipt.sign();
        <TellEnvelope<M> as Payload<A>>::undeliverable(TellEnvelope { msg: self.msg }, reason)
    }

    /// The `M` with its receipt (`(M, Receipt)`), for the teller that gets it back.
    fn into_message(self) -> Box<dyn Any + Send> {
        Box::new((self.msg, self.receipt))
    }
}

pub(crate) struct AskEnvelope<M, R> {
    pub(crate) msg: M,
    pub(crate) reply: oneshot::Sender<Result<R, NoReply>>,
}

fn message_name<M>() -> &'static str {
    crate::actor::short_type_name(std::any::type_name::<M>())
}

impl<A, M> Payload<A> for TellEnvelope<M>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn message_type() -> &'static str {
        message_name::<M>()
    }

    fn run<'a>(
        self,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> impl Future<Output = Outcome> + Send + 'a {
        // The handler's future is made here, in the slot, rather than on the first poll of an
        // `async` wrapper, which moved the message into it then (a read of what was just
        // written, the hottest instruction of the tell path in a w6 profile).
        ctx.record_handled(Delivery::Tell, &self.msg);
        let record = ctx.reply_record();
        Told::<_, M> {
            handling: catch_unwind_future(|| actor.handle(self.msg, ctx)),
            record,
            _msg: PhantomData,
        }
    }

    fn undeliverable(self, _reason: StopReason) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }

    fn into_message(self) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }
}

/// A message with where it comes from, for the recorder of the actor that handles it; in
/// every other way it is the payload it wraps. Made only while an actor is recorded in the
/// process ([`Envelope::new`]).
pub(crate) struct Sourced<P> {
    inner: P,
    source: crate::recording::Source,
}

impl<A: Actor, P: Payload<A>> Payload<A> for Sourced<P> {
    fn message_type() -> &'static str {
        P::message_type()
    }

    fn run<'a>(
        self,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> impl Future<Output = Outcome> + Send + 'a {
        ctx.set_input_source(self.source);
        match ctx.input_turn() {
            None => Turned::Now {
                handling: self.inner.run(actor, ctx),
            },
            Some(turn) => Turned::Later {
                handling: async move {
                    turn.await;
                    self.inner.run(actor, ctx).await
                },
            },
        }
    }

    fn undeliverable(self, reason: StopReason) -> Box<dyn Any + Send> {
        self.inner.undeliverable(reason)
    }

    fn into_message(self) -> Box<dyn Any + Send> {
        self.inner.into_message()
    }
}

pin_project_lite::pin_project! {
    /// A sourced message's future: its payload's, begun at once, or after the wait its
    /// actor's recorder asks for ([`crate::recording::Recorder::input_turn`], a replay's).
    #[project = TurnedProjection]
    enum Turned<F, G> {
        Now { #[pin] handling: F },
        Later { #[pin] handling: G },
    }
}

impl<F, G> Future for Turned<F, G>
where
    F: Future<Output = Outcome>,
    G: Future<Output = Outcome>,
{
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Outcome> {
        match self.project() {
            TurnedProjection::Now { handling } => handling.poll(cx),
            TurnedProjection::Later { handling } => handling.poll(cx),
        }
    }
}

/// A recorded actor's timer's message: a tell that says which timer sent it, so that the
/// recording can tell it from other tells of its type.
pub(crate) struct TimerTell<M> {
    pub(crate) msg: M,
    pub(crate) timer: u64,
}

impl<A, M> Payload<A> for TimerTell<M>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn message_type() -> &'static str {
        message_name::<M>()
    }

    fn run<'a>(
        self,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> impl Future<Output = Outcome> + Send + 'a {
        ctx.record_handled(Delivery::Timer { timer: self.timer }, &self.msg);
        let record = ctx.reply_record();
        Told::<_, M> {
            handling: catch_unwind_future(|| actor.handle(self.msg, ctx)),
            record,
            _msg: PhantomData,
        }
    }

    fn undeliverable(self, _reason: StopReason) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }

    fn into_message(self) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }
}

impl<A, M> Payload<A> for AskEnvelope<M, <A as Handler<M>>::Reply>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn message_type() -> &'static str {
        message_name::<M>()
    }

    fn run<'a>(
        self,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> impl Future<Output = Outcome> + Send + 'a {
        // The future of a direct ask, answering on the channel from the start; made here, in
        // the slot, as a told message's is.
        let AskEnvelope { msg, reply } = self;
        ctx.record_handled(Delivery::Ask, &msg);
        let record = ctx.reply_record();
        here::through_channel::<_, M, _>(
            catch_unwind_future(|| actor.handle(msg, ctx)),
            reply,
            record,
        )
    }

    fn undeliverable(self, reason: StopReason) -> Box<dyn Any + Send> {
        let _ = self.reply.send(Err(NoReply::Stopped(reason)));
        Box::new(self.msg)
    }

    fn into_message(self) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }
}

/// A control signal is never handled as a message: [`Envelope::into_signal`] takes it out
/// first. Were one handled, dropped or sent back all the same, it would end as a dropped
/// signal (its acknowledgement channels closed), never as a message.
impl<A: Actor> Payload<A> for SystemSignal {
    const CONTROL: bool = true;

    fn message_type() -> &'static str {
        "control signal"
    }

    async fn run(self, _actor: &mut A, _ctx: &mut Context<A>) -> Outcome {
        Outcome::Done
    }

    fn undeliverable(self, _reason: StopReason) -> Box<dyn Any + Send> {
        Box::new(())
    }

    fn into_message(self) -> Box<dyn Any + Send> {
        Box::new(())
    }
}

/// The request [`ActorRef::drain_and_stop`](crate::ActorRef::drain_and_stop) queues: a user
/// message like any other, so everything queued before it is handled first; handled, it ends
/// the incarnation normally, as [`Context::stop`] does. Undelivered (the actor stopped before
/// reaching it), it is a dead letter of its own type.
pub(crate) struct DrainStop;

impl<A: Actor> Payload<A> for DrainStop {
    fn message_type() -> &'static str {
        "drain_and_stop"
    }

    async fn run(self, _actor: &mut A, ctx: &mut Context<A>) -> Outcome {
        ctx.stop();
        Outcome::Done
    }

    fn undeliverable(self, _reason: StopReason) -> Box<dyn Any + Send> {
        Box::new(())
    }

    fn into_message(self) -> Box<dyn Any + Send> {
        Box::new(())
    }
}

mod here;
pub(crate) use here::{Answer, HereAsk};

#[cfg(test)]
mod tests;
