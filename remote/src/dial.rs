//! Establishing connections: the dialling side's reconnect loop and the accepting side's
//! listener, whose handshakes run on their own tasks, off the accept loop.

use std::sync::Arc;

use std::time::Duration;

use mycelium_actors::{Clock, DetRng};
use tokio::task::JoinHandle;

use crate::connection;
use crate::error::HandshakeError;
use crate::event::LinkEventKind;
use crate::frame::HANDSHAKE_MAX_BODY;
use crate::handshake::{self, Identity};
use crate::link::{Inner, Link};
use crate::reader::FrameReader;
use crate::transport::{Endpoint, Listener, Stream};

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
    match e {
        HandshakeError::AuthFailed { .. }
        | HandshakeError::SchemaMismatch { .. }
        | HandshakeError::Refused { .. }
        | HandshakeError::UnexpectedNode { .. } => Failure::Permanent(e.to_string()),
        other => Failure::Transient(other.to_string()),
    }
}

/// Starts the dialling side of `link`: connect, handshake, run, and on failure reconnect after
/// the backoff delay (bus time, jitter from `seed`), until `max_attempts` consecutive failures
/// or a refusal; then the link gives up.
pub fn dial(link: Link, endpoint: Endpoint, seed: u64) -> JoinHandle<()> {
    tokio::spawn(async move {
        let inner = link.inner.clone();
        let mut rng = DetRng::new(seed ^ fnv1a(inner.peer.as_bytes()));
        let mut attempt: u32 = 0;
        loop {
            if inner.lock().closed.is_some() {
                return;
            }
            inner.emit(LinkEventKind::Connecting { attempt });
            match establish(&inner, &endpoint).await {
                Ok(task) => {
                    attempt = 0;
                    // Ends when the connection does; the link was told why.
                    let _ = task.await;
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
                    if attempt >= inner.config.max_attempts {
                        inner.give_up(&format!(
                            "{attempt} connection attempts failed, the last because: {reason}"
                        ));
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
    })
}

async fn establish(inner: &Arc<Inner>, endpoint: &Endpoint) -> Result<JoinHandle<String>, Failure> {
    let peer_addr = endpoint.to_string();
    let stream = match inner
        .clock
        .timeout(inner.config.connect_timeout, Stream::connect(endpoint))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(Failure::Transient(e.to_string())),
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
    let id = inner.attach(&auth, theirs).map_err(Failure::Transient)?;
    reader.set_max_body(inner.config.max_frame);
    let (rd, wr) = stream.into_split();
    let task = tokio::spawn(connection::run(inner.clone(), id, reader, rd, wr));
    inner.set_task(id, task.abort_handle());
    Ok(task)
}

/// Accepts connections on `listener` until the returned task is aborted. Each handshake runs
/// on its own task under the handshake deadline; a peer that fails it is logged with its
/// address and never reaches a link.
pub fn accept(
    listener: Listener,
    me: Identity,
    resolve: Resolver,
    clock: Clock,
    handshake_timeout: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (stream, peer_addr) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // A refused Unix peer (other uid) or a transient accept error: the
                    // listener goes on.
                    tracing::warn!(target: "mycelium::remote", error = %e, "connection refused at accept");
                    continue;
                }
            };
            let me = me.clone();
            let resolve = resolve.clone();
            let clock = clock.clone();
            tokio::spawn(async move {
                let first = (&clock, handshake_timeout);
                if let Err(reason) = accepted(stream, &peer_addr, &me, &resolve, first).await {
                    tracing::warn!(target: "mycelium::remote", peer = %peer_addr, %reason, "incoming connection refused");
                }
            });
        }
    })
}

async fn accepted(
    mut stream: Stream,
    peer_addr: &str,
    me: &Identity,
    resolve: &Resolver,
    (clock, deadline): (&Clock, Duration),
) -> Result<(), String> {
    let mut reader = FrameReader::new(HANDSHAKE_MAX_BODY);
    let first = clock
        .timeout(
            deadline,
            handshake::authenticate(&mut stream, &mut reader, me, peer_addr, None, &|node| {
                resolve(node).is_some()
            }),
        )
        .await;
    let auth = match first {
        Ok(Ok(auth)) => auth,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => {
            return Err(HandshakeError::Timeout {
                peer: peer_addr.to_owned(),
            }
            .to_string())
        }
    };
    let Some(link) = resolve(&auth.node) else {
        return Err(format!("node `{}` is not known", auth.node));
    };
    let inner = link.inner.clone();
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
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("handshake with {peer_addr} timed out")),
    };
    let id = inner.attach(&auth, theirs)?;
    reader.set_max_body(inner.config.max_frame);
    let (rd, wr) = stream.into_split();
    let task = tokio::spawn(connection::run(inner.clone(), id, reader, rd, wr));
    inner.set_task(id, task.abort_handle());
    let _ = task.await;
    // The peer dials again; if it does not within `give_up_after`, the link gives up.
    let generation = inner.generation();
    inner.clock.sleep(inner.config.give_up_after).await;
    if inner.generation() == generation && !link.is_up() {
        inner.give_up(&format!(
            "the peer did not reconnect within {:?}",
            inner.config.give_up_after
        ));
    }
    Ok(())
}

/// FNV-1a: mixes the peer's name into the jitter seed, stable across runs and releases.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
