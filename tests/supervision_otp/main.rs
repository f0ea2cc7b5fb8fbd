//! Supervision as OTP users expect it: orphans, bad specs, start failures, restart groups,
//! the intensity window, kept reasons, admin calls, auto-shutdown, pools, watches and
//! linked children. All on the virtual clock.

#[path = "../common/mod.rs"]
mod common;

mod admin_calls;
mod flaky;
mod nested_supervisors;
mod pools;
mod restart_groups;
mod restart_limits;
mod restart_loop;
mod shutdown;
mod spawn_failures;
mod stop_reasons;
mod watches_and_links;

use std::time::Duration;

use common::event_channel;
use mycelium::supervisor::SupervisionEvent;
use tokio::sync::mpsc;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn events() -> (
    impl Fn(&SupervisionEvent) + Send + Sync + 'static,
    mpsc::UnboundedReceiver<SupervisionEvent>,
) {
    event_channel()
}

fn drain(rx: &mut mpsc::UnboundedReceiver<SupervisionEvent>) -> Vec<SupervisionEvent> {
    let mut all = Vec::new();
    while let Ok(e) = rx.try_recv() {
        all.push(e);
    }
    all
}
