//! Starting children: a child's spawn options, its first start, and a restart in place.

use std::sync::Arc;

use mycelium_actors::{ActorId, ChildHandle, Context, SpawnError, SpawnOptions, StopReason};
use tokio::sync::oneshot;

use super::{StartError, Supervisor};
use crate::child_spec::{ChildKind, ChildSpec};
use crate::directory::Directory;

impl Supervisor {
    fn spawn_options(&self, spec: &ChildSpec) -> SpawnOptions {
        let mut options = SpawnOptions::new().supervised_by(self.link.clone());
        if let Some(mailbox) = spec.mailbox {
            options = options.mailbox(mailbox);
        }
        if spec.pinned {
            options = options.pinned();
        }
        if spec.hibernate {
            options = options.hibernate();
        }
        if spec.register {
            options = options.name(spec.name.to_string());
        }
        if let Some(recorder) = &spec.record {
            options = options.record(recorder.clone());
        }
        options
    }

    /// Spawns a new task for `spec` and waits for its first `on_start`. On a start failure
    /// the task is returned too: it waits for a decision.
    async fn spawn_spec(
        &self,
        spec: &ChildSpec,
        ctx: &mut Context<Self>,
    ) -> (
        Option<(Arc<dyn ChildHandle>, Option<Directory>)>,
        Result<(), StartError>,
    ) {
        let (started, rx) = oneshot::channel();
        let options = self.spawn_options(spec).on_start_outcome(started);
        let spawned = match &spec.kind {
            ChildKind::Worker(start) => start(ctx.bus(), options).map(|h| (h, None)),
            ChildKind::Supervisor(config) => {
                let mut config = (**config).clone();
                config.root = false;
                // A directory of its own for each task: two children from one builder (or a
                // child and a root) share nothing. A restart in place keeps the task's.
                config.directory = Directory::default();
                if config.observer.is_none() {
                    config.observer = self.config.observer.clone();
                }
                let dir = config.directory.clone();
                ctx.bus()
                    .spawn_with::<Supervisor>(config, options)
                    .map(|r| (r.handle(), Some(dir)))
            }
        };
        match spawned {
            Err(e) => (None, Err(StartError::Spawn(e))),
            Ok(task) => {
                let outcome = rx.await.unwrap_or(Err(StopReason::Killed));
                (Some(task), outcome.map_err(StartError::Failed))
            }
        }
    }

    /// Starts a child that has no task yet (initial start, `add_child`, `restart_child`).
    /// On failure its task is stopped and nothing is kept.
    pub(super) async fn start_new(
        &mut self,
        spec: &ChildSpec,
        ctx: &mut Context<Self>,
    ) -> Result<(Arc<dyn ChildHandle>, Option<Directory>), SpawnError> {
        match self.spawn_spec(spec, ctx).await {
            (Some(task), Ok(())) => Ok(task),
            (task, Err(e)) => {
                if let Some((handle, _)) = task {
                    handle.terminate(StopReason::Shutdown);
                    handle.wait_for_stop().await;
                }
                Err(e.into_spawn_error(spec.name()))
            }
            (None, Ok(())) => Err(SpawnError::BusStopped),
        }
    }

    /// Starts a new incarnation of a child waiting for a restart: in place when its task
    /// waits, spawned anew when its task is gone (it was killed).
    pub(super) async fn restart_slot(
        &mut self,
        name: &str,
        ctx: &mut Context<Self>,
    ) -> Result<ActorId, StartError> {
        let Some(slot) = self.slot(name) else {
            return Err(StartError::Spawn(SpawnError::BusStopped));
        };
        if let Some(handle) = slot.handle.clone() {
            if handle.stop_reason().is_none() {
                if let Some(rx) = handle.restart() {
                    if let Some(slot) = self.slot_mut(name) {
                        slot.incarnation = slot.incarnation.saturating_add(1);
                    }
                    return match rx.await {
                        Ok(Ok(())) => Ok(handle.id()),
                        Ok(Err(reason)) => Err(StartError::Failed(reason)),
                        Err(_) => Err(StartError::Failed(
                            handle.stop_reason().unwrap_or(StopReason::Killed),
                        )),
                    };
                }
            }
        }
        let spec = slot.spec.clone();
        let (task, outcome) = self.spawn_spec(&spec, ctx).await;
        if let Some((handle, sub)) = task {
            let id = handle.id();
            if let Some(slot) = self.slot_mut(name) {
                slot.handle = Some(handle);
                slot.incarnation = 0;
                slot.sub = sub;
            }
            outcome.map(|()| id)
        } else {
            match outcome {
                Err(e) => Err(e),
                Ok(()) => Err(StartError::Spawn(SpawnError::BusStopped)),
            }
        }
    }
}
