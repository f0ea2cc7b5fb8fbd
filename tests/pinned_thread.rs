//! A pinned actor whose thread cannot be created: the spawn fails with
//! `SpawnError::Thread` and the actor is gone, without a panic (dropping the runtime made
//! for the thread inside an async context used to panic).
//!
//! Its own binary, without the test harness (`harness = false`): thread creation is made to
//! fail for the whole process, by asking every new thread for a stack larger than the
//! address space, and the harness needs a thread per test.

mod common;

use common::*;
use mycelium::actors::{SpawnError, SpawnOptions};
use mycelium::prelude::*;

#[cfg(target_pointer_width = "64")]
fn main() {
    // Read once, at the first thread spawn: nothing has spawned a thread yet.
    std::env::set_var("RUST_MIN_STACK", (1usize << 60).to_string());
    assert!(
        std::thread::Builder::new().spawn(|| {}).is_err(),
        "a thread was created with a 2^60-byte stack"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bus = Bus::new();
        let log = Log::default();
        let spawned =
            bus.spawn_with::<Probe>(ProbeArgs::new("p", &log), SpawnOptions::new().pinned());
        match spawned {
            Err(SpawnError::Thread(why)) => assert!(!why.is_empty()),
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("a pinned actor spawned without a thread"),
        }
        assert_eq!(bus.actor_count(), 0);
        assert!(log.take().is_empty(), "on_start never ran");
        // The bus still spawns actors on its own runtime.
        let other = bus.spawn::<Probe>(ProbeArgs::new("q", &log));
        other.ask(Seen).await.unwrap();
        assert_eq!(log.take(), ["start q"]);
    });
    println!("test a_pinned_actor_without_a_thread_is_refused ... ok");
}

#[cfg(not(target_pointer_width = "64"))]
fn main() {}
