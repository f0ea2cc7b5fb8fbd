//! Establishing connections: the dialling side's reconnect loop, a supervised actor per
//! link. The accepting side is in `accept.rs`.

use std::sync::Arc;

use std::time::Duration;

use std::sync::atomic::{AtomicU32, Ordering};

use mycelium_actors::{Actor, BoxError, Context, DetRng, Handler};
use mycelium_supervisor::{
    ChildSpec, Restart, RestartStrategy, Shutdown, Supervisor, SupervisorRef,
};
use tokio::task::JoinHandle;

use crate::connection;
use crate::error::HandshakeError;
use crate::event::LinkEventKind;
use crate::frame::HANDSHAKE_MAX_BODY;
use crate::handshake;
use crate::link::{Inner, Link};
use crate::reader::FrameReader;
use crate::tls::ClientTls;
use crate::transport::{Endpoint, Stream};

/// Finds the link for a peer node that introduced itself; `None` refuses the peer.
pub type Resolver = Arc<dyn Fn(&str) -> Option<Link> + Send + Sync>;

/// Why one attempt to establish a connection failed.
enum Failure {
    /// Worth retrying (the peer is down, a timeout, a connection reset).
    Transient(String),
    /// Retrying would fail again (wrong secret, schema mismatch, wrong node).
    Permanent(String),
}

fn classify(e: HandshakeError) -> Failure {
    // A peer that refused our certificate says so with a TLS alert, which (TLS 1.3) arrives
    // on the first read after the TLS handshake: retrying cannot help.
    #[cfg(feature = "tls")]
    if let HandshakeError::Io { source, peer } = &e {
        if let Some(tls) = crate::tls::rustls_error(source) {
            let (problem, permanent) = crate::tls::explain(tls);
            let reason = format!("TLS with {peer} failed: {problem}");
            return if permanent {
                Failure::Permanent(reason)
            } else {
                Failure::Transient(reason)
            };
        }
    }
    match e {
        HandshakeError::AuthFailed { .. }
        | HandshakeError::SchemaMismatch { .. }
        | HandshakeError::Refused { .. }
        | HandshakeError::UnexpectedNode { .. } => Failure::Permanent(e.to_string()),
        other => Failure::Transient(other.to_string()),
    }
}

/// The dialling side of a link as a supervised actor: one [`Supervisor`] per dialled link,
/// with one transient child, the [`Driver`], which runs the connect–handshake–run loop in a
/// handler. Its arguments hold the [`Link`] itself (its log, sequencing, resume point and asks
/// in flight live there), so a restarted driver resumes where the last connection stopped:
/// nothing in the log is lost or resent twice.
///
/// - A connection task that panics: the connection is detached (asks in flight fail at once,
///   `Down` event), the panic fails the driver, and the supervisor restarts it after its
///   backoff (the link's `backoff`); the new incarnation reconnects and resumes. After
///   `max_attempts` consecutive panics the link gives up (loss report), as after failed
///   attempts.
/// - A failed attempt (peer down, timeout): retried inside the driver after the backoff delay
///   (bus time, jitter from `seed`), until `max_attempts` consecutive failures; a refusal
///   (secret, schema, node, TLS certificate) gives up at once. Giving up ends the driver
///   normally: it is not restarted.
///
/// `number` is the dialler's (`Inner::start_dialler`): it stops once a newer one drives the
/// link, and stops the supervisor of the dialler before it (whose driver ended, or stops
/// driving) before it starts its own. Returns the task that starts the supervisor; the
/// supervisor is kept in `supervisors` so the node can stop it.
pub(crate) fn dial(
    link: Link,
    number: u64,
    endpoint: Endpoint,
    tls: Option<ClientTls>,
    seed: u64,
    bus: mycelium_actors::Bus,
    supervisors: Arc<std::sync::Mutex<Vec<SupervisorRef>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let inner = link.inner.clone();
        // A link that gave up is dialled again once its end is over (`Node::connect`).
        inner.revive_when_ended().await;
        let mut kept = inner.dialler_supervisor.lock().await;
        if !inner.drives(number) {
            // A newer dialler was started meanwhile.
            return;
        }
        if let Some(older) = kept.take() {
            // Its driver ended, or stops driving: nothing of it is left on the bus.
            forget(&supervisors, &older);
            older.stop().await;
        }
        let peer = inner.peer.clone();
        let args = DriverArgs {
            link,
            number,
            endpoint,
            tls,
            seed,
            panics: Arc::new(AtomicU32::new(0)),
        };
        let observed = peer.clone();
        let spawned = Supervisor::builder(RestartStrategy::OneForOne)
            .backoff(inner.config.backoff.clone())
            // Never give up at the supervisor (at the root that would fail the bus): the
            // driver counts its own panics and gives the link up.
            .intensity(u32::MAX, Duration::from_secs(1))
            .on_event(move |event| {
                tracing::info!(target: "mycelium::remote", peer = %observed, ?event, "link driver supervision");
            })
            .child(
                ChildSpec::new::<Driver>(format!("link:{peer}"), args)
                    .restart(Restart::Transient)
                    // Its handler runs the link for as long as it lives: stopped, it is killed.
                    .shutdown(Shutdown::Immediate),
            )
            .spawn(&bus)
            .await;
        match spawned {
            Ok(sup) => {
                supervisors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(sup.clone());
                *kept = Some(sup);
            }
            Err(e) => {
                inner.dialler_ended(number);
                inner.give_up(&format!("the link's supervisor did not start: {e}"));
            }
        }
    })
}

/// Removes `sup` from the node's supervisors, for the next dialler to stop it.
fn forget(supervisors: &std::sync::Mutex<Vec<SupervisorRef>>, sup: &SupervisorRef) {
    supervisors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|s| s.id() != sup.id());
}

/// What a [`Driver`] is built from, at every (re)start. The [`Link`] is shared: it is the
/// state that must survive a restart.
#[derive(Clone)]
pub(crate) struct DriverArgs {
    link: Link,
    /// The dialler's number (`Inner::start_dialler`).
    number: u64,
    endpoint: Endpoint,
    tls: Option<ClientTls>,
    seed: u64,
    /// Consecutive incarnations that ended in a panic.
    panics: Arc<AtomicU32>,
}

/// The dialling side's connection driver: a supervised actor (see [`dial`]).
pub(crate) struct Driver {
    args: DriverArgs,
}

/// Starts the driver's loop (sent by the driver to itself at every start).
struct Run;

impl Actor for Driver {
    type Args = DriverArgs;
    async fn on_start(args: DriverArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.actor_ref()
            .try_tell(Run)
            .map_err(|_| "the link driver could not start its loop")?;
        Ok(Driver { args })
    }
}

impl Handler<Run> for Driver {
    type Reply = ();
    async fn handle(&mut self, _: Run, ctx: &mut Context<Self>) {
        let args = &self.args;
        let inner = &args.link.inner;
        let panics = args.panics.load(Ordering::Relaxed);
        if panics >= inner.config.attempts() {
            inner.give_up(&format!(
                "the link's connection task panicked {panics} times in a row"
            ));
        } else {
            drive(args, ctx.incarnation()).await;
        }
        inner.dialler_ended(args.number);
        ctx.stop();
    }
}

/// The connect–handshake–run loop; returns when the link is closed or gives up, or when a
/// newer dialler drives it. A panic of the connection task is resumed here, failing the
/// driver.
async fn drive(args: &DriverArgs, incarnation: u32) {
    let inner = &args.link.inner;
    let mut rng = DetRng::new(
        args.seed ^ fnv1a(inner.peer.as_bytes()) ^ u64::from(incarnation).rotate_left(32),
    );
    let mut attempt: u32 = 0;
    loop {
        if inner.lock().closed.is_some() || !inner.drives(args.number) {
            return;
        }
        inner.emit(LinkEventKind::Connecting { attempt });
        match establish(inner, args.number, &args.endpoint, args.tls.as_ref()).await {
            Ok((id, task)) => {
                attempt = 0;
                // Ends when the connection does; the link was told why.
                if let Err(e) = task.await {
                    if e.is_panic() {
                        args.panics.fetch_add(1, Ordering::Relaxed);
                        inner.detach(id, "the connection task panicked; restarting it", false);
                        std::panic::resume_unwind(e.into_panic());
                    }
                } else {
                    args.panics.store(0, Ordering::Relaxed);
                }
            }
            Err(Failure::Permanent(reason)) => {
                inner.emit(LinkEventKind::Refused {
                    reason: reason.clone(),
                });
                inner.give_up(&reason);
                return;
            }
            Err(Failure::Transient(reason)) => {
                attempt = attempt.saturating_add(1);
                tracing::debug!(target: "mycelium::remote", peer = %inner.peer, attempt, %reason, "connection attempt failed");
                if attempt >= inner.config.attempts() {
                    let attempts = if attempt == 1 {
                        "the connection attempt failed".to_owned()
                    } else {
                        format!("{attempt} connection attempts failed, the last")
                    };
                    inner.give_up(&format!("{attempts} because: {reason}"));
                    return;
                }
            }
        }
        let delay = inner
            .config
            .backoff
            .delay(attempt.saturating_sub(1), &mut rng);
        inner.clock.sleep(delay).await;
    }
}

async fn establish(
    inner: &Arc<Inner>,
    number: u64,
    endpoint: &Endpoint,
    tls: Option<&ClientTls>,
) -> Result<(u64, JoinHandle<String>), Failure> {
    let peer_addr = endpoint.to_string();
    let connect = async {
        let stream = Stream::connect(endpoint)
            .await
            .map_err(|e| Failure::Transient(e.to_string()))?;
        match tls {
            None => Ok(stream),
            Some(tls) => tls.connect(stream, &peer_addr).await.map_err(|e| {
                #[cfg(feature = "tls")]
                if let crate::tls::TlsError::Handshake {
                    permanent: true, ..
                } = &e
                {
                    return Failure::Permanent(e.to_string());
                }
                Failure::Transient(e.to_string())
            }),
        }
    };
    let stream = match inner
        .clock
        .timeout(inner.config.connect_timeout, connect)
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(failure)) => return Err(failure),
        Err(_) => {
            return Err(Failure::Transient(format!(
                "connecting to {peer_addr} timed out"
            )))
        }
    };
    let handshake = async {
        let mut stream = stream;
        let mut reader = FrameReader::new(HANDSHAKE_MAX_BODY);
        let auth = handshake::authenticate(
            &mut stream,
            &mut reader,
            &inner.me,
            &peer_addr,
            Some(&inner.peer),
            &|_| false,
        )
        .await?;
        let resume = inner.resume_point(&auth);
        let theirs = handshake::finish(&mut stream, &mut reader, &peer_addr, resume).await?;
        Ok::<_, HandshakeError>((stream, reader, auth, theirs))
    };
    let (stream, mut reader, auth, theirs) = match inner
        .clock
        .timeout(inner.config.handshake_timeout, handshake)
        .await
    {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            tracing::warn!(target: "mycelium::remote", peer = %peer_addr, error = %e, "handshake failed");
            return Err(classify(e));
        }
        Err(_) => {
            return Err(Failure::Transient(
                HandshakeError::Timeout { peer: peer_addr }.to_string(),
            ))
        }
    };
    let (rd, wr) = stream.split_for(inner.config.mode).map_err(|e| {
        Failure::Transient(format!(
            "cannot set up the connection with {peer_addr}: {e}"
        ))
    })?;
    if !inner.drives(number) {
        // Its connection would replace the newer dialler's.
        return Err(Failure::Transient(
            "a newer dialler drives the link".to_owned(),
        ));
    }
    let id = inner.attach(&auth, theirs).map_err(Failure::Transient)?;
    reader.set_max_body(inner.config.max_frame);
    let task = connection::spawn(inner, id, reader, rd, wr);
    Ok((id, task))
}

/// FNV-1a: mixes the peer's name into the jitter seed, stable across runs and releases.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
