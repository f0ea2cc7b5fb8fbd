//! The accepting side: the listener, whose handshakes run on their own tasks off the accept
//! loop, and, per link, a supervised keeper that runs the connections the peer makes.
//!
//! The accepting side cannot reconnect (only the peer dials), so its supervision is about
//! the link, not the socket: each link accepted on has its own [`Supervisor`] (one-for-one,
//! the link's `backoff`, an intensity it never reaches, so that it cannot fail the bus) over
//! one transient child, the [`Keeper`]. Handshakes hand each established connection to the
//! keeper of its link, which waits on it:
//!
//! - A connection task that panics: the connection is detached (asks in flight fail at once,
//!   `Down` event), the panic fails the keeper, and the supervisor starts a new incarnation
//!   after its backoff, which takes the peer's next connection (the peer sees the socket
//!   close and dials again; the log resends what was not acknowledged). After
//!   `max_attempts` consecutive panics the link gives up: what it holds is reported lost,
//!   and the peer's next handshake is refused, so the peer gives up and reports its own.
//! - A connection that ends (the peer died, a cut, a heartbeat timeout): the keeper waits
//!   `give_up_after` of bus time for the peer to come back; if it does not, the link gives up
//!   with a loss report, and the keeper waits on: the peer's next connection (a restarted
//!   peer's too) opens the link again.
//!
//! The keeper's arguments hold the [`Link`] and the receiving end of its hand-over channel,
//! so both survive a restart.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::telemetry::{ListenerMetrics, Refusal};
use mycelium_actors::{Actor, BoxError, Bus, Clock, Context, Handler};
use mycelium_supervisor::{
    ChildSpec, Restart, RestartStrategy, Shutdown, Supervisor, SupervisorRef,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::connection;
use crate::dial::Resolver;
use crate::error::HandshakeError;
use crate::frame::HANDSHAKE_MAX_BODY;
use crate::handshake::{self, Identity};
use crate::link::Link;
use crate::reader::FrameReader;
use crate::tls::ServerTls;
use crate::transport::{Listener, Stream};

mod slots;

use slots::Slot;
pub(crate) use slots::Slots;
pub use slots::{MAX_HANDSHAKES, MAX_HANDSHAKES_PER_SOURCE};

/// An established connection handed to its link's keeper: its id and the task running it.
pub(crate) type Accepted = (u64, JoinHandle<String>);

/// Starts the supervised keeper of `link`'s accepted connections and installs its hand-over
/// channel in the link. Returns the supervisor (for the node to stop), or the reason it did
/// not start; a link that has a keeper already gets none.
pub(crate) async fn keep(link: &Link, bus: &Bus) -> Result<Option<SupervisorRef>, String> {
    let inner = &link.inner;
    if inner.keeper.get().is_some() {
        return Ok(None);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let peer = inner.peer.clone();
    let args = KeeperArgs {
        link: link.clone(),
        incoming: Arc::new(tokio::sync::Mutex::new(rx)),
        panics: Arc::new(AtomicU32::new(0)),
    };
    let observed = peer.clone();
    let sup = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(inner.config.backoff.clone())
        // Never give up at the supervisor (at the root that would fail the bus): the keeper
        // counts its own panics and gives the link up.
        .intensity(u32::MAX, Duration::from_secs(1))
        .on_event(move |event| {
            tracing::info!(target: "mycelium::remote", peer = %observed, ?event, "accepted link supervision");
        })
        .child(
            ChildSpec::new::<Keeper>(format!("accepted:{peer}"), args)
                .restart(Restart::Transient)
                // Its handler keeps the link for as long as it lives: stopped, it is killed.
                .shutdown(Shutdown::Immediate),
        )
        .spawn(bus)
        .await
        .map_err(|e| e.to_string())?;
    // Installed only once the keeper runs, so that a failed start leaves no channel behind.
    if inner.keeper.set(tx).is_err() {
        // A concurrent `listen` for the same peer installed its keeper first.
        sup.actor_ref().kill();
        return Ok(None);
    }
    Ok(Some(sup))
}

/// What a [`Keeper`] is built from, at every (re)start: the state that must survive one.
#[derive(Clone)]
pub(crate) struct KeeperArgs {
    link: Link,
    /// Connections established by handshakes, in the order they were attached.
    incoming: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Accepted>>>,
    /// Consecutive incarnations that ended in a panic.
    panics: Arc<AtomicU32>,
}

/// The accepting side's keeper of one link's connections: a supervised actor (see the
/// module's documentation).
pub(crate) struct Keeper {
    args: KeeperArgs,
}

/// Starts the keeper's loop (sent by the keeper to itself at every start).
struct Run;

impl Actor for Keeper {
    type Args = KeeperArgs;
    async fn on_start(args: KeeperArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.actor_ref()
            .try_tell(Run)
            .map_err(|_| "the link keeper could not start its loop")?;
        Ok(Keeper { args })
    }
}

impl Handler<Run> for Keeper {
    type Reply = ();
    async fn handle(&mut self, _: Run, ctx: &mut Context<Self>) {
        let args = &self.args;
        let inner = &args.link.inner;
        let panics = args.panics.load(Ordering::Relaxed);
        if panics >= inner.config.attempts() {
            inner.give_up(&format!(
                "the link's accepted connection panicked {panics} times in a row"
            ));
        } else {
            run(args).await;
        }
        ctx.stop();
    }
}

/// Waits on each connection the peer makes; returns when the link is closed (not when it
/// gave up waiting for the peer, which its next connection undoes) or the node is gone. A
/// panic of a connection task is resumed here, failing the keeper.
async fn run(args: &KeeperArgs) {
    let inner = &args.link.inner;
    let mut incoming = args.incoming.lock().await;
    loop {
        // Given up waiting, the link waits on: the peer's next connection opens it again.
        let closed = inner.lock().closed.is_some();
        if closed && !inner.is_revivable() {
            return;
        }
        // Before the first connection the node decides how long to wait (`Node::listen`
        // gives a peer it does not dial `give_up_after`); once the peer has connected, this
        // keeper does.
        let connected_before = inner.generation() > 1;
        let next = if connected_before && !closed && !args.link.is_up() {
            let wait = inner.config.give_up_after;
            match inner.clock.timeout(wait, incoming.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    if !args.link.is_up() {
                        inner.give_up_waiting(&format!(
                            "the peer did not reconnect within {wait:?}"
                        ));
                    }
                    continue;
                }
            }
        } else {
            incoming.recv().await
        };
        let Some((id, task)) = next else {
            // The node, which holds the sending end, is gone.
            return;
        };
        match task.await {
            Err(e) if e.is_panic() => {
                args.panics.fetch_add(1, Ordering::Relaxed);
                inner.detach(
                    id,
                    "the connection task panicked; waiting for the peer to reconnect",
                    false,
                );
                drop(incoming);
                std::panic::resume_unwind(e.into_panic());
            }
            // Ended (the link was told why), or aborted when a newer connection replaced it.
            _ => args.panics.store(0, Ordering::Relaxed),
        }
    }
}

/// Accepts connections on `listener` until the returned task is aborted. Each handshake runs
/// on its own task; a peer that fails it is logged with its address and never reaches a
/// link. With `tls`, the TLS handshake runs first, on the connection's own task. One
/// deadline, `handshake_timeout`, bounds all the time a connection spends unauthenticated
/// (the TLS handshake, the hello and the proofs).
///
/// An accept that fails for want of resources (no file descriptor left, no memory) leaves
/// the connection queued in the kernel, so the next accept fails at once as well: the loop
/// then waits ([`AcceptBackoff`]) before it tries again, and logs a streak of failures at
/// a bounded rate. Until it authenticates, a connection holds one of the listener's
/// handshake slots ([`Slots`]): a new connection always gets one, closing the oldest
/// unauthenticated connection when they are full (logged at a bounded rate).
pub(crate) fn accept(
    listener: Listener,
    tls: Option<ServerTls>,
    me: Identity,
    resolve: Resolver,
    clock: Clock,
    handshake_timeout: Duration,
    metrics: ListenerMetrics,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = AcceptBackoff::default();
        let slots = Arc::new(Slots::default());
        loop {
            let (stream, peer_addr) = match listener.accept().await {
                Ok(accepted) => {
                    backoff.succeeded();
                    accepted
                }
                Err(e) if !waits_after(&e) => {
                    // A refused Unix peer (other uid), or a connection the peer gave up:
                    // that connection is gone, and the listener goes on.
                    if e.kind() == std::io::ErrorKind::PermissionDenied {
                        tracing::warn!(target: "mycelium::remote", error = %e, "connection refused at accept");
                    } else {
                        // Closed before it was set up (a probe, a health check, the bind
                        // probe of a second process on an `shm:` socket): no one's problem,
                        // as a silent peer in the handshake.
                        metrics.refused(Refusal::Silent);
                        tracing::debug!(target: "mycelium::remote", error = %e, "incoming connection closed before it was set up");
                    }
                    continue;
                }
                Err(e) => {
                    let (delay, log) = backoff.failed();
                    if log {
                        tracing::error!(
                            target: "mycelium::remote",
                            error = %e, failures = backoff.failures, retry_in = ?delay,
                            "cannot accept connections (out of file descriptors or memory? \
                             raise the limit on open files, `ulimit -n`); retrying"
                        );
                    }
                    clock.sleep(delay).await;
                    continue;
                }
            };
            // A Unix socket's peer has no address to count by.
            let source = peer_addr
                .parse::<std::net::SocketAddr>()
                .ok()
                .map(slots::source_of);
            let (slot, eviction) = slots.admit(source);
            if let Some(eviction) = eviction {
                metrics.refused(Refusal::TurnedAway);
                if eviction.total.is_power_of_two() {
                    tracing::warn!(
                        target: "mycelium::remote",
                        peer = %peer_addr, evicted = eviction.total,
                        "handshake slots full ({MAX_HANDSHAKES} at most, \
                         {MAX_HANDSHAKES_PER_SOURCE} per address): the oldest connection that \
                         had not authenticated was closed to make room (a peer opening \
                         connections without finishing them?)"
                    );
                }
            }
            let me = me.clone();
            let resolve = resolve.clone();
            let clock = clock.clone();
            let tls = tls.clone();
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let unauthenticated = (&clock, handshake_timeout, slot);
                match accepted(stream, &peer_addr, tls, &me, &resolve, unauthenticated).await {
                    Ok(()) => {}
                    // A probe or a health check is no one's problem.
                    Err((why @ Refusal::Silent, reason)) => {
                        metrics.refused(why);
                        tracing::debug!(target: "mycelium::remote", peer = %peer_addr, %reason, "incoming connection closed");
                    }
                    // Counted and logged when its slot was taken.
                    Err((Refusal::TurnedAway, reason)) => {
                        tracing::debug!(target: "mycelium::remote", peer = %peer_addr, %reason, "incoming connection closed");
                    }
                    Err((why, reason)) => {
                        metrics.refused(why);
                        tracing::warn!(target: "mycelium::remote", peer = %peer_addr, %reason, "incoming connection refused");
                    }
                }
            });
        }
    })
}

/// Waits for the peer's first byte without taking it: `true` when the peer closed the
/// connection without sending one.
async fn closes_silently(stream: &mut Stream) -> bool {
    match stream {
        Stream::Tcp(tcp) => matches!(tcp.peek(&mut [0u8; 1]).await, Ok(0)),
        _ => false,
    }
}

/// The accept loop waits before trying again after this error: it is not about one
/// connection (which the failed accept would have consumed) but about this process (out of
/// file descriptors or memory) or unknown, and trying again at once would fail the same way.
fn waits_after(e: &std::io::Error) -> bool {
    !matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// The wait between failing accepts: from [`AcceptBackoff::FIRST`], doubling, at most
/// [`AcceptBackoff::MAX`]; back to the start after an accept succeeds. A streak of failures
/// is logged at its 1st, 2nd, 4th, 8th... failure, so at most once per
/// [`AcceptBackoff::MAX`] once the wait is at its longest, and less and less often.
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    /// Consecutive failed accepts.
    pub failures: u32,
}

impl AcceptBackoff {
    pub const FIRST: Duration = Duration::from_millis(1);
    pub const MAX: Duration = Duration::from_secs(1);

    /// An accept failed: how long to wait (the supervisor's exponential backoff, without
    /// jitter), and whether to log it.
    pub fn failed(&mut self) -> (Duration, bool) {
        self.failures = self.failures.saturating_add(1);
        let delay = mycelium_supervisor::Backoff::exponential(Self::FIRST, 2.0, Self::MAX)
            .base_delay(self.failures - 1);
        (delay, self.failures.is_power_of_two())
    }

    /// An accept succeeded: the next failure waits the shortest time again.
    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(target: "mycelium::remote", failures = self.failures, "accepting connections again");
            self.failures = 0;
        }
    }
}

/// Runs the handshake of one accepted connection and hands the connection to its link's
/// keeper. Until the peer has authenticated (its TLS handshake included) the connection holds
/// `slot`, for at most `deadline`, and is closed if a newer connection takes the slot.
async fn accepted(
    stream: Stream,
    peer_addr: &str,
    tls: Option<ServerTls>,
    me: &Identity,
    resolve: &Resolver,
    (clock, deadline, mut slot): (&Clock, Duration, Slot),
) -> Result<(), (Refusal, String)> {
    let handshake = |reason: String| (Refusal::Handshake, reason);
    let node = |reason: String| (Refusal::Node, reason);
    // Whether the deadline passed in the TLS handshake.
    let in_tls = std::sync::atomic::AtomicBool::new(tls.is_some());
    let authenticating = async {
        let mut stream = stream;
        if let Some(tls) = tls {
            // A peer that closes before its first byte is a probe, as in the link's own
            // handshake, not a failed TLS handshake.
            if closes_silently(&mut stream).await {
                return Err((
                    Refusal::Silent,
                    "the peer closed the connection before sending anything".to_owned(),
                ));
            }
            stream = tls
                .accept(stream, peer_addr)
                .await
                .map_err(|e| (Refusal::Tls, e.to_string()))?;
            in_tls.store(false, Ordering::Relaxed);
        }
        let mut reader = FrameReader::new(HANDSHAKE_MAX_BODY);
        let auth =
            handshake::authenticate(&mut stream, &mut reader, me, peer_addr, None, &|node| {
                resolve(node).is_some()
            })
            .await
            .map_err(|e| {
                let why = match e {
                    HandshakeError::AuthFailed { .. } => Refusal::Auth,
                    HandshakeError::UnexpectedNode { .. } => Refusal::Node,
                    HandshakeError::SchemaMismatch { .. } => Refusal::Schema,
                    HandshakeError::Silent { .. } => Refusal::Silent,
                    _ => Refusal::Handshake,
                };
                (why, e.to_string())
            })?;
        Ok((stream, reader, auth))
    };
    let outcome = tokio::select! {
        biased;
        () = slot.evicted() => Err((
            Refusal::TurnedAway,
            format!(
                "closed before it authenticated to make room for a newer connection: \
                 {MAX_HANDSHAKES} handshakes at most (and {MAX_HANDSHAKES_PER_SOURCE} per \
                 address) run at once"
            ),
        )),
        done = clock.timeout(deadline, authenticating) => match done {
            Ok(done) => done,
            Err(_) if in_tls.load(Ordering::Relaxed) => Err((
                Refusal::Tls,
                format!("the TLS handshake did not finish within its deadline ({deadline:?})"),
            )),
            Err(_) => Err(handshake(
                HandshakeError::Timeout {
                    peer: peer_addr.to_owned(),
                }
                .to_string(),
            )),
        },
    };
    // Authenticated (or closed): the slot is free for the next connection.
    drop(slot);
    let (mut stream, mut reader, auth) = outcome?;
    let Some(link) = resolve(&auth.node) else {
        return Err(node(format!("node `{}` is not known", auth.node)));
    };
    let inner = link.inner.clone();
    let Some(keeper) = inner.keeper.get().cloned() else {
        return Err(node(format!("node `{}` is not accepted here", auth.node)));
    };
    // A link that gave up waiting for the peer takes it back (what it reported lost stays
    // reported), once the handshake is done; one closed on purpose, or after its connections
    // kept panicking, does not.
    let revivable = inner.is_revivable();
    if let Some(reason) = link.closed_reason().filter(|_| !revivable) {
        // Refused, not accepted and dropped: the peer gives up (and reports what it holds)
        // instead of reconnecting for ever.
        let reason = format!("this node gave the link up: {reason}");
        handshake::refuse(&mut stream, peer_addr, &reason).await;
        return Err(handshake(reason));
    }
    inner.replace_current("replaced by a new connection from the peer");
    let resume = inner.resume_point(&auth);
    let theirs = match inner
        .clock
        .timeout(
            inner.config.handshake_timeout,
            handshake::finish(&mut stream, &mut reader, peer_addr, resume),
        )
        .await
    {
        Ok(Ok(theirs)) => theirs,
        Ok(Err(e)) => return Err(handshake(e.to_string())),
        Err(_) => return Err(handshake(format!("handshake with {peer_addr} timed out"))),
    };
    let (rd, wr) = stream.split_for(inner.config.mode).map_err(|e| {
        handshake(format!(
            "cannot set up the connection with {peer_addr}: {e}"
        ))
    })?;
    if revivable {
        // Not open (the link's end still under way): `attach` fails and the peer tries again.
        inner.revive();
    }
    let id = inner.attach(&auth, theirs).map_err(handshake)?;
    reader.set_max_body(inner.config.max_frame);
    let task = connection::spawn(&inner, id, reader, rd, wr);
    if let Err(mpsc::error::SendError((id, task))) = keeper.send((id, task)) {
        // The keeper is gone (the node shut down): nothing may run unsupervised.
        task.abort();
        inner.detach(id, "the link no longer accepts connections", false);
        return Err(handshake(
            "the link no longer accepts connections".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_accepts_wait_longer_and_longer_up_to_a_bound_and_log_less_and_less() {
        let mut b = AcceptBackoff::default();
        let mut delays = Vec::new();
        let mut logged = Vec::new();
        for n in 1..=40u32 {
            let (delay, log) = b.failed();
            delays.push(delay);
            if log {
                logged.push(n);
            }
        }
        assert_eq!(delays[0], AcceptBackoff::FIRST);
        assert_eq!(delays[1], 2 * AcceptBackoff::FIRST);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert!(delays.iter().all(|d| *d <= AcceptBackoff::MAX));
        assert_eq!(delays[39], AcceptBackoff::MAX);
        assert_eq!(logged, vec![1, 2, 4, 8, 16, 32]);
        // Success starts over.
        b.succeeded();
        assert_eq!(b.failed(), (AcceptBackoff::FIRST, true));
        // A very long streak neither overflows nor logs often.
        b.failures = u32::MAX - 1;
        assert_eq!(b.failed().0, AcceptBackoff::MAX);
        assert_eq!(b.failed().0, AcceptBackoff::MAX);
    }

    #[test]
    fn the_loop_waits_after_running_out_of_descriptors_not_after_one_refused_peer() {
        use std::io::{Error, ErrorKind};
        for errno in [
            rustix::io::Errno::MFILE,
            rustix::io::Errno::NFILE,
            rustix::io::Errno::NOBUFS,
            rustix::io::Errno::NOMEM,
        ] {
            assert!(waits_after(&Error::from_raw_os_error(errno.raw_os_error())));
        }
        assert!(!waits_after(&Error::new(
            ErrorKind::PermissionDenied,
            "another uid"
        )));
        assert!(!waits_after(&Error::from(ErrorKind::ConnectionAborted)));
    }
}
