//! The gate of a foreign actor: direct calls on the caller's thread, in order with the
//! mailbox, one handler at a time, and failures that are failures.

mod ask_timeouts;
mod direct_calls;
mod hibernation;
mod kills;
mod logging;
mod released_callbacks;

fn runtime() -> tokio::runtime::Runtime {
    runtime_of(2)
}

fn runtime_of(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime")
}
