//! Encoding into a buffer that already has the capacity allocates nothing; decoding a
//! message made only of fixed-width fields allocates nothing either.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mycelium_codec::{decode_message, encode_frame, DEFAULT_MAX_FRAME};
use mycelium_contracts::{NewOrder, OrderType, Quote, Side, TimeInForce};

/// Counts the allocations of each thread: the test harness's own thread allocates while a
/// test runs (it prints the test's name), and a global count saw those too.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to the system allocator with the caller's arguments
// unchanged; the thread-local counter (a const-initialised `Cell`, which does not allocate)
// is the only addition and does not touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` came from this allocator with `layout`; forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations this thread made while `f` ran.
fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn quote() -> Quote {
    Quote {
        ts_ns: 1_700_000_000_123_456_789,
        instrument: 7,
        bid_px: 101.25,
        bid_qty: 5.0,
        ask_px: 101.5,
        ask_qty: 2.0,
    }
}

#[test]
fn hot_paths_do_not_allocate() {
    let q = quote();
    let mut buf = Vec::with_capacity(256);
    // 32-byte header + 56-byte body (five 10-byte 8-byte fields, one 6-byte u32 field).
    let n = allocations_during(|| {
        for seq in 0..1000 {
            buf.clear();
            encode_frame(&q, seq, seq, &mut buf);
        }
    });
    assert_eq!(n, 0, "encoding a Quote allocated {n} times");
    assert_eq!(buf.len(), 32 + 56);

    let mut decoded = None;
    let n = allocations_during(|| {
        decoded = Some(decode_message::<Quote>(&buf, DEFAULT_MAX_FRAME));
    });
    assert_eq!(n, 0, "decoding a Quote allocated {n} times");
    assert_eq!(decoded.map(|r| r.map(|(_, q)| q)), Some(Ok(q)));

    let order = NewOrder {
        client_order_id: 1,
        instrument: 7,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Ioc,
        price: Some(101.0),
        stop_price: None,
        qty: 3.0,
        account: "ACC-1".to_string(),
        post_only: false,
        strategy_tag: *b"mm-v2\0\0\0",
        ts_ns: 9,
    };
    let n = allocations_during(|| {
        buf.clear();
        encode_frame(&order, 1, 1, &mut buf);
    });
    assert_eq!(n, 0, "encoding a NewOrder allocated {n} times");
}
