//! The calls a [`SupervisorRef`](crate::SupervisorRef) makes: adding, stopping, restarting,
//! deleting and listing children.

use std::sync::Arc;

use mycelium_actors::{ActorId, ChildHandle, Context, Handler};

use super::{
    AddChild, CountChildren, DeleteChild, RemoveChild, RestartChild, StopChild, Supervisor,
    WhichChildren,
};
use crate::event::SupervisionEvent;
use crate::policy::{Action, State};
use crate::supervisor_ref::{ChildCount, ChildInfo, ChildState};
use crate::SupervisorError;

impl Handler<AddChild> for Supervisor {
    type Reply = Result<Arc<dyn ChildHandle>, SupervisorError>;
    async fn handle(&mut self, msg: AddChild, ctx: &mut Context<Self>) -> Self::Reply {
        let mut spec = msg.spec;
        if msg.pooled {
            self.pool_seq += 1;
            if let Some(pool) = &self.config.pool {
                spec.name = Arc::from(format!("{}-{}", pool.prefix, self.pool_seq));
                spec.restart = pool.restart;
                spec.shutdown = pool.shutdown;
            }
        }
        spec.validate(self.config.auto_shutdown)?;
        if self.policy.index(spec.name()).is_some() {
            return Err(SupervisorError::AlreadyPresent(spec.name().to_string()));
        }
        let (handle, sub) = self.start_new(&spec, ctx).await?;
        self.emit(SupervisionEvent::Started {
            at: ctx.now(),
            supervisor: ctx.id(),
            child: spec.name.clone(),
            id: handle.id(),
        });
        self.add_started(spec, handle.clone(), sub, ctx);
        self.publish();
        Ok(handle)
    }
}

impl Supervisor {
    async fn stop_by_operator(
        &mut self,
        name: &str,
        remove: bool,
        ctx: &mut Context<Self>,
    ) -> Result<(), SupervisorError> {
        let was_running = matches!(self.policy.state(name), Some(State::Running { .. }));
        let actions = if remove {
            self.policy.remove_child(name)?
        } else {
            self.policy.stop_child(name)?
        };
        for action in actions {
            match action {
                Action::Stop(n) => self.stop_for_good(&n, was_running, ctx).await,
                Action::Forget(n) => self.forget(&n),
                _ => {}
            }
        }
        self.publish();
        self.schedule(ctx);
        Ok(())
    }
}

impl Handler<StopChild> for Supervisor {
    type Reply = Result<(), SupervisorError>;
    async fn handle(&mut self, StopChild(name): StopChild, ctx: &mut Context<Self>) -> Self::Reply {
        self.stop_by_operator(&name, false, ctx).await
    }
}

impl Handler<RemoveChild> for Supervisor {
    type Reply = Result<(), SupervisorError>;
    async fn handle(
        &mut self,
        RemoveChild(name): RemoveChild,
        ctx: &mut Context<Self>,
    ) -> Self::Reply {
        self.stop_by_operator(&name, true, ctx).await
    }
}

impl Handler<RestartChild> for Supervisor {
    type Reply = Result<ActorId, SupervisorError>;
    async fn handle(
        &mut self,
        RestartChild(name): RestartChild,
        ctx: &mut Context<Self>,
    ) -> Self::Reply {
        self.policy.check_restart(&name)?;
        let Some(spec) = self.slot(&name).map(|s| s.spec.clone()) else {
            return Err(SupervisorError::NotFound(name));
        };
        let (handle, sub) = self.start_new(&spec, ctx).await?;
        let id = handle.id();
        if let Some(slot) = self.slot_mut(&name) {
            slot.handle = Some(handle);
            slot.incarnation = 0;
            slot.sub = sub;
        }
        self.policy.started(&name, ctx.now());
        self.emit(SupervisionEvent::Started {
            at: ctx.now(),
            supervisor: ctx.id(),
            child: spec.name.clone(),
            id,
        });
        self.publish();
        Ok(id)
    }
}

impl Handler<DeleteChild> for Supervisor {
    type Reply = Result<(), SupervisorError>;
    async fn handle(
        &mut self,
        DeleteChild(name): DeleteChild,
        ctx: &mut Context<Self>,
    ) -> Self::Reply {
        let actions = self.policy.delete_child(&name)?;
        self.act(actions, None, ctx).await;
        Ok(())
    }
}

impl Handler<WhichChildren> for Supervisor {
    type Reply = Vec<ChildInfo>;
    async fn handle(&mut self, _: WhichChildren, _ctx: &mut Context<Self>) -> Vec<ChildInfo> {
        self.info()
    }
}

impl mycelium_actors::Reply for ChildCount {}

impl Handler<CountChildren> for Supervisor {
    type Reply = ChildCount;
    async fn handle(&mut self, _: CountChildren, _ctx: &mut Context<Self>) -> ChildCount {
        let mut count = ChildCount::default();
        for info in self.info() {
            count.specs += 1;
            if matches!(info.state, ChildState::Running(_)) {
                count.active += 1;
            }
            if info.supervisor {
                count.supervisors += 1;
            } else {
                count.workers += 1;
            }
        }
        count
    }
}
