//! What the supervisor asks of its children's handles, seen through a handle that records
//! the calls.

use std::any::Any;
use std::sync::{Arc, Mutex};

use mycelium_actors::{
    Actor, ActorId, BoxError, BoxFuture, Bus, ChildHandle, Context, Failure, Handler, StopReason,
};
use tokio::sync::{mpsc, oneshot};

use crate::child_spec::ChildKind;
use crate::{Backoff, ChildSpec, RestartStrategy, Shutdown, SupervisionEvent, Supervisor};

struct Worker;

impl Actor for Worker {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Worker)
    }
}

struct Fail;

impl Handler<Fail> for Worker {
    type Reply = ();
    async fn handle(&mut self, _: Fail, ctx: &mut Context<Self>) {
        ctx.fail(Failure::escalated("failed on request"));
    }
}

/// Forwards to a child's handle, logging the calls that end or restart an incarnation.
struct Recording {
    inner: Arc<dyn ChildHandle>,
    calls: Arc<Mutex<Vec<&'static str>>>,
}

impl Recording {
    fn record(&self, call: &'static str) {
        self.calls.lock().unwrap().push(call);
    }
}

impl ChildHandle for Recording {
    fn id(&self) -> ActorId {
        self.inner.id()
    }
    fn type_name(&self) -> &'static str {
        self.inner.type_name()
    }
    fn name(&self) -> Option<Arc<str>> {
        self.inner.name()
    }
    fn restart(&self) -> Option<oneshot::Receiver<Result<(), StopReason>>> {
        self.record("restart");
        self.inner.restart()
    }
    fn suspend(&self) -> Option<oneshot::Receiver<()>> {
        self.record("suspend");
        self.inner.suspend()
    }
    fn terminate(&self, reason: StopReason) -> bool {
        self.record("terminate");
        self.inner.terminate(reason)
    }
    fn kill(&self) {
        self.record("kill");
        self.inner.kill()
    }
    fn stop_reason(&self) -> Option<StopReason> {
        self.inner.stop_reason()
    }
    fn wait_for_stop(&self) -> BoxFuture<'_, StopReason> {
        self.inner.wait_for_stop()
    }
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self.inner.clone().into_any()
    }
}

/// `spec`, with its task's handle recording into `calls`.
fn recorded(mut spec: ChildSpec, calls: &Arc<Mutex<Vec<&'static str>>>) -> ChildSpec {
    let ChildKind::Worker(start) = spec.kind.clone() else {
        unreachable!("a worker's spec");
    };
    let calls = calls.clone();
    spec.kind = ChildKind::Worker(Arc::new(move |bus, options| {
        let inner = start(bus, options)?;
        let handle: Arc<dyn ChildHandle> = Arc::new(Recording {
            inner,
            calls: calls.clone(),
        });
        Ok(handle)
    }));
    spec
}

/// A group restart kills a `Shutdown::Immediate` sibling without asking it to suspend first:
/// a suspension queued before the kill is one its task could still act on (running
/// `on_stop`) if it is in the middle of a handler on another worker, which `Immediate`
/// promises not to do.
#[tokio::test(start_paused = true)]
async fn an_immediate_sibling_is_killed_without_a_suspension() {
    let bus = Bus::builder().seed(1).virtual_time().build().unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (tx, mut events) = mpsc::unbounded_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForAll)
        .backoff(Backoff::none())
        .on_event(move |e: &SupervisionEvent| {
            let _ = tx.send(e.clone());
        })
        .child(recorded(
            ChildSpec::new::<Worker>("immediate", ()).shutdown(Shutdown::Immediate),
            &calls,
        ))
        .child(ChildSpec::new::<Worker>("failing", ()))
        .spawn(&bus)
        .await
        .unwrap();
    tree.child::<Worker>("failing")
        .unwrap()
        .tell(Fail)
        .await
        .unwrap();
    loop {
        let e = events.recv().await.expect("event stream ended");
        if matches!(&e, SupervisionEvent::Restarted { child, .. } if &**child == "failing") {
            break;
        }
    }
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls, ["kill"]);
}

/// A child is listed among the running children by the time its `Restarted` event is out: an
/// observer that reads `children()` on that event (as the Python binding's `wait_restarts`
/// lets its caller do) sees it. Before, the list the refs read was written only after every
/// restart of a group, so a group restart's events came out while it still left them out.
#[tokio::test(start_paused = true)]
async fn a_restarted_child_is_listed_running_when_its_event_is_out() {
    let bus = Bus::builder().seed(1).virtual_time().build().unwrap();
    let tree_ref: Arc<std::sync::OnceLock<crate::SupervisorRef>> = Arc::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (tx, mut events) = mpsc::unbounded_channel();
    let (tree_in_observer, seen_in_observer) = (tree_ref.clone(), seen.clone());
    let tree = Supervisor::builder(RestartStrategy::OneForAll)
        .backoff(Backoff::none())
        .on_event(move |e: &SupervisionEvent| {
            if let (SupervisionEvent::Restarted { child, .. }, Some(tree)) =
                (e, tree_in_observer.get())
            {
                let running: Vec<String> = tree.children().into_iter().map(|(n, _)| n).collect();
                seen_in_observer
                    .lock()
                    .unwrap()
                    .push((child.to_string(), running));
            }
            let _ = tx.send(e.clone());
        })
        .child(ChildSpec::new::<Worker>("first", ()))
        .child(ChildSpec::new::<Worker>("second", ()))
        .spawn(&bus)
        .await
        .unwrap();
    assert!(tree_ref.set(tree.clone()).is_ok());
    tree.child::<Worker>("second")
        .unwrap()
        .tell(Fail)
        .await
        .unwrap();
    let mut restarted = 0;
    while restarted < 2 {
        let e = events.recv().await.expect("event stream ended");
        if matches!(e, SupervisionEvent::Restarted { .. }) {
            restarted += 1;
        }
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (child, running) in &seen {
        assert!(
            running.contains(child),
            "{child} restarted but not listed running: {seen:?}"
        );
    }
}
