//! Test actors shared by the integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium::actors::StopReason;
use mycelium::prelude::*;
use mycelium::supervisor::SupervisionEvent;
use tokio::sync::{mpsc, oneshot};

/// A shared, ordered log of what actors did.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Silences the panics the tests cause on purpose; any other panic is reported as usual.
pub fn quiet_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if !["crash requested", "boom", "bad tick"]
            .iter()
            .any(|m| msg.contains(m))
        {
            default(info);
        }
    }));
}

/// A paused current-thread runtime's bus with virtual time.
pub fn virtual_bus(seed: u64) -> Bus {
    Bus::builder().seed(seed).virtual_time().build().unwrap()
}

#[derive(Clone)]
pub struct ProbeArgs {
    pub name: &'static str,
    pub log: Log,
}

impl ProbeArgs {
    pub fn new(name: &'static str, log: &Log) -> Self {
        ProbeArgs {
            name,
            log: log.clone(),
        }
    }
}

/// Logs `start NAME` / `stop NAME`, counts messages, and fails on request.
pub struct Probe {
    pub name: &'static str,
    pub log: Log,
    pub seen: Vec<u64>,
}

impl Actor for Probe {
    type Args = ProbeArgs;
    async fn on_start(args: ProbeArgs, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        args.log.push(format!("start {}", args.name));
        Ok(Probe {
            name: args.name,
            log: args.log,
            seen: Vec::new(),
        })
    }
    async fn on_stop(&mut self, _ctx: &mut Context<Self>, _reason: &StopReason) {
        self.log.push(format!("stop {}", self.name));
    }
}

/// Records a number; `Seen` returns them.
pub struct Record(pub u64);
impl Handler<Record> for Probe {
    type Reply = ();
    async fn handle(&mut self, Record(n): Record, _ctx: &mut Context<Self>) {
        self.seen.push(n);
    }
}

pub struct Seen;
impl Handler<Seen> for Probe {
    type Reply = Vec<u64>;
    async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) -> Vec<u64> {
        self.seen.clone()
    }
}

/// Panics.
pub struct Crash;
impl Handler<Crash> for Probe {
    type Reply = ();
    async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
        panic!("crash requested");
    }
}

/// Waits for the sender, then panics with "boom".
pub struct CrashAfter(pub oneshot::Receiver<()>);
impl Handler<CrashAfter> for Probe {
    type Reply = ();
    async fn handle(&mut self, CrashAfter(go): CrashAfter, _ctx: &mut Context<Self>) {
        let _ = go.await;
        panic!("boom");
    }
}

/// Waits for the sender; then returns.
pub struct Block(pub oneshot::Receiver<()>);
impl Handler<Block> for Probe {
    type Reply = ();
    async fn handle(&mut self, Block(go): Block, _ctx: &mut Context<Self>) {
        let _ = go.await;
    }
}

/// Returns an error (a failure when told).
pub struct Fail;
impl Handler<Fail> for Probe {
    type Reply = Result<(), String>;
    async fn handle(&mut self, _: Fail, _ctx: &mut Context<Self>) -> Result<(), String> {
        Err("refused".into())
    }
}

/// Ends the incarnation normally.
pub struct Exit;
impl Handler<Exit> for Probe {
    type Reply = ();
    async fn handle(&mut self, _: Exit, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// Never returns.
pub struct Hang;
impl Handler<Hang> for Probe {
    type Reply = ();
    async fn handle(&mut self, _: Hang, _ctx: &mut Context<Self>) {
        std::future::pending::<()>().await;
    }
}

/// Sleeps on the bus clock, then answers the bus time.
pub struct Nap(pub Duration);
impl Handler<Nap> for Probe {
    type Reply = Duration;
    async fn handle(&mut self, Nap(d): Nap, ctx: &mut Context<Self>) -> Duration {
        ctx.clock().sleep(d).await;
        ctx.now()
    }
}

/// An observer that forwards supervision events to a channel.
pub fn event_channel() -> (
    impl Fn(&SupervisionEvent) + Send + Sync + 'static,
    mpsc::UnboundedReceiver<SupervisionEvent>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        move |e: &SupervisionEvent| {
            let _ = tx.send(e.clone());
        },
        rx,
    )
}

/// Waits for the next event matching `pred`, collecting the others it skips.
pub async fn next_event(
    rx: &mut mpsc::UnboundedReceiver<SupervisionEvent>,
    pred: impl Fn(&SupervisionEvent) -> bool,
) -> SupervisionEvent {
    loop {
        let e = rx.recv().await.expect("event stream ended");
        if pred(&e) {
            return e;
        }
    }
}

pub fn is_restarted(e: &SupervisionEvent) -> bool {
    matches!(e, SupervisionEvent::Restarted { .. })
}

/// Runs `f`'s future on a current-thread runtime with a paused clock, under a `tracing`
/// subscriber that writes plain text (no colours) into a buffer; returns the future's output
/// and the text. Use it in a test binary of its own: `tracing` caches per call site whether
/// anyone listens, and another test of the same process hitting those call sites with no
/// subscriber at the same moment could make this one miss events.
pub fn logs_of_paused_run<F: std::future::Future>(f: impl FnOnce() -> F) -> (F::Output, String) {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let output = tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(f())
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (output, text)
}
