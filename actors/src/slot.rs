//! A reusable place for an actor's handler futures, so handling a message allocates nothing.
//!
//! Handlers are `async`, and the mailbox holds messages of many types, so the future of a
//! handler is only known inside code that is generic over the message type. The usual answer
//! is `Box::pin` per message; measured, that allocation and its free were a large share of
//! the cost of a `tell` (see docs/perf/actors.md). Instead each actor owns one buffer, grown to
//! the largest handler future it has seen; a handler's future is written into it, pinned
//! there, polled to completion (or cancellation) and dropped in place before the buffer is
//! used again.

use std::future::Future;
use std::marker::PhantomData;
use std::mem::{align_of, size_of, MaybeUninit};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// 16-byte aligned storage unit.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Block(MaybeUninit<[u8; 16]>);

const BLOCK: usize = size_of::<Block>();

/// An actor's reusable storage for the future of the handler that runs now.
#[derive(Default)]
pub(crate) struct FutureSlot {
    blocks: Vec<Block>,
}

impl FutureSlot {
    /// Places the future `make` returns in the slot (or on the heap if it needs an alignment
    /// above 16) and returns a handle that polls it and drops it in place. The future is built
    /// once the slot has room, so it is written straight into the slot rather than built on
    /// the stack and copied, whole, into it (a handler's future can be hundreds of bytes, and
    /// one is placed per message).
    ///
    /// The returned handle borrows the slot mutably for `'a`, so the slot cannot be used,
    /// grown or dropped while the handle lives.
    ///
    /// # Safety
    ///
    /// The caller must let the returned [`SlotFuture`] be dropped: never leak it
    /// (`mem::forget`, `ManuallyDrop`, `Box::leak`, a reference cycle) while the slot goes on
    /// being used or is dropped. The handle pins the future in the slot's memory, and `Pin`
    /// promises that pinned memory is not reused or freed before the future's destructor has
    /// run; only the handle's `Drop` runs it. A leaked handle ends the borrow of the slot
    /// without dropping the future, and the next `place` (or dropping the slot) would then
    /// overwrite (or free) the memory of a pinned future that was never dropped: a future
    /// that registered its own address elsewhere (an intrusive waiter list, say) would be
    /// left dangling. The borrow checker cannot see a leak, so this is the caller's duty.
    // Always inlined into the envelope's handle: then the handler's future is built in the
    // slot, and a call per message is saved (out of line, it took 12% of w4 rt=ct; it was
    // left out of line when the control signals became envelopes).
    #[inline(always)]
    pub(crate) unsafe fn place<'a, T, F>(
        &'a mut self,
        make: impl FnOnce() -> F,
    ) -> SlotFuture<'a, T>
    where
        F: Future<Output = T> + Send + 'a,
    {
        if align_of::<F>() > BLOCK {
            // Rare (an alignment above 16): the future goes on the heap, and its box in the
            // slot, so every handle drops its future the same way and stays two words (a
            // `Poll` of it comes back in registers).
            // SAFETY: the caller's promise, passed on.
            return unsafe { self.place_inline(|| Box::pin(make())) };
        }
        // SAFETY: the caller's promise, passed on; the alignment was checked above.
        unsafe { self.place_inline(make) }
    }

    /// [`place`](Self::place) for a future of an alignment of at most 16.
    ///
    /// # Safety
    ///
    /// As for [`place`](Self::place), and `align_of::<F>() <= 16`.
    #[inline(always)]
    unsafe fn place_inline<'a, T, F>(&'a mut self, make: impl FnOnce() -> F) -> SlotFuture<'a, T>
    where
        F: Future<Output = T> + Send + 'a,
    {
        debug_assert!(align_of::<F>() <= BLOCK);
        let needed = size_of::<F>().div_ceil(BLOCK).max(1);
        if self.blocks.len() < needed {
            // Nothing lives in the slot now (`&mut self` proves no `SlotFuture` borrows it),
            // so the old buffer can go.
            self.blocks = vec![Block(MaybeUninit::uninit()); needed];
        }
        let ptr = self.blocks.as_mut_ptr().cast::<F>();
        // SAFETY: `blocks` holds at least `size_of::<F>()` bytes, its start is 16-byte
        // aligned and `align_of::<F>() <= 16` (the caller's promise), and the memory is not
        // in use (see above). Writing does not drop anything that was there: the previous
        // future was dropped in place by its `SlotFuture`.
        unsafe { ptr.write(make()) };
        let dyn_ptr: *mut (dyn Future<Output = T> + Send + 'a) = ptr;
        SlotFuture {
            // SAFETY: `ptr` comes from a Vec's buffer and is not null.
            ptr: unsafe { NonNull::new_unchecked(dyn_ptr) },
            _slot: PhantomData,
        }
    }

    /// Bytes of storage held (for tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.blocks.len() * BLOCK
    }
}

/// A future living in a [`FutureSlot`] (one of an alignment above 16 on the heap, its box in
/// the slot). Dropping it drops the future in place. It must never be leaked (see the safety
/// contract of [`FutureSlot::place`]): the slot would be reused while the future it pinned was
/// never dropped. Only the actor runner creates these, and it never leaks one.
pub(crate) struct SlotFuture<'a, T> {
    ptr: NonNull<dyn Future<Output = T> + Send + 'a>,
    _slot: PhantomData<&'a mut FutureSlot>,
}

// SAFETY: the pointee is `Send` (required by `place`), and the handle is its only owner, so
// moving the handle to another thread moves sole access to the future with it.
unsafe impl<T> Send for SlotFuture<'_, T> {}

impl<T> Future for SlotFuture<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: the future stays at `ptr` from `place` until `drop` below: the slot is
        // mutably borrowed for the handle's whole life, so it is neither moved nor reused.
        // So pinning it here is sound.
        let fut = unsafe { Pin::new_unchecked(&mut *self.ptr.as_ptr()) };
        fut.poll(cx)
    }
}

impl<T> Drop for SlotFuture<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the future was written at `ptr` by `place` and has not been dropped: this is
        // the one place that drops it, and it runs once.
        unsafe { std::ptr::drop_in_place(self.ptr.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct CountDrops(Arc<AtomicUsize>);
    impl Drop for CountDrops {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll_now<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn runs_and_drops_futures_of_every_size_and_alignment() {
        #[repr(align(64))]
        struct Aligned64([u8; 64]);
        let drops = Arc::new(AtomicUsize::new(0));
        let mut slot = FutureSlot::default();
        for size in [0usize, 1, 15, 16, 17, 100, 4096] {
            let guard = CountDrops(drops.clone());
            let data = vec![7u8; size];
            let big = [size as u8; 256];
            // SAFETY: `f` is dropped at the end of each iteration, before the next `place`.
            let mut f = unsafe {
                slot.place(|| async move {
                    let _g = guard;
                    std::future::ready(()).await;
                    data.len() + big[0] as usize
                })
            };
            assert_eq!(poll_now(&mut f), Poll::Ready(size + (size as u8) as usize));
        }
        assert_eq!(drops.load(Ordering::SeqCst), 7);
        let over = Aligned64([3; 64]);
        let guard = CountDrops(drops.clone());
        // SAFETY: `f` is dropped below, before the slot is used again.
        let mut f = unsafe {
            slot.place(|| async move {
                let _g = guard;
                over.0[63] as usize
            })
        };
        assert_eq!(poll_now(&mut f), Poll::Ready(3));
        drop(f);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            8,
            "the boxed future was dropped"
        );
        assert!(slot.capacity() >= 256);
        // One left pending is dropped, box and all, with its handle.
        let guard = CountDrops(drops.clone());
        let over = Aligned64([4; 64]);
        // SAFETY: `f` is dropped below, before the slot is used again.
        let mut f = unsafe {
            slot.place(|| async move {
                let _g = guard;
                std::future::pending::<()>().await;
                over.0[0]
            })
        };
        assert!(poll_now(&mut f).is_pending());
        drop(f);
        assert_eq!(drops.load(Ordering::SeqCst), 9);
    }

    #[test]
    fn a_handle_is_two_words() {
        assert_eq!(size_of::<SlotFuture<'_, u64>>(), 16);
    }

    #[test]
    fn a_future_dropped_before_completion_is_dropped_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut slot = FutureSlot::default();
        {
            let guard = CountDrops(drops.clone());
            // SAFETY: `f` is dropped at the end of this block, before the slot is reused.
            let mut f = unsafe {
                slot.place(|| async move {
                    let _g = guard;
                    std::future::pending::<()>().await;
                })
            };
            assert!(poll_now(&mut f).is_pending());
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // The slot is reusable after a cancelled future.
        // SAFETY: `f` is dropped at the end of the test.
        let mut f = unsafe { slot.place(|| async { 5 }) };
        assert_eq!(poll_now(&mut f), Poll::Ready(5));
    }

    #[test]
    fn self_referential_futures_stay_put() {
        // A future that borrows its own local across an await is self-referential; it must
        // not move between polls.
        let mut slot = FutureSlot::default();
        // SAFETY: `f` is dropped at the end of the test.
        let mut f = unsafe {
            slot.place(|| async {
                let local = [1u64, 2, 3, 4];
                let r = &local;
                tokio::task::yield_now().await;
                r.iter().sum::<u64>()
            })
        };
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = Pin::new(&mut f).poll(&mut cx) {
                assert_eq!(v, 10);
                break;
            }
        }
    }
}
