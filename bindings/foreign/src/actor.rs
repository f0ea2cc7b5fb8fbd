//! [`ForeignActor`]: the dynamic actor that runs a language's callbacks.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use mycelium_actors::{Actor, BoxError, Context, Handler, Reply, StopReason};
use tokio::sync::oneshot;

use crate::{Foreign, ForeignMessage, ForeignRef};

/// Where the first start reports how it went (taken by it; restarts find it empty).
type FirstStart = Arc<Mutex<Option<oneshot::Sender<Result<(), String>>>>>;

/// What a foreign actor is started with: its callbacks and their arguments. A supervisor
/// keeps it in the child spec and starts every incarnation from a clone, so a restart re-runs
/// [`Foreign::start`] with the same arguments.
pub struct ForeignSpec<F: Foreign> {
    foreign: Arc<F>,
    args: F::Args,
    /// Told how the first start went (taken by it; restarts find it empty).
    first_start: Option<FirstStart>,
}

impl<F: Foreign> ForeignSpec<F> {
    /// Callbacks and their arguments.
    pub fn new(foreign: Arc<F>, args: F::Args) -> Self {
        ForeignSpec {
            foreign,
            args,
            first_start: None,
        }
    }

    /// Like [`new`](Self::new), and reports how the first start went to `report`.
    pub(crate) fn reporting(
        foreign: Arc<F>,
        args: F::Args,
        report: oneshot::Sender<Result<(), String>>,
    ) -> Self {
        ForeignSpec {
            foreign,
            args,
            first_start: Some(Arc::new(Mutex::new(Some(report)))),
        }
    }
}

impl<F: Foreign> Clone for ForeignSpec<F> {
    fn clone(&self) -> Self {
        ForeignSpec {
            foreign: self.foreign.clone(),
            args: self.args.clone(),
            first_start: self.first_start.clone(),
        }
    }
}

/// An actor whose state and handlers live in another language. It takes every message as a
/// [`ForeignMessage`] and hands it to [`Foreign::handle`] on the bus runtime's blocking pool.
pub struct ForeignActor<F: Foreign> {
    foreign: Arc<F>,
    /// `None` only between a stop and the drop, or after a callback thread was lost.
    state: Option<F::State>,
}

/// The reply of a foreign handler: the reply message of an ask, if the handler gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignReply(pub Option<ForeignMessage>);

impl Reply for ForeignReply {}

/// The text of a caught panic payload.
pub(crate) fn panic_text(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a callback panicked with a non-string payload".to_string()
    }
}

/// Runs `f` on the runtime's blocking pool: off the workers that Rust actors need, and (on a
/// virtual-time bus) with the clock held still until it returns.
async fn on_host<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(move || catch_unwind(AssertUnwindSafe(f))).await {
        Ok(Ok(result)) => result,
        Ok(Err(payload)) => Err(panic_text(payload)),
        Err(join) => Err(format!("the callback thread was lost: {join}")),
    }
}

/// Fails the current handler the way a Rust panic does (the runner catches it: dead letter,
/// `AskError::Failed` for an asker, the supervisor's restart). `resume_unwind` skips the
/// panic hook: a foreign exception is reported through the failure, not printed twice.
fn fail(reason: String) -> ! {
    std::panic::resume_unwind(Box::new(reason))
}

impl<F: Foreign> Actor for ForeignActor<F> {
    type Args = ForeignSpec<F>;

    async fn on_start(spec: ForeignSpec<F>, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let me = ForeignRef::new(ctx.actor_ref().clone());
        let foreign = spec.foreign.clone();
        let report = spec
            .first_start
            .as_ref()
            .and_then(|r| r.lock().unwrap_or_else(|e| e.into_inner()).take());
        let started = on_host(move || spec.foreign.start(&spec.args, &me)).await;
        if let Some(report) = report {
            let _ = report.send(started.as_ref().map(|_| ()).map_err(|e| e.clone()));
        }
        let state = started?;
        Ok(ForeignActor {
            foreign,
            state: Some(state),
        })
    }

    async fn on_stop(&mut self, _ctx: &mut Context<Self>, reason: &StopReason) {
        if let Some(state) = self.state.take() {
            let foreign = self.foreign.clone();
            let reason = reason.clone();
            // A failing stop callback changes nothing: the incarnation is over either way.
            let _ = on_host(move || {
                foreign.stop(state, &reason);
                Ok(())
            })
            .await;
        }
    }

    fn type_name() -> &'static str {
        "ForeignActor"
    }
}

impl<F: Foreign> Handler<ForeignMessage> for ForeignActor<F> {
    type Reply = ForeignReply;

    async fn handle(&mut self, msg: ForeignMessage, _ctx: &mut Context<Self>) -> ForeignReply {
        let Some(mut state) = self.state.take() else {
            fail("the actor's state was lost with a callback thread; it must restart".into())
        };
        let foreign = self.foreign.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let result = catch_unwind(AssertUnwindSafe(|| foreign.handle(&mut state, msg)));
            (state, result)
        })
        .await;
        match joined {
            Ok((state, result)) => {
                self.state = Some(state);
                match result {
                    Ok(Ok(reply)) => ForeignReply(reply),
                    Ok(Err(error)) => fail(error),
                    Err(payload) => fail(panic_text(payload)),
                }
            }
            Err(join) => fail(format!("the callback thread was lost: {join}")),
        }
    }
}

impl<F: Foreign> Drop for ForeignActor<F> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            self.foreign.abandon(state);
        }
    }
}
