//! `SupervisorRef`: a handle on a running supervisor, and what it reports about children.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use mycelium_actors::{
    Actor, ActorId, ActorRef, ChildHandle, Clock, Handler, Recipient, ReplyRecipient, StopReason,
};

use crate::child_address::ChildAddress;
use crate::directory::{Directory, Path};
use crate::supervisor::{
    AddChild, CountChildren, DeleteChild, RemoveChild, RestartChild, StopChild, WhichChildren,
};
use crate::{ChildSpec, Restart, Supervisor, SupervisorError};

/// A type-erased ref to a running child, as [`SupervisorRef::which_children`] reports it.
#[derive(Clone)]
pub struct ChildRef(pub(crate) Arc<dyn ChildHandle>);

impl ChildRef {
    /// The child's actor id.
    pub fn id(&self) -> ActorId {
        self.0.id()
    }

    /// The typed ref, if the child is an `A`.
    pub fn actor<A: Actor>(&self) -> Option<ActorRef<A>> {
        ActorRef::from_handle(&self.0)
    }
}

impl PartialEq for ChildRef {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl fmt::Debug for ChildRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChildRef<{}>({})", self.0.type_name(), self.0.id())
    }
}

/// Where a child is, as [`SupervisorRef::which_children`] reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum ChildState {
    /// It runs, with this ref.
    Running(ChildRef),
    /// It has no live incarnation since `since` (bus time) and a restart is planned.
    Restarting {
        /// When its last incarnation ended.
        since: Duration,
        /// The ref its task keeps while it waits to start again in place: the same ref (and
        /// mailbox) it will run with. `None` when its task is gone (it was killed): the
        /// restart spawns it anew, with a new ref.
        child: Option<ChildRef>,
    },
    /// It does not run and no restart is planned: stopped with `stop_child`, or ended and,
    /// by its restart type, not restarted. Its spec is kept.
    Stopped,
}

/// One child spec of a supervisor and its state.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildInfo {
    /// The child's name.
    pub name: String,
    /// Its state.
    pub state: ChildState,
    /// Its restart type.
    pub restart: Restart,
    /// Whether it is a nested supervisor.
    pub supervisor: bool,
}

/// How many children a supervisor has, as OTP's `count_children`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChildCount {
    /// Child specs, whatever their state.
    pub specs: usize,
    /// Children running now.
    pub active: usize,
    /// Specs of nested supervisors.
    pub supervisors: usize,
    /// Specs of workers.
    pub workers: usize,
}

/// A handle on a running supervisor.
#[derive(Clone)]
pub struct SupervisorRef {
    actor: ActorRef<Supervisor>,
    directory: Directory,
    /// How the addresses of its children find it again (`ChildAddress`).
    path: Path,
    /// The bus clock, for the timeouts of asks through
    /// [`child_reply_recipient`](Self::child_reply_recipient).
    clock: Clock,
}

impl SupervisorRef {
    pub(crate) fn new(actor: ActorRef<Supervisor>, directory: Directory, clock: Clock) -> Self {
        SupervisorRef {
            path: Path::root(actor.clone(), directory.clone()),
            actor,
            directory,
            clock,
        }
    }

    /// The ref of the child named `name`, if it is an `A`. The same ref stays valid across the
    /// child's restarts (it changes only if the child had to be spawned anew: after it was
    /// killed, or stopped and started again with `restart_child`): to keep reaching the
    /// child whatever happens to it, use [`child_recipient`](Self::child_recipient) or
    /// [`child_reply_recipient`](Self::child_reply_recipient).
    pub fn child<A: Actor>(&self, name: &str) -> Option<ActorRef<A>> {
        ActorRef::from_handle(&self.directory.find(name)?.handle)
    }

    /// An address for tells of `M` that follows the child named `name` (an `A`) by name, or
    /// `None` if the tree has no such child now. Each send reaches the incarnation that runs
    /// then, also after the child was killed and spawned anew with a new ref: exported
    /// ([`Exports::export`](mycelium_actors::export::Exports::export)), it gives a service
    /// that survives kills, as a registered name follows a restarted process in OTP.
    ///
    /// While no incarnation runs (between a kill and the restart that spawns the child anew,
    /// or once the tree has given it up), a send is refused and the message handed back
    /// ([`TrySendError::Closed`](mycelium_actors::TrySendError::Closed),
    /// [`SendError`](mycelium_actors::SendError)).
    /// `is_alive` stays true while the tree will start the child again (a restart is
    /// planned, or the supervisor has yet to handle the end of the last incarnation), and
    /// turns false once the supervisor has stopped, no longer has the child, or holds it
    /// stopped (`stop_child`, or not restarted by its restart type); a later
    /// [`restart_child`](Self::restart_child) makes the address reach it again. A child
    /// restarted in place keeps its ref and mailbox, so messages sent while it restarts
    /// wait in its mailbox.
    ///
    /// The incarnation last reached is cached and the tree is read again only once its
    /// mailbox has closed: a send to a running child costs an uncontended lock and a
    /// reference count more than a send through its ref. An address got from a nested
    /// supervisor ([`child_supervisor`](Self::child_supervisor)) follows the child also when
    /// that supervisor (or one above it) is killed and spawned anew: it finds the supervisor
    /// again by its names from the tree's root.
    ///
    /// ```
    /// use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
    /// use mycelium_supervisor::{ChildSpec, RestartStrategy, SupervisionEvent, Supervisor};
    ///
    /// struct Counter(u64);
    /// impl Actor for Counter {
    ///     type Args = ();
    ///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Counter(0)) }
    /// }
    /// impl Handler<u64> for Counter {
    ///     type Reply = u64;
    ///     async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> u64 { self.0 += n; self.0 }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let bus = Bus::builder().virtual_time().build().unwrap();
    /// let (restarted, mut restarts) = tokio::sync::mpsc::unbounded_channel();
    /// let tree = Supervisor::builder(RestartStrategy::OneForOne)
    ///     .on_event(move |e| {
    ///         if matches!(e, SupervisionEvent::Restarted { .. }) {
    ///             let _ = restarted.send(());
    ///         }
    ///     })
    ///     .child(ChildSpec::new::<Counter>("counter", ()))
    ///     .spawn(&bus)
    ///     .await
    ///     .unwrap();
    /// let counter = tree.child_recipient::<Counter, u64>("counter").unwrap();
    /// counter.tell(1).await.unwrap();
    ///
    /// let first = tree.child::<Counter>("counter").unwrap();
    /// first.kill(); // spawned anew after its backoff, with a new ref: `first` is dead for good
    /// first.wait_for_stop().await;
    /// assert!(counter.try_tell(5).is_err()); // no incarnation runs: handed back
    /// assert!(counter.is_alive()); // but the tree will start one
    /// restarts.recv().await.unwrap();
    /// counter.tell(2).await.unwrap(); // reaches the new incarnation
    /// assert_eq!(tree.child::<Counter>("counter").unwrap().ask(0).await.unwrap(), 2);
    /// # });
    /// ```
    pub fn child_recipient<A, M>(&self, name: &str) -> Option<Recipient<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let address = ChildAddress::<A>::find(&self.path, &self.directory, &self.clock, name)?;
        Some(Recipient::new(Arc::new(address)))
    }

    /// An address for tells and asks of `M` that follows the child named `name` (an `A`) by
    /// name, or `None` if the tree has no such child now: as
    /// [`child_recipient`](Self::child_recipient), and an ask while no incarnation runs fails
    /// with [`AskError::Closed`](mycelium_actors::AskError::Closed), the request handed back.
    /// Export it with [`Exports::export_ask`](mycelium_actors::export::Exports::export_ask)
    /// for a service that survives kills. An ask takes the direct call of the incarnation that
    /// runs now when it is idle, as the child's own ref does.
    ///
    /// ```
    /// use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
    /// use mycelium_supervisor::{ChildSpec, RestartStrategy, SupervisionEvent, Supervisor};
    ///
    /// struct Doubler;
    /// impl Actor for Doubler {
    ///     type Args = ();
    ///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Doubler) }
    /// }
    /// impl Handler<u32> for Doubler {
    ///     type Reply = u64;
    ///     async fn handle(&mut self, n: u32, _ctx: &mut Context<Self>) -> u64 { 2 * n as u64 }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let bus = Bus::builder().virtual_time().build().unwrap();
    /// let (restarted, mut restarts) = tokio::sync::mpsc::unbounded_channel();
    /// let tree = Supervisor::builder(RestartStrategy::OneForOne)
    ///     .on_event(move |e| {
    ///         if matches!(e, SupervisionEvent::Restarted { .. }) {
    ///             let _ = restarted.send(());
    ///         }
    ///     })
    ///     .child(ChildSpec::new::<Doubler>("doubler", ()))
    ///     .spawn(&bus)
    ///     .await
    ///     .unwrap();
    /// let doubler = tree.child_reply_recipient::<Doubler, u32>("doubler").unwrap();
    /// assert_eq!(doubler.ask(21).await.unwrap(), 42);
    ///
    /// let first = tree.child::<Doubler>("doubler").unwrap();
    /// first.kill();
    /// first.wait_for_stop().await;
    /// restarts.recv().await.unwrap();
    /// assert_eq!(doubler.ask(4).await.unwrap(), 8); // the new incarnation answers
    /// # });
    /// ```
    pub fn child_reply_recipient<A, M>(
        &self,
        name: &str,
    ) -> Option<ReplyRecipient<M, <A as Handler<M>>::Reply>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let address = Arc::new(ChildAddress::<A>::find(
            &self.path,
            &self.directory,
            &self.clock,
            name,
        )?);
        // Asks take the direct call of the incarnation that runs now, as its own ref's do.
        let current = address.clone();
        Some(ReplyRecipient::following(address, move || {
            current.current()
        }))
    }

    /// The nested supervisor named `name`. The handle is that incarnation's: once the nested
    /// supervisor is killed and spawned anew, get a handle again from its parent. (The
    /// addresses of its children, [`child_recipient`](Self::child_recipient) and
    /// [`child_reply_recipient`](Self::child_reply_recipient), follow it by name.)
    pub fn child_supervisor(&self, name: &str) -> Option<SupervisorRef> {
        let entry = self.directory.find(name)?;
        Some(SupervisorRef {
            actor: ActorRef::from_handle(&entry.handle)?,
            directory: entry.sub?,
            path: self.path.child(name),
            clock: self.clock.clone(),
        })
    }

    /// The names and ids of the children running now, in start order (without asking the
    /// supervisor: see [`which_children`](Self::which_children) for every spec and state).
    /// A restarted child is listed by the time its `Restarted` event is out.
    pub fn children(&self) -> Vec<(String, ActorId)> {
        self.directory
            .lock()
            .entries
            .iter()
            .filter(|e| e.running)
            .map(|e| (e.name.to_string(), e.handle.id()))
            .collect()
    }

    /// The name of the child whose task has id `id`, running or waiting for a restart.
    pub(crate) fn name_of(&self, id: ActorId) -> Option<String> {
        self.directory
            .lock()
            .entries
            .iter()
            .find(|e| e.handle.id() == id)
            .map(|e| e.name.to_string())
    }

    /// Every child spec in start order, with its state. Served between the steps of a
    /// restart, like every call below.
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        self.actor
            .ask(WhichChildren)
            .await
            .map_err(|_| SupervisorError::Stopped)
    }

    /// How many restarts of its children this supervisor has finished since it was spawned:
    /// of the child named `child`, or of any child if `None`. A restart counts once it is
    /// done (the child's new incarnation has started and is listed running), just before its
    /// [`Restarted`](crate::SupervisionEvent::Restarted) event. A child's count goes with its
    /// spec (`delete_child`, `remove_child`, a pool child or a temporary one that ends); the
    /// count of all children keeps every restart. Restarts inside a nested supervisor are
    /// its own: ask its [`child_supervisor`](Self::child_supervisor).
    pub fn restarts(&self, child: Option<&str>) -> u64 {
        self.directory.lock().restarts.borrow().of(child)
    }

    /// Waits until this supervisor has finished at least `n` restarts (of the child named
    /// `child`, or of any child if `None`), counted as [`restarts`](Self::restarts) counts
    /// them; returns at once if it has already. Errors with
    /// [`SupervisorError::Stopped`] if the supervisor stops first. The Python, OCaml and C
    /// bindings' `wait_restarts` mean the same.
    ///
    /// ```
    /// use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
    /// use mycelium_supervisor::{Backoff, ChildSpec, RestartStrategy, Supervisor};
    ///
    /// struct Fragile;
    /// impl Actor for Fragile {
    ///     type Args = ();
    ///     async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Fragile) }
    /// }
    /// struct Break;
    /// impl Handler<Break> for Fragile {
    ///     type Reply = Result<(), String>;
    ///     async fn handle(&mut self, _: Break, _ctx: &mut Context<Self>) -> Result<(), String> {
    ///         Err("broken".into())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let bus = Bus::builder().virtual_time().build().unwrap();
    /// let tree = Supervisor::builder(RestartStrategy::OneForOne)
    ///     .backoff(Backoff::none())
    ///     .child(ChildSpec::new::<Fragile>("fragile", ()))
    ///     .spawn(&bus)
    ///     .await
    ///     .unwrap();
    /// tree.child::<Fragile>("fragile").unwrap().tell(Break).await.unwrap();
    /// tree.wait_restarts(1, Some("fragile")).await.unwrap();
    /// assert_eq!(tree.restarts(None), 1);
    /// # });
    /// ```
    pub async fn wait_restarts(&self, n: u64, child: Option<&str>) -> Result<(), SupervisorError> {
        let mut count = self.directory.lock().restarts.subscribe();
        let mut reached = pin!(count.wait_for(|c| c.of(child) >= n));
        let mut stopped = pin!(self.actor.wait_for_stop());
        // The count first: reached as the supervisor stops is reached.
        poll_fn(|cx| {
            if let Poll::Ready(r) = reached.as_mut().poll(cx) {
                return Poll::Ready(r.map(|_| ()).map_err(|_| SupervisorError::Stopped));
            }
            stopped
                .as_mut()
                .poll(cx)
                .map(|_| Err(SupervisorError::Stopped))
        })
        .await
    }

    /// How many specs, running children, supervisors and workers it has.
    pub async fn count_children(&self) -> Result<ChildCount, SupervisorError> {
        self.actor
            .ask(CountChildren)
            .await
            .map_err(|_| SupervisorError::Stopped)
    }

    /// Starts a new child at the end of the start order. If its `on_start` fails, the error
    /// ([`SpawnError::StartFailed`](mycelium_actors::SpawnError::StartFailed)) is returned
    /// and nothing is kept; the supervisor carries on.
    pub async fn add_child(&self, spec: ChildSpec) -> Result<ActorId, SupervisorError> {
        match self
            .actor
            .ask(AddChild {
                spec,
                pooled: false,
            })
            .await
        {
            Ok(result) => result.map(|h| h.id()),
            Err(_) => Err(SupervisorError::Stopped),
        }
    }

    pub(crate) async fn add_pooled(
        &self,
        spec: ChildSpec,
    ) -> Result<Arc<dyn ChildHandle>, SupervisorError> {
        match self.actor.ask(AddChild { spec, pooled: true }).await {
            Ok(result) => result,
            Err(_) => Err(SupervisorError::Stopped),
        }
    }

    /// Stops the child named `name` (by its shutdown) and keeps its spec: it stays stopped,
    /// through later group restarts too, until [`restart_child`](Self::restart_child). A
    /// temporary child's spec is removed. Stopping a stopped child does nothing.
    ///
    /// A child waiting for a restart after its own failure (in its backoff, or in a restart
    /// loop whose attempts fail) has that restart cancelled, as OTP's `terminate_child`
    /// does: the members of its group that wait behind it (rest_for_one: the children after
    /// it; one_for_all: those not started again yet) stay down too, `Stopped` with their
    /// specs kept, rather than start without it. A child that waits behind another
    /// child's failure stops alone, and the others' restart goes on.
    pub async fn stop_child(&self, name: &str) -> Result<(), SupervisorError> {
        self.call(StopChild(name.to_string())).await
    }

    /// Starts a stopped child again (spawned anew: it gets a new ref). It records no restart.
    /// Errors: `NotFound`, `Running`, `Restarting`, or `Spawn(StartFailed)` when its
    /// `on_start` fails (it then stays stopped).
    pub async fn restart_child(&self, name: &str) -> Result<ActorId, SupervisorError> {
        match self.actor.ask(RestartChild(name.to_string())).await {
            Ok(result) => result,
            Err(_) => Err(SupervisorError::Stopped),
        }
    }

    /// Removes the spec of a stopped child. Errors: `NotFound`, `Running`, `Restarting`.
    pub async fn delete_child(&self, name: &str) -> Result<(), SupervisorError> {
        self.call(DeleteChild(name.to_string())).await
    }

    /// Stops the child named `name` (by its shutdown) and removes its spec, whatever its
    /// state: `stop_child` (with its cancelling of a planned restart) then `delete_child` in
    /// one call.
    pub async fn remove_child(&self, name: &str) -> Result<(), SupervisorError> {
        self.call(RemoveChild(name.to_string())).await
    }

    async fn call<M>(&self, msg: M) -> Result<(), SupervisorError>
    where
        Supervisor: mycelium_actors::Handler<M, Reply = Result<(), SupervisorError>>,
        M: Send + 'static,
    {
        match self.actor.ask(msg).await {
            Ok(result) => result,
            Err(_) => Err(SupervisorError::Stopped),
        }
    }

    /// The supervisor's own actor ref.
    pub fn actor_ref(&self) -> &ActorRef<Supervisor> {
        &self.actor
    }

    /// The supervisor's id.
    pub fn id(&self) -> ActorId {
        self.actor.id()
    }

    /// Stops the supervisor and returns once the whole tree below it is down: children stop
    /// in reverse start order, each by its shutdown (a nested supervisor after its own
    /// children), and only then the supervisor. Returns its final reason (`Shutdown`, or
    /// the reason it had already stopped with). A nested supervisor stopped this way is
    /// then handled by its parent like any child that stopped; use the parent's
    /// `stop_child` to keep it stopped.
    pub async fn stop(&self) -> StopReason {
        self.actor.handle().terminate(StopReason::Shutdown);
        self.actor.wait_for_stop().await
    }

    /// Waits until the supervisor has stopped for good.
    pub async fn wait_for_stop(&self) -> StopReason {
        self.actor.wait_for_stop().await
    }
}

impl fmt::Debug for SupervisorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SupervisorRef({})", self.actor.id())
    }
}
