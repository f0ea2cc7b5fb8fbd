//! A dynamic pool (OTP's `simple_one_for_one`): one template, children started at run time
//! with their own arguments.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Actor, ActorRef, Bus, SpawnError};

use crate::builder::PoolTemplate;
use crate::{
    Backoff, ChildCount, ChildInfo, ChildSpec, Restart, RestartStrategy, Shutdown,
    SupervisionEvent, Supervisor, SupervisorBuilder, SupervisorError, SupervisorRef,
};

/// Builds a dynamic pool of `A` actors: a one_for_one supervisor with one template and no
/// declared children. Each [`PoolRef::start_child`] starts an `A` from its own arguments;
/// a restart reuses them. Children are named `{name}-1`, `{name}-2`, ... in start order; a
/// child that is not restarted is forgotten. On shutdown all children are asked to stop at
/// once (in parallel) and waited for by their shutdown.
///
/// ```
/// use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
/// use mycelium_supervisor::{Pool, Restart};
///
/// struct Session { venue: String }
/// impl Actor for Session {
///     type Args = String;
///     async fn on_start(venue: String, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
///         Ok(Session { venue })
///     }
/// }
/// struct Venue;
/// impl Handler<Venue> for Session {
///     type Reply = String;
///     async fn handle(&mut self, _: Venue, _ctx: &mut Context<Self>) -> String { self.venue.clone() }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let bus = Bus::builder().virtual_time().build().unwrap();
/// let pool = Pool::<Session>::builder("session").restart(Restart::Transient).spawn(&bus).await.unwrap();
/// let xnas = pool.start_child("XNAS".to_string()).await.unwrap();
/// let xlon = pool.start_child("XLON".to_string()).await.unwrap();
/// assert_eq!(xlon.ask(Venue).await.unwrap(), "XLON");
/// assert_eq!(pool.children().len(), 2);
/// pool.supervisor().stop().await;
/// assert!(!xnas.is_alive());
/// # });
/// ```
pub struct Pool<A: Actor>(PhantomData<fn() -> A>);

impl<A: Actor> Pool<A> {
    /// A pool whose children are named `{name}-{n}`.
    pub fn builder(name: impl Into<String>) -> PoolBuilder<A> {
        let mut inner = Supervisor::builder(RestartStrategy::OneForOne);
        inner.config.pool = Some(PoolTemplate {
            prefix: Arc::from(name.into()),
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(Duration::from_secs(5)),
        });
        PoolBuilder {
            inner,
            _actor: PhantomData,
        }
    }
}

/// Builds a [`Pool`]: the template's restart type and shutdown, and the supervisor's
/// intensity, backoff and observer.
pub struct PoolBuilder<A: Actor> {
    inner: SupervisorBuilder,
    _actor: PhantomData<fn() -> A>,
}

impl<A: Actor> Clone for PoolBuilder<A> {
    fn clone(&self) -> Self {
        PoolBuilder {
            inner: self.inner.clone(),
            _actor: PhantomData,
        }
    }
}

impl<A: Actor> PoolBuilder<A> {
    fn template(&mut self) -> &mut PoolTemplate {
        self.inner.config.pool.get_or_insert_with(|| PoolTemplate {
            prefix: Arc::from("child"),
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(Duration::from_secs(5)),
        })
    }

    /// The children's restart type (default `Permanent`).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.template().restart = restart;
        self
    }

    /// The children's shutdown (default 5 s).
    pub fn shutdown(mut self, shutdown: impl Into<Shutdown>) -> Self {
        self.template().shutdown = shutdown.into();
        self
    }

    /// See [`SupervisorBuilder::intensity`].
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.inner = self.inner.intensity(max_restarts, within);
        self
    }

    /// See [`SupervisorBuilder::backoff`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.inner = self.inner.backoff(backoff);
        self
    }

    /// See [`SupervisorBuilder::on_event`].
    pub fn on_event(
        mut self,
        observer: impl Fn(&SupervisionEvent) + Send + Sync + 'static,
    ) -> Self {
        self.inner = self.inner.on_event(observer);
        self
    }

    /// This pool as a supervisor builder, to nest it with [`ChildSpec::supervisor`]; reach
    /// it then with [`PoolRef::of`].
    pub fn into_supervisor(self) -> SupervisorBuilder {
        self.inner
    }

    /// Spawns the pool as the root of a tree on `bus` (see [`SupervisorBuilder::spawn`]).
    pub async fn spawn(self, bus: &Bus) -> Result<PoolRef<A>, SpawnError> {
        Ok(PoolRef::of(self.inner.spawn(bus).await?))
    }
}

/// A handle on a running pool of `A` actors.
pub struct PoolRef<A: Actor> {
    sup: SupervisorRef,
    _actor: PhantomData<fn() -> A>,
}

impl<A: Actor> Clone for PoolRef<A> {
    fn clone(&self) -> Self {
        PoolRef {
            sup: self.sup.clone(),
            _actor: PhantomData,
        }
    }
}

impl<A: Actor> PoolRef<A> {
    /// The pool behind a supervisor ref (for a pool nested with
    /// [`PoolBuilder::into_supervisor`]).
    pub fn of(sup: SupervisorRef) -> Self {
        PoolRef {
            sup,
            _actor: PhantomData,
        }
    }

    /// Starts a child from `args` and waits for its `on_start`. A failed start returns the
    /// error ([`SpawnError::StartFailed`]) and keeps nothing.
    pub async fn start_child(&self, args: A::Args) -> Result<ActorRef<A>, SupervisorError> {
        let template = ChildSpec::new::<A>("pooled", args);
        let handle = self.sup.add_pooled(template).await?;
        ActorRef::from_handle(&handle).ok_or(SupervisorError::Stopped)
    }

    /// The running children, in start order.
    pub fn children(&self) -> Vec<ActorRef<A>> {
        self.sup
            .children()
            .iter()
            .filter_map(|(name, _)| self.sup.child::<A>(name))
            .collect()
    }

    /// Stops a child for good and forgets it, whether it runs or waits for a restart (a
    /// child in its restart loop keeps its ref, and stopping it cancels the planned
    /// restart, as OTP's `terminate_child` does). `NotFound` once the pool has forgotten it,
    /// or when the ref is of an incarnation the pool has since spawned anew (after a kill).
    pub async fn stop_child(&self, child: &ActorRef<A>) -> Result<(), SupervisorError> {
        let name = self
            .sup
            .name_of(child.id())
            .ok_or_else(|| SupervisorError::NotFound(child.id().to_string()))?;
        self.sup.remove_child(&name).await
    }

    /// See [`SupervisorRef::which_children`].
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        self.sup.which_children().await
    }

    /// See [`SupervisorRef::count_children`].
    pub async fn count_children(&self) -> Result<ChildCount, SupervisorError> {
        self.sup.count_children().await
    }

    /// The pool's supervisor (to stop it, wait for it, or watch it).
    pub fn supervisor(&self) -> &SupervisorRef {
        &self.sup
    }
}
