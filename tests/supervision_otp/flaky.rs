//! The `Flaky` test actor: it fails to start while told to, and crashes, hangs or answers
//! on request.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::common::{Crash, Hang, Log};
use mycelium::actors::StopReason;
use mycelium::prelude::*;

/// Starts (logging `start NAME`) unless `failures` is above zero, in which case it counts
/// it down and fails with "db down".
#[derive(Clone)]
pub(crate) struct FlakyArgs {
    name: &'static str,
    log: Log,
    pub(crate) failures: Arc<AtomicU32>,
}

impl FlakyArgs {
    pub(crate) fn new(name: &'static str, log: &Log) -> Self {
        FlakyArgs {
            name,
            log: log.clone(),
            failures: Arc::new(AtomicU32::new(0)),
        }
    }
    pub(crate) fn broken(name: &'static str, log: &Log) -> Self {
        let args = Self::new(name, log);
        args.failures.store(u32::MAX, Ordering::SeqCst);
        args
    }
}

pub(crate) struct Flaky {
    name: &'static str,
    log: Log,
}

impl Actor for Flaky {
    type Args = FlakyArgs;
    async fn on_start(args: FlakyArgs, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let left = args.failures.load(Ordering::SeqCst);
        if left > 0 {
            args.failures.store(left - 1, Ordering::SeqCst);
            args.log.push(format!("fail {}", args.name));
            return Err("db down".into());
        }
        args.log.push(format!("start {}", args.name));
        Ok(Flaky {
            name: args.name,
            log: args.log,
        })
    }
    async fn on_stop(&mut self, _ctx: &mut Context<Self>, _reason: &StopReason) {
        self.log.push(format!("stop {}", self.name));
    }
}

impl Handler<Crash> for Flaky {
    type Reply = ();
    async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
        panic!("crash requested");
    }
}

/// Answers at once.
pub(crate) struct Ping;
impl Handler<Ping> for Flaky {
    type Reply = ();
    async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self>) {}
}

impl Handler<Hang> for Flaky {
    type Reply = ();
    async fn handle(&mut self, _: Hang, _ctx: &mut Context<Self>) {
        std::future::pending::<()>().await;
    }
}
