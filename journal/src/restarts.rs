//! Restarting a replayed actor where the recording says its supervisor restarted it.
//!
//! A replayed actor whose journal holds `restarted` records is spawned under [`Restarts`], a
//! supervision link of the replay's own: when an incarnation fails, the actor waits in place
//! (its mailbox and ref intact, as under a supervisor), and its next recorded restart starts
//! it again at the bus time the recording gives (the `restarted` record's), so that what its
//! `on_start` sets up (timers, subscriptions) runs at the recorded time whatever backoff the
//! live supervisor used. It restarts the actor at most as many times as the recording did: a
//! changed actor that fails once more stops there, and the replay reports what it then
//! cannot handle.

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
}

fn next(times: &Mutex<VecDeque<Duration>>) -> Option<Duration> {
    times.lock().ok().and_then(|mut t| t.pop_front())
}

impl SupervisionLink for Restarts {
    fn child_ended(&self, _child: ActorId, _incarnation: u32, reason: StopReason) -> bool {
        // Only a failure was restarted live by this link's count: a normal end is the
        // replay's own draining (or the actor stopping itself), and stays an end.
        if !reason.is_failure() {
            return false;
        }
        let (Some(handle), Some(at)) = (self.handle.get().cloned(), next(&self.times)) else {
            return false;
        };
        let (times, zero) = (self.times.clone(), self.zero);
        tokio::spawn(async move {
            let mut at = at;
            loop {
                tokio::time::sleep_until(zero + at).await;
                let Some(outcome) = handle.restart() else {
                    return;
                };
                match outcome.await {
                    Ok(Err(failed)) => match next(&times) {
                        // A start that failed live too was followed by the next restart.
                        Some(then) => at = then,
                        None => {
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
