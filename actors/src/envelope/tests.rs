//! The envelope's storage on its own: layout, inline against boxed placement, and that
//! every payload is moved out or dropped exactly once on every path (handled, cancelled
//! mid-handler, handed back, dead-lettered, dropped, dropped on another thread, a
//! panicking destructor). CI runs these under AddressSanitizer and valgrind's memcheck,
//! which report a double drop, a use after free or a leaked box that a count alone would
//! miss.

use super::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use crate::{ActorRef, BoxError, Bus};

/// The actor the test envelopes are addressed to; counts the handlers that ran.
struct Probe {
    handled: usize,
}

impl Actor for Probe {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Probe { handled: 0 })
    }
}

/// A payload carrying `T` and nothing else; its handler holds `T` across an await
/// (pending forever when `STALL`), so a cancelled handler must drop it.
struct Msg<T, const STALL: bool = false> {
    value: T,
}

impl<T: Send + 'static, const STALL: bool> Payload<Probe> for Msg<T, STALL> {
    fn message_type() -> &'static str {
        "Msg"
    }

    async fn run(self, actor: &mut Probe, _ctx: &mut Context<Probe>) -> Outcome {
        let Msg { value } = self;
        if STALL {
            std::future::pending::<()>().await;
        }
        tokio::task::yield_now().await;
        actor.handled += 1;
        drop(value);
        Outcome::Done
    }

    fn undeliverable(self, _reason: StopReason) -> Box<dyn Any + Send> {
        Box::new(self.value)
    }

    fn into_message(self) -> Box<dyn Any + Send> {
        Box::new(self.value)
    }
}

fn msg<T>(value: T) -> Msg<T> {
    Msg { value }
}

/// A value that counts its drops and carries `N` bytes of a known pattern, so a payload
/// that was moved wrongly (torn, misaligned, read from freed memory) is seen.
struct Counted<const N: usize> {
    drops: Arc<AtomicUsize>,
    fill: [u8; N],
}

#[repr(align(16))]
struct Align16(#[allow(dead_code)] Counted<0>);

#[repr(align(64))]
struct Align64(Counted<8>);

/// A zero-sized payload; its drops are counted in a static of its own.
struct Zst;
static ZST_DROPS: AtomicUsize = AtomicUsize::new(0);

impl<const N: usize> Drop for Counted<N> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Zst {
    fn drop(&mut self) {
        ZST_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

/// The test payloads: how to make one and check one that was handed back.
trait Sample: Send + Sized + 'static {
    fn make(drops: &Arc<AtomicUsize>) -> Self;
    fn check(&self);
    fn drops(drops: &Arc<AtomicUsize>) -> usize {
        drops.load(Ordering::SeqCst)
    }
}

impl<const N: usize> Sample for Counted<N> {
    fn make(drops: &Arc<AtomicUsize>) -> Self {
        Counted {
            drops: drops.clone(),
            fill: std::array::from_fn(|i| i as u8 ^ 0x5a),
        }
    }
    fn check(&self) {
        assert!(self
            .fill
            .iter()
            .enumerate()
            .all(|(i, b)| *b == i as u8 ^ 0x5a));
    }
}

impl Sample for Align16 {
    fn make(drops: &Arc<AtomicUsize>) -> Self {
        Align16(Counted::make(drops))
    }
    fn check(&self) {
        assert_eq!(self as *const Self as usize % 16, 0);
    }
}

impl Sample for Align64 {
    fn make(drops: &Arc<AtomicUsize>) -> Self {
        Align64(Counted::make(drops))
    }
    fn check(&self) {
        assert_eq!(self as *const Self as usize % 64, 0);
        self.0.check();
    }
}

impl Sample for Zst {
    fn make(_: &Arc<AtomicUsize>) -> Self {
        Zst
    }
    fn check(&self) {}
    fn drops(_: &Arc<AtomicUsize>) -> usize {
        ZST_DROPS.load(Ordering::SeqCst)
    }
}

/// A context for `Envelope::handle`, on a runtime the bus can be built on.
fn context() -> (tokio::runtime::Runtime, Context<Probe>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let ctx = {
        let _enter = rt.enter();
        let bus = Bus::new();
        let shared = Arc::new(crate::shared::Shared::new(
            1,
            None,
            Default::default(),
            bus.clock().clone(),
        ));
        Context::new(ActorRef { shared }, bus)
    };
    (rt, ctx)
}

fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut TaskContext::from_waker(Waker::noop()))
}

/// Every way an envelope of payload `T` can end, each checked for one drop of the payload
/// at the right moment and for the value handed back intact.
fn ends_exactly_once<T: Sample>() {
    let (_rt, mut ctx) = context();
    let mut actor = Probe { handled: 0 };
    let mut slot = FutureSlot::default();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut expected = T::drops(&drops);

    // Dropped unhandled.
    let env = Envelope::<Probe>::new(msg(T::make(&drops)));
    assert_eq!(env.message_type(), "Msg");
    assert_eq!(T::drops(&drops), expected);
    drop(env);
    expected += 1;
    assert_eq!(T::drops(&drops), expected, "dropped envelope");

    // Handed back after a failed send: the same value, dropped once by its new owner.
    let back = Envelope::<Probe>::new(msg(T::make(&drops))).into_message();
    let value = back.downcast::<T>().expect("the message handed back");
    value.check();
    assert_eq!(T::drops(&drops), expected);
    drop(value);
    expected += 1;
    assert_eq!(T::drops(&drops), expected, "handed-back message");

    // Undeliverable (the actor stopped): handed back too.
    let back = Envelope::<Probe>::new(msg(T::make(&drops))).undeliverable(StopReason::Normal);
    let value = back.downcast::<T>().expect("the undeliverable message");
    value.check();
    drop(value);
    expected += 1;
    assert_eq!(T::drops(&drops), expected, "undeliverable message");

    // Handled to completion: the handler drops it.
    let env = Envelope::<Probe>::new(msg(T::make(&drops)));
    // SAFETY: `handling` is polled to completion and dropped before the slot is reused.
    let mut handling = unsafe { env.handle(&mut actor, &mut ctx, &mut slot) };
    assert!(poll(&mut handling).is_pending()); // parked at the yield, still holding it
    assert_eq!(T::drops(&drops), expected);
    assert!(matches!(poll(&mut handling), Poll::Ready(Outcome::Done)));
    drop(handling);
    expected += 1;
    assert_eq!(T::drops(&drops), expected, "handled message");
    assert_eq!(actor.handled, 1);

    // Cancelled mid-handler: dropping the handler's future drops the payload it holds.
    let env = Envelope::<Probe>::new(Msg::<T, true> {
        value: T::make(&drops),
    });
    // SAFETY: `handling` is dropped below, before the slot is reused.
    let mut handling = unsafe { env.handle(&mut actor, &mut ctx, &mut slot) };
    assert!(poll(&mut handling).is_pending());
    assert_eq!(T::drops(&drops), expected);
    drop(handling);
    expected += 1;
    assert_eq!(T::drops(&drops), expected, "cancelled handler");

    // Sent to and dropped on another thread.
    let env = Envelope::<Probe>::new(msg(T::make(&drops)));
    std::thread::spawn(move || drop(env))
        .join()
        .expect("dropping on another thread");
    expected += 1;
    assert_eq!(T::drops(&drops), expected, "dropped on another thread");
}

#[test]
fn layout_is_a_vtable_pointer_and_48_bytes() {
    assert_eq!(size_of::<Envelope<Probe>>(), 56);
    assert_eq!(align_of::<Envelope<Probe>>(), 8);
    // The mailbox queues envelopes, system signals included: 56 bytes each. `Signal`, the
    // enum they are read as, would be 64 (its tag finds no niche to live in).
    assert_eq!(size_of::<Signal<Probe>>(), 64);
    assert!(fits::<SystemSignal>());
}

#[test]
fn a_handler_future_polls_to_two_words() {
    // Every handler future's poll returns a `Poll<Outcome>`. At two words it comes back in
    // registers; a 40-byte one (the failure unboxed) went through memory, and reading it
    // back made w1 a fifth slower.
    assert_eq!(size_of::<Poll<Outcome>>(), 16);
}

#[test]
fn a_message_envelope_reads_as_a_message() {
    let env = Envelope::<Probe>::new(msg(7_u64));
    match env.into_signal() {
        Signal::Message(env) => {
            let back = env.into_message().downcast::<u64>().expect("the message");
            assert_eq!(*back, 7);
        }
        _ => panic!("a message envelope read as a system signal"),
    }
}

/// Each system signal comes out of its envelope as the signal that went in, with what it
/// carries intact.
#[test]
fn a_system_signal_comes_out_of_its_envelope_as_it_went_in() {
    let read = |s: SystemSignal| SystemSignal::envelope::<Probe>(s).into_signal();
    assert!(matches!(read(SystemSignal::Stop), Signal::Stop));
    assert!(matches!(read(SystemSignal::Resume), Signal::Resume));
    match read(SystemSignal::Terminate(Box::new(StopReason::Killed))) {
        Signal::Terminate(reason) => assert_eq!(*reason, StopReason::Killed),
        _ => panic!("not a terminate"),
    }
    let (tx, mut rx) = oneshot::channel();
    match read(SystemSignal::Suspend(tx)) {
        Signal::Suspend(ack) => ack.send(()).expect("the suspend's receiver"),
        _ => panic!("not a suspend"),
    }
    assert_eq!(rx.try_recv(), Ok(()));
    let (tx, mut rx) = oneshot::channel();
    match read(SystemSignal::Restart(Some(tx))) {
        Signal::Restart(Some(ack)) => ack.send(Ok(())).expect("the restart's receiver"),
        _ => panic!("not a restart with its ack"),
    }
    assert_eq!(rx.try_recv(), Ok(Ok(())));
    assert!(matches!(
        read(SystemSignal::Restart(None)),
        Signal::Restart(None)
    ));
}

/// A system signal whose envelope is dropped unread (left in a closed mailbox) drops what it
/// carries once: its acknowledgement's receiver sees the sender gone, and memcheck sees the
/// reason's box freed.
#[test]
fn a_system_signal_dropped_unread_drops_what_it_carries() {
    let (tx, mut rx) = oneshot::channel::<()>();
    drop(SystemSignal::Suspend(tx).envelope::<Probe>());
    assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
    drop(SystemSignal::Terminate(Box::new(StopReason::Normal)).envelope::<Probe>());
    // Handed back as a message would be, it is no message: nothing of it comes back.
    let (tx, mut rx) = oneshot::channel::<Result<(), StopReason>>();
    let back = SystemSignal::Restart(Some(tx))
        .envelope::<Probe>()
        .undeliverable(StopReason::Normal);
    assert!(back.downcast::<()>().is_ok());
    assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
}

#[test]
fn placement_follows_size_and_alignment() {
    assert!(fits::<Msg<()>>());
    assert!(fits::<Msg<Zst>>());
    assert!(fits::<Msg<[u8; 48]>>());
    assert!(fits::<Msg<[u64; 6]>>());
    assert!(fits::<Msg<Counted<40>>>());
    assert!(!fits::<Msg<Counted<41>>>()); // 49 bytes
    assert!(!fits::<Msg<[u8; 49]>>());
    assert!(!fits::<Msg<Align16>>());
    assert!(!fits::<Msg<Align64>>());
}

#[test]
fn an_inline_payload_lives_in_the_envelope() {
    // 48 bytes: the payload fills the storage.
    let env = Envelope::<Probe>::new(msg([0xab_u8; 48]));
    // SAFETY: the inline payload initialised all 48 bytes of the storage.
    let bytes = unsafe { env.storage.0.assume_init_ref() };
    assert_eq!(bytes, &[0xab; 48]);
    let back = env.into_message().downcast::<[u8; 48]>().unwrap();
    assert_eq!(*back, [0xab; 48]);
}

#[test]
fn a_large_or_over_aligned_payload_is_boxed() {
    let big = Envelope::<Probe>::new(msg([0xcd_u8; 64]));
    // SAFETY: a boxed payload stores the box (one pointer) at the start of the storage.
    let ptr = unsafe { big.storage.0.as_ptr().cast::<*const Msg<[u8; 64]>>().read() };
    // SAFETY: the box is alive until the envelope is consumed below.
    assert_eq!(unsafe { (*ptr).value }, [0xcd; 64]);
    assert_eq!(
        *big.into_message().downcast::<[u8; 64]>().unwrap(),
        [0xcd; 64]
    );

    let drops = Arc::new(AtomicUsize::new(0));
    let aligned = Envelope::<Probe>::new(msg(Align64::make(&drops)));
    // SAFETY: as above.
    let ptr = unsafe {
        aligned
            .storage
            .0
            .as_ptr()
            .cast::<*const Msg<Align64>>()
            .read()
    };
    assert_eq!(ptr as usize % 64, 0);
    drop(aligned);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_small_payload_ends_exactly_once() {
    ends_exactly_once::<Counted<0>>();
}

#[test]
fn a_payload_of_exactly_48_bytes_ends_exactly_once() {
    assert_eq!(size_of::<Msg<Counted<40>>>(), 48);
    ends_exactly_once::<Counted<40>>();
}

#[test]
fn a_boxed_payload_ends_exactly_once() {
    ends_exactly_once::<Counted<41>>();
    ends_exactly_once::<Counted<4096>>();
}

#[test]
fn an_over_aligned_payload_ends_exactly_once() {
    ends_exactly_once::<Align16>();
    ends_exactly_once::<Align64>();
}

#[test]
fn a_zero_sized_payload_ends_exactly_once() {
    ends_exactly_once::<Zst>();
}

/// A payload whose destructor panics is still dropped once, and a boxed one's box is
/// freed (memcheck and ASan report a leak or a double free otherwise).
#[test]
fn a_panicking_drop_runs_once_and_frees_the_box() {
    struct PanicsOnDrop<const N: usize>(Arc<AtomicUsize>, [u8; N]);
    impl<const N: usize> Drop for PanicsOnDrop<N> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            panic!("payload drop panics");
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let inline = Envelope::<Probe>::new(msg(PanicsOnDrop(drops.clone(), [0; 8])));
    let boxed = Envelope::<Probe>::new(msg(PanicsOnDrop(drops.clone(), [0; 256])));
    assert!(fits::<Msg<PanicsOnDrop<8>>>() && !fits::<Msg<PanicsOnDrop<256>>>());
    assert!(catch_unwind(AssertUnwindSafe(move || drop(inline))).is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(catch_unwind(AssertUnwindSafe(move || drop(boxed))).is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}
