//! Allocations: a global allocator that counts them, and fan-out that does not allocate per
//! delivery.

use crate::common::*;
use crate::subscriber::{subscriber, Got, SubArgs};
use mycelium::prelude::*;

/// Counts the allocations made on the current thread while enabled.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    // SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
    // const-initialised thread-local `Cell`, which does not allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if ON.with(Cell::get) {
                COUNT.with(|c| c.set(c.get() + 1));
            }
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Allocations made on this thread while `f` runs.
    pub async fn allocations<F: std::future::Future>(f: F) -> u64 {
        COUNT.with(|c| c.set(0));
        ON.with(|on| on.set(true));
        f.await;
        ON.with(|on| on.set(false));
        COUNT.with(Cell::get)
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[tokio::test(start_paused = true)]
async fn fan_out_does_not_allocate_per_delivery() {
    let bus = virtual_bus(1);
    let mut subs = Vec::new();
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        subs.push(subscriber(&bus, SubArgs::new(name, "t", SubscribeOptions::new())).await);
    }
    let publisher = bus.publisher::<u64>("t").unwrap();
    const PUBLISHES: u64 = 500;
    let allocations = counting::allocations(async {
        for n in 0..PUBLISHES {
            assert_eq!(publisher.publish(n).await.delivered, 8);
        }
    })
    .await;
    // One allocation per publish (the shared message), plus the occasional growth of the
    // eight mailbox queues; one per delivery would be 4,000.
    assert!(
        allocations <= PUBLISHES + 8 * 16,
        "{allocations} allocations for {PUBLISHES} publishes to 8 subscribers"
    );
    for sub in &subs {
        assert_eq!(sub.ask(Got).await.unwrap().len() as u64, PUBLISHES);
    }
}
