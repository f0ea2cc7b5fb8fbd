//! Typed topics: delivery order, one shared message, keys, wildcards, overflow policies with
//! exact drop counts, removal of dead subscribers, bus isolation. All on the virtual clock.

#[path = "../common/mod.rs"]
mod common;

mod allocations;
mod concurrent_publishers;
mod delivery;
mod matching;
mod overflow_policies;
mod publish_many;
mod restarted_subscribers;
mod subscriber;
mod subscriber_removal;

use std::time::Duration;

use mycelium::actors::TopicStream;
use mycelium::prelude::*;

/// Lets every runnable task run until all of them wait (the paused clock then jumps, so an
/// hour of bus time passes at once, without wall time).
async fn settle() {
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

fn drain<T: Send + Sync + 'static>(stream: &mut TopicStream<T>) -> Vec<Published<T>> {
    let mut out = Vec::new();
    while let Some(m) = stream.try_recv() {
        out.push(m);
    }
    out
}

fn values(msgs: &[Published<u64>]) -> Vec<u64> {
    msgs.iter().map(|m| **m).collect()
}
