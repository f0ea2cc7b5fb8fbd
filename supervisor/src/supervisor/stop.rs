//! Stopping children: suspended for a restart, stopped for good, all of them at the
//! supervisor's end, and giving up.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{ChildHandle, Context, Failure, StopReason};

use super::Supervisor;
use crate::event::SupervisionEvent;
use crate::shutdown::{kill_tree, stop_task};
use crate::Shutdown;

impl Supervisor {
    /// Ends a running child's incarnation for a group restart, by its shutdown; a child that
    /// does not make it is killed with its subtree (and spawned anew later).
    pub(super) async fn suspend(&mut self, name: &str, ctx: &mut Context<Self>) {
        let Some(slot) = self.slot(name) else { return };
        let Some(handle) = slot.handle.clone() else {
            return;
        };
        let sub = slot.sub.clone();
        let shutdown = slot.spec.shutdown;
        // An `Immediate` child is killed without being asked first: a suspension queued
        // before the kill could still run its `on_stop` (on another worker, say).
        let acked = match shutdown {
            Shutdown::Immediate => false,
            Shutdown::Timeout(d) => match handle.suspend() {
                Some(rx) => matches!(ctx.clock().within(d, rx).await, Some(Ok(()))),
                None => false,
            },
            Shutdown::Infinity => match handle.suspend() {
                Some(rx) => rx.await.is_ok(),
                None => false,
            },
        };
        if !acked {
            kill_tree(&handle, sub.as_ref()).await;
        }
    }

    /// Stops a child's task for good, by its shutdown, and reports how it ended.
    pub(super) async fn stop_for_good(
        &mut self,
        name: &str,
        was_running: bool,
        ctx: &mut Context<Self>,
    ) {
        let Some(slot) = self.slot(name) else { return };
        let Some(handle) = slot.handle.clone() else {
            return;
        };
        let reason = stop_task(&handle, slot.sub.as_ref(), slot.spec.shutdown, ctx.clock()).await;
        self.report_stop(name, &handle, reason, was_running, ctx);
    }

    fn report_stop(
        &self,
        name: &str,
        handle: &Arc<dyn ChildHandle>,
        reason: StopReason,
        was_running: bool,
        ctx: &Context<Self>,
    ) {
        let child: Arc<str> = Arc::from(name);
        if was_running && reason.is_failure() {
            // It crashed while being stopped: its own failure, reported as such.
            self.emit(SupervisionEvent::Failed {
                at: ctx.now(),
                supervisor: ctx.id(),
                child: child.clone(),
                id: handle.id(),
                reason: reason.clone(),
            });
        }
        self.emit(SupervisionEvent::Stopped {
            at: ctx.now(),
            supervisor: ctx.id(),
            child,
            id: handle.id(),
            reason,
        });
    }

    /// Stops every child in reverse start order (a pool's in parallel), each by its
    /// shutdown; returns once all are down.
    pub(super) async fn stop_all(&mut self, ctx: &mut Context<Self>) {
        self.link.stopping.store(true, Ordering::Release);
        if let Some((_, timer)) = self.wake.take() {
            timer.cancel();
        }
        let stopping = self.policy.shut_down();
        if self.config.pool.is_some() {
            let clock = ctx.clock().clone();
            let begun = clock.now();
            let mut waiting = Vec::new();
            for (name, was_running) in &stopping {
                let Some(slot) = self.slot(name) else {
                    continue;
                };
                let Some(handle) = slot.handle.clone() else {
                    continue;
                };
                match slot.spec.shutdown {
                    Shutdown::Immediate => handle.kill(),
                    _ => {
                        handle.terminate(StopReason::Shutdown);
                    }
                }
                waiting.push((name.clone(), handle, slot.spec.shutdown, *was_running));
            }
            for (name, handle, shutdown, was_running) in waiting {
                if let Shutdown::Timeout(d) = shutdown {
                    // A deadline past what bus time can hold (`Duration::MAX`) never comes.
                    let left = match begun.checked_add(d) {
                        Some(deadline) => deadline.saturating_sub(clock.now()),
                        None => Duration::MAX,
                    };
                    if clock.within(left, handle.wait_for_stop()).await.is_none() {
                        handle.kill();
                    }
                }
                let reason = handle.wait_for_stop().await;
                self.report_stop(&name, &handle, reason, was_running, ctx);
            }
        } else {
            for (name, was_running) in stopping {
                self.stop_for_good(&name, was_running, ctx).await;
            }
        }
        self.slots.clear();
        self.config.directory.lock().entries.clear();
    }

    /// Intensity exceeded: stop every child, then fail to the parent (or the bus).
    pub(super) async fn give_up(&mut self, why: String, ctx: &mut Context<Self>) {
        let reason: Arc<str> = Arc::from(why);
        self.emit(SupervisionEvent::GaveUp {
            at: ctx.now(),
            supervisor: ctx.id(),
            reason: reason.clone(),
        });
        self.stop_all(ctx).await;
        let to_bus = self.config.root;
        self.emit(SupervisionEvent::Escalated {
            at: ctx.now(),
            supervisor: ctx.id(),
            reason: reason.clone(),
            to_bus,
        });
        if to_bus {
            ctx.bus().fail(format!(
                "the root supervisor {} gave up: {reason}",
                ctx.id()
            ));
        }
        ctx.fail(Failure::escalated(reason.to_string()));
    }
}
