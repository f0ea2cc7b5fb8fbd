//! The per-bus export table: (service, type id, bytes) in, a typed send to a local actor, an
//! ask whose reply goes back as bytes, or a publish on this bus.

mod bad_requests;
mod failed_deliveries;
mod registrations;
mod round_trips;
mod topic_exports;
mod venue;

use mycelium::prelude::*;

/// Counts the allocations made on the current thread while enabled.
#[path = "../common/counting_alloc.rs"]
mod counting;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

fn virtual_bus() -> Bus {
    Bus::builder().virtual_time().seed(3).build().unwrap()
}
