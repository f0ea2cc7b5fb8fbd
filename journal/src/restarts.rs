//! Restarting a replayed actor where the recording says its supervisor restarted it.
//!
//! A replayed actor whose journal holds `restarted` records is spawned under [`Restarts`], a
//! supervision link of the replay's own: when an incarnation fails, the actor waits in place
//! (its mailbox and ref intact, as under a supervisor), and its next recorded restart starts
//! it again at the bus time the recording gives (the `restarted` record's), so that what its
//! `on_start` sets up (timers, subscriptions) runs at the recorded time whatever backoff the
//! live supervisor used. It restarts the actor at most as many times as the recording did: a
//! changed actor that fails once more stops there, and the replay reports what it then
//! cannot handle. Once the replay stops the actor ([`Restarts::finish`]), a restart still to
//! come (the journal of a killed run may end right after a `restarted` record) is not made:
//! the actor waiting for it ends with its failure.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mycelium_actors::{ActorId, ChildHandle, StopReason, SupervisionLink};

use crate::record::{Kind, Record};

/// The replay's supervision link for one actor: its recorded restarts, in order.
pub(crate) struct Restarts {
    /// Bus times (since the replay's bus started) of the restarts still to come.
    times: Arc<Mutex<VecDeque<Duration>>>,
    /// The tokio instant of bus time zero on the replay's (virtual) clock.
    zero: tokio::time::Instant,
    handle: OnceLock<Arc<dyn ChildHandle>>,
    state: Arc<Mutex<State>>,
}

/// Where the link is between a failure and the restart that follows it.
#[derive(Default)]
struct State {
    /// The replay has stopped the actor: no more restarts.
    finished: bool,
    /// The failure of the incarnation waiting for its restart, if one is.
    waiting: Option<StopReason>,
}

impl Restarts {
    /// The link for an actor restarted live at bus times `times` (since its bus started),
    /// or `None` when it never was. `now` is the replay bus's current time.
    pub(crate) fn new(times: VecDeque<Duration>, now: Duration) -> Option<Arc<Self>> {
        (!times.is_empty()).then(|| {
            Arc::new(Restarts {
                times: Arc::new(Mutex::new(times)),
                zero: tokio::time::Instant::now() - now,
                handle: OnceLock::new(),
                state: Arc::default(),
            })
        })
    }

    /// The bus times of the restarts of the recorded actor number `actor` of `records`
    /// (node 0), in order.
    pub(crate) fn times<'a>(
        records: impl IntoIterator<Item = &'a Record>,
        actor: u64,
    ) -> VecDeque<Duration> {
        records
            .into_iter()
            .filter(|r| r.kind == Kind::Restarted && r.actor.node == 0 && r.actor.id == actor)
            .map(|r| Duration::from_nanos(r.time_ns))
            .collect()
    }

    /// The spawned actor this link restarts.
    pub(crate) fn attach(&self, handle: Arc<dyn ChildHandle>) {
        let _ = self.handle.set(handle);
    }

    /// The replay is about to stop the actor (call it before the stop signal): it is
    /// restarted no more, and an incarnation that
    /// failed and waits for its restart ends now, with its failure (a stop signal does not
    /// reach an actor between a failure and its supervisor's decision).
    pub(crate) fn finish(&self) {
        let waiting = {
            let mut state = lock(&self.state);
            state.finished = true;
            state.waiting.take()
        };
        if let (Some(failed), Some(handle)) = (waiting, self.handle.get()) {
            handle.terminate(failed);
        }
    }
}

fn next(times: &Mutex<VecDeque<Duration>>) -> Option<Duration> {
    times.lock().ok().and_then(|mut t| t.pop_front())
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks the actor as waiting for its restart after `failed`; `false` once the replay has
/// finished it (it is then not restarted).
fn wait(state: &Mutex<State>, failed: StopReason) -> bool {
    let mut state = lock(state);
    if state.finished {
        return false;
    }
    state.waiting = Some(failed);
    true
}

/// Restarts the actor waiting for it, unless the replay has finished it (and terminated it).
/// Under the lock, so that a [`Restarts::finish`] either comes first or sees the restart made
/// (and the replay's stop signal, sent after it, then reaches the new incarnation).
fn restart(
    state: &Mutex<State>,
    handle: &dyn ChildHandle,
) -> Option<tokio::sync::oneshot::Receiver<Result<(), StopReason>>> {
    let mut state = lock(state);
    state.waiting = None;
    if state.finished {
        return None;
    }
    handle.restart()
}

impl SupervisionLink for Restarts {
    fn child_ended(&self, _child: ActorId, _incarnation: u32, reason: StopReason) -> bool {
        // Only a failure was restarted live by this link's count: a normal end is the
        // replay's own draining (or the actor stopping itself), and stays an end.
        if !reason.is_failure() {
            return false;
        }
        let Some(handle) = self.handle.get().cloned() else {
            return false;
        };
        let Some(at) = next(&self.times) else {
            return false;
        };
        if !wait(&self.state, reason) {
            return false;
        }
        let (times, zero, state) = (self.times.clone(), self.zero, self.state.clone());
        tokio::spawn(async move {
            let mut at = at;
            loop {
                tokio::time::sleep_until(zero + at).await;
                let Some(outcome) = restart(&state, handle.as_ref()) else {
                    return;
                };
                match outcome.await {
                    Ok(Err(failed)) => match next(&times) {
                        // A start that failed live too was followed by the next restart.
                        Some(then) if wait(&state, failed.clone()) => at = then,
                        _ => {
                            handle.terminate(failed);
                            return;
                        }
                    },
                    _ => return,
                }
            }
        });
        true
    }

    fn child_exited(&self, _child: ActorId, _reason: StopReason) {}
}
