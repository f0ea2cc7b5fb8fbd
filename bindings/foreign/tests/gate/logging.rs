//! The `Logging` foreign actor most tests drive (it logs the bodies it handles, fails on
//! `boom` and blocks on `wait`), and the helpers to call it and to run it under a supervisor.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use mycelium_actors::{Bus, StopReason};
use mycelium_foreign::{
    gated_child_spec, Direct, Foreign, ForeignActor, ForeignMessage, ForeignRef,
};
use mycelium_supervisor::{Backoff, RestartStrategy, Supervisor};

/// State: the bodies handled, in order. `b"boom"` fails; `b"wait"` blocks until released.
pub(crate) struct Logging {
    pub(crate) starts: AtomicU32,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
    pub(crate) threads: Mutex<Vec<ThreadId>>,
    /// The threads `abandon` ran on.
    pub(crate) abandoned: Mutex<Vec<ThreadId>>,
    /// Notified by each `abandon`.
    abandon_seen: Condvar,
}

impl Logging {
    /// Waits, up to `within`, until `abandon` has run `n` times; returns how many times it
    /// has. A killed incarnation's state is abandoned on the blocking pool after it leaves
    /// the gate, which may be after the next incarnation has answered.
    pub(crate) fn abandons(&self, n: usize, within: Duration) -> usize {
        let abandoned = self.abandoned.lock().unwrap();
        let (abandoned, _) = self
            .abandon_seen
            .wait_timeout_while(abandoned, within, |a| a.len() < n)
            .unwrap();
        abandoned.len()
    }
}

pub(crate) fn logging() -> (Arc<Logging>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let foreign = Arc::new(Logging {
        starts: AtomicU32::new(0),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
        threads: Mutex::new(Vec::new()),
        abandoned: Mutex::new(Vec::new()),
        abandon_seen: Condvar::new(),
    });
    (foreign, entered_rx, release_tx)
}

impl Foreign for Logging {
    type Args = ();
    type State = Vec<Vec<u8>>;

    fn start(&self, _args: &(), _me: &ForeignRef<Self>) -> Result<Vec<Vec<u8>>, String> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(Vec::new())
    }

    fn handle(
        &self,
        log: &mut Vec<Vec<u8>>,
        msg: ForeignMessage,
    ) -> Result<Option<ForeignMessage>, String> {
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        match msg.body.as_slice() {
            b"boom" => return Err("boom in a direct call".into()),
            b"wait" => {
                self.entered.lock().unwrap().send(()).unwrap();
                self.release.lock().unwrap().recv().unwrap();
            }
            _ => {}
        }
        log.push(msg.body);
        Ok(Some(ForeignMessage {
            type_id: msg.type_id,
            body: log.join(&b","[..]),
        }))
    }

    fn stop(&self, _log: Vec<Vec<u8>>, _reason: &StopReason) {}

    fn abandon(&self, _log: Vec<Vec<u8>>) {
        self.abandoned
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        self.abandon_seen.notify_all();
    }
}

pub(crate) fn msg(body: &[u8]) -> ForeignMessage {
    ForeignMessage {
        type_id: 900,
        body: body.to_vec(),
    }
}

/// A direct call that hands the message to the actor's handler.
pub(crate) fn handle(actor: &ForeignRef<Logging>, body: &[u8]) -> Direct<Option<ForeignMessage>> {
    let m = msg(body);
    actor.try_direct(m.type_id, move |foreign, state| foreign.handle(state, m))
}

/// `foreign` as the child `model` of a one-for-one tree with a short backoff (hibernating
/// or not), and its gated ref; the tree's ref keeps it running.
pub(crate) async fn supervised_model(
    bus: &Bus,
    foreign: &Arc<Logging>,
    hibernate: bool,
) -> (mycelium_supervisor::SupervisorRef, ForeignRef<Logging>) {
    let (spec, gate) = gated_child_spec("model", foreign.clone(), ());
    let spec = if hibernate { spec.hibernate() } else { spec };
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_millis(1),
            2.0,
            Duration::from_millis(10),
        ))
        .child(spec)
        .spawn(bus)
        .await
        .unwrap();
    let model = ForeignRef::from_actor_ref(tree.child::<ForeignActor<Logging>>("model").unwrap())
        .with_gate(gate);
    (tree, model)
}
