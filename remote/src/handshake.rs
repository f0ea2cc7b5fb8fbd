//! The two-way handshake: hello, HMAC proof in both directions, schema agreement, verdict.
//!
//! Both sides run the same steps at once (see `docs/remote.md`):
//!
//! 1. **Hello**: protocol version, instance id, incarnation, a fresh 32-byte random challenge,
//!    the schema digest, and the largest frame body the node accepts (its `max_frame`); the
//!    frame's name is the node's name. A hello of another protocol version is refused, naming
//!    both versions. Each side learns the peer's limit here ([`Authenticated::max_frame`]):
//!    the link refuses to queue a frame larger than it, and reports lost the ones queued
//!    before it was known.
//! 2. **Proof**: `HMAC-SHA256(secret, "mycelium-remote/1 proof" || own hello || peer hello)`,
//!    over both hello frames exactly as they travelled. Each side proves knowledge of the
//!    secret over the other's fresh challenge; the prover's hello comes first, so a proof
//!    reflected back is never valid.
//! 3. **Schema**: equal digests agree; otherwise both send their canonical schema and the
//!    compatibility check (`mycelium_codegen::compat::check`) decides, on both sides.
//! 4. **Verdict**: accept (with the resume point of the link, see `session`) or refuse with a
//!    reason. A side that refuses sends its verdict and closes; nothing from the peer ever
//!    reaches an actor.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::config::MIN_MAX_FRAME;
use crate::error::HandshakeError;
use crate::frame::{encode_frame, FrameSpec, Kind, HANDSHAKE_MAX_BODY};
use crate::reader::{FrameReader, ReadError};
use crate::schema::{self, LocalSchema};
use crate::secret::Secret;

/// Version of the link protocol in the hello.
/// Version 4 added the sender's `max_frame`; 3 added the incarnation; 2 bound the prover's
/// role in the proof.
pub const PROTOCOL_VERSION: u8 = 4;
const PROOF_LABEL: &[u8] = b"mycelium-remote/1 proof";
const HELLO_LEN: usize = 1 + 8 + 8 + 32 + 32 + 4;

/// What one side brings to a handshake.
#[derive(Clone, Debug)]
pub struct Identity {
    /// This node's name.
    pub node: String,
    /// This process's instance id: random, fresh at every start (unless
    /// `NodeBuilder::instance` fixes it); what events and loss reports name.
    pub instance: u64,
    /// This node's incarnation: random at every start, never chosen, never 0. A link's
    /// state for a peer refers to the peer's incarnation, so a process given an instance id
    /// again is still a new peer.
    pub incarnation: u64,
    /// The schema this node speaks.
    pub schema: LocalSchema,
    /// The shared secret.
    pub secret: Secret,
    /// The largest frame body this node accepts (its `LinkConfig::max_frame`), declared in
    /// the hello; a value below [`MIN_MAX_FRAME`] is sent as that.
    pub max_frame: u32,
}

/// A peer that proved it knows the secret and speaks an agreeable schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// The peer's node name.
    pub node: String,
    /// The peer's instance id.
    pub instance: u64,
    /// The peer's incarnation ([`Identity::incarnation`]).
    pub incarnation: u64,
    /// The peer's schema digest.
    pub digest: [u8; 32],
    /// The largest frame body the peer accepts (at least [`MIN_MAX_FRAME`]).
    pub max_frame: u32,
}

/// Where a link resumes: sent in the accepting verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Resume {
    /// The peer incarnation our state for this peer refers to (0: none, no connection from
    /// the peer was ever installed here).
    pub known_incarnation: u64,
    /// The last data sequence number delivered in order from that instance.
    pub received: u64,
    /// The sequence number of the first data frame we will send (resent or new).
    pub first_seq: u64,
}

struct Hello {
    instance: u64,
    incarnation: u64,
    challenge: [u8; 32],
    digest: [u8; 32],
    max_frame: u32,
}

fn read_err(peer: &str, e: ReadError) -> HandshakeError {
    match e {
        ReadError::Io(source) => HandshakeError::Io {
            peer: peer.to_owned(),
            source,
        },
        other => HandshakeError::Protocol {
            peer: peer.to_owned(),
            reason: other.to_string(),
        },
    }
}

async fn send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    peer: &str,
    spec: FrameSpec<'_>,
    payload: &[u8],
) -> Result<(), HandshakeError> {
    send_max(stream, peer, spec, payload, HANDSHAKE_MAX_BODY).await
}

async fn send_max<S: AsyncWrite + Unpin>(
    stream: &mut S,
    peer: &str,
    spec: FrameSpec<'_>,
    payload: &[u8],
    max_body: u32,
) -> Result<(), HandshakeError> {
    let mut out = Vec::with_capacity(64 + payload.len());
    encode_frame(&mut out, &spec, max_body, |o| o.extend_from_slice(payload)).map_err(|e| {
        HandshakeError::Protocol {
            peer: peer.to_owned(),
            reason: e.to_string(),
        }
    })?;
    stream
        .write_all(&out)
        .await
        .map_err(|source| HandshakeError::Io {
            peer: peer.to_owned(),
            source,
        })
}

/// A write of the handshake failed with `e`. A peer that refused the link sends its
/// refusing verdict and closes, and a write that comes after its close fails (a broken
/// pipe, a reset) while the verdict may still wait to be read: the refusal is the error then,
/// with its reason, since a peer that refused is not tried again and a person reads why.
/// Reads at most a few frames, and only what arrived: the peer closed.
async fn refusal_or<S: AsyncRead + Unpin>(
    stream: &mut S,
    reader: &mut FrameReader,
    peer: &str,
    e: HandshakeError,
) -> HandshakeError {
    if !matches!(e, HandshakeError::Io { .. }) {
        return e;
    }
    for _ in 0..4 {
        match reader.read_frame(stream).await {
            Ok(f) if f.kind == Kind::Verdict && f.payload.first() == Some(&0) => {
                return HandshakeError::Refused {
                    peer: peer.to_owned(),
                    reason: verdict_reason(f.payload),
                }
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    e
}

/// The error of the first read of a handshake: a peer that closed the connection before a
/// single byte came is [`HandshakeError::Silent`].
fn first_read_err(peer: &str, reader: &FrameReader, e: ReadError) -> HandshakeError {
    match e {
        ReadError::Eof { .. } if !reader.received_any() => HandshakeError::Silent {
            peer: peer.to_owned(),
        },
        other => silenced(peer, reader, read_err(peer, other)),
    }
}

/// `e`, or [`HandshakeError::Silent`] when it is the socket error of a peer that closed or
/// reset the connection before a byte of it came (not, say, a TLS alert, which says why).
fn silenced(peer: &str, reader: &FrameReader, e: HandshakeError) -> HandshakeError {
    match e {
        HandshakeError::Io { source, .. }
            if !reader.received_any()
                && matches!(
                    source.kind(),
                    std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                ) =>
        {
            HandshakeError::Silent {
                peer: peer.to_owned(),
            }
        }
        other => other,
    }
}

/// At the dialling side, `e` from the accepting node closing the connection before its
/// verdict without a word (at its limit of handshakes, or its deadline passed) is
/// [`HandshakeError::Dropped`], which names those causes; on the accepting side it stays as
/// it is.
fn dropped(dialler: bool, peer: &str, e: HandshakeError) -> HandshakeError {
    let closed = match &e {
        HandshakeError::Silent { .. } => true,
        HandshakeError::Io { source, .. } => matches!(
            source.kind(),
            std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    };
    if dialler && closed {
        HandshakeError::Dropped {
            peer: peer.to_owned(),
        }
    } else {
        e
    }
}

/// [`read_err`], with a clean end of the stream seen by the dialling side as
/// [`HandshakeError::Dropped`] (see [`dropped`]).
fn read_err_at(dialler: bool, peer: &str, e: ReadError) -> HandshakeError {
    match e {
        ReadError::Eof { .. } if dialler => HandshakeError::Dropped {
            peer: peer.to_owned(),
        },
        other => dropped(dialler, peer, read_err(peer, other)),
    }
}

fn transcript(node: &str, hello: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(2 + node.len() + hello.len());
    t.push(node.len() as u8);
    t.extend_from_slice(node.as_bytes());
    t.extend_from_slice(hello);
    t
}

/// The proof of the side that dialled, or of the side that accepted: a proof binds its
/// prover's role, so a relay that connects to two listening nodes and passes each the other's
/// hello and proof authenticates to neither (each sees a listener's proof where it expects a
/// dialler's).
#[derive(Clone, Copy)]
enum Role {
    Dialled,
    Accepted,
}

fn proof(
    secret: &Secret,
    prover: Role,
    prover_hello: &[u8],
    verifier_hello: &[u8],
    peer: &str,
) -> Result<Hmac<Sha256>, HandshakeError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.bytes()).map_err(|e| HandshakeError::Protocol {
            peer: peer.to_owned(),
            reason: format!("cannot key HMAC-SHA256: {e}"),
        })?;
    mac.update(PROOF_LABEL);
    mac.update(match prover {
        Role::Dialled => b"d",
        Role::Accepted => b"a",
    });
    mac.update(&(prover_hello.len() as u32).to_le_bytes());
    mac.update(prover_hello);
    mac.update(verifier_hello);
    Ok(mac)
}

/// A fresh random challenge from the operating system.
fn challenge() -> Result<[u8; 32], HandshakeError> {
    let mut c = [0u8; 32];
    getrandom::fill(&mut c).map_err(|e| HandshakeError::Io {
        peer: String::new(),
        source: std::io::Error::other(format!("no randomness for the challenge: {e}")),
    })?;
    Ok(c)
}

/// A fresh random instance id.
pub fn new_instance_id() -> u64 {
    loop {
        match getrandom::u64() {
            Ok(0) => continue,
            Ok(id) => return id,
            // Without OS randomness, fall back on time and process id: unique enough to tell
            // a restarted process from its predecessor.
            Err(_) => {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1);
                return (t ^ (u64::from(std::process::id()) << 32)) | 1;
            }
        }
    }
}

/// Runs steps 1-3. `expected` names the node we dialled (`None` when accepting: any node in
/// `allowed` may introduce itself). On failure a refusing verdict is sent (best effort) and
/// the error says why; the caller logs it with the peer's address.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    reader: &mut FrameReader,
    me: &Identity,
    peer: &str,
    expected: Option<&str>,
    allowed: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Authenticated, HandshakeError> {
    let dialler = expected.is_some();
    let my_challenge = challenge()?;
    let mut hello = Vec::with_capacity(HELLO_LEN);
    hello.push(PROTOCOL_VERSION);
    hello.extend_from_slice(&me.instance.to_le_bytes());
    hello.extend_from_slice(&me.incarnation.to_le_bytes());
    hello.extend_from_slice(&my_challenge);
    hello.extend_from_slice(&me.schema.digest);
    hello.extend_from_slice(&me.max_frame.max(MIN_MAX_FRAME).to_le_bytes());
    let mut spec = FrameSpec::control(Kind::Hello);
    spec.name = &me.node;
    if let Err(e) = send(stream, peer, spec, &hello).await {
        // A peer gone before a byte of it came, with no refusal to read, said nothing.
        let e = refusal_or(stream, reader, peer, e).await;
        return Err(dropped(dialler, peer, silenced(peer, reader, e)));
    }
    let my_hello = transcript(&me.node, &hello);

    let protocol = |reason: String| HandshakeError::Protocol {
        peer: peer.to_owned(),
        reason,
    };
    let (their_hello_bytes, their, their_node) = {
        let f = match reader.read_frame(stream).await {
            Ok(f) => f,
            Err(e) => return Err(dropped(dialler, peer, first_read_err(peer, reader, e))),
        };
        if f.kind != Kind::Hello {
            return Err(protocol(format!("expected a hello, got {:?}", f.kind)));
        }
        let p = f.payload;
        match p.first() {
            Some(&PROTOCOL_VERSION) => {}
            Some(version) => {
                return Err(protocol(format!(
                    "the peer speaks link protocol version {version}, this node version \
                     {PROTOCOL_VERSION}; run the same version of mycelium-remote on both nodes"
                )))
            }
            None => return Err(protocol("an empty hello".into())),
        }
        if p.len() != HELLO_LEN {
            return Err(protocol(format!(
                "hello of {} bytes, expected {HELLO_LEN} for protocol version {PROTOCOL_VERSION}",
                p.len()
            )));
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&p[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let mut challenge = [0u8; 32];
        challenge.copy_from_slice(&p[17..49]);
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&p[49..81]);
        let mut max_frame = [0u8; 4];
        max_frame.copy_from_slice(&p[81..85]);
        let hello = Hello {
            instance: word(1),
            incarnation: word(9),
            challenge,
            digest,
            max_frame: u32::from_le_bytes(max_frame),
        };
        (transcript(f.name, p), hello, f.name.to_owned())
    };
    if their.challenge == my_challenge || their.incarnation == me.incarnation {
        return Err(protocol("the peer echoed our own hello".into()));
    }
    if their.incarnation == 0 {
        return Err(protocol(
            "hello with incarnation 0 (0 stands for none)".into(),
        ));
    }
    if their.max_frame < MIN_MAX_FRAME {
        return Err(protocol(format!(
            "hello declaring a largest frame body of {} bytes, below the least of {MIN_MAX_FRAME}",
            their.max_frame
        )));
    }

    let (my_role, their_role) = match expected {
        Some(_) => (Role::Dialled, Role::Accepted),
        None => (Role::Accepted, Role::Dialled),
    };
    let mine = proof(&me.secret, my_role, &my_hello, &their_hello_bytes, peer)?
        .finalize()
        .into_bytes();
    if let Err(e) = send(stream, peer, FrameSpec::control(Kind::Proof), &mine).await {
        let e = refusal_or(stream, reader, peer, e).await;
        return Err(dropped(dialler, peer, e));
    }
    let their_proof = {
        let f = reader
            .read_frame(stream)
            .await
            .map_err(|e| read_err_at(dialler, peer, e))?;
        match f.kind {
            Kind::Proof => f.payload.to_vec(),
            Kind::Verdict => {
                return Err(HandshakeError::Refused {
                    peer: peer.to_owned(),
                    reason: verdict_reason(f.payload),
                })
            }
            other => return Err(protocol(format!("expected a proof, got {other:?}"))),
        }
    };
    if proof(&me.secret, their_role, &their_hello_bytes, &my_hello, peer)?
        .verify_slice(&their_proof)
        .is_err()
    {
        refuse(
            stream,
            peer,
            "authentication failed: wrong or missing shared secret",
        )
        .await;
        return Err(HandshakeError::AuthFailed {
            peer: peer.to_owned(),
        });
    }

    let node_ok = match expected {
        Some(name) => their_node == name,
        None => allowed(&their_node),
    };
    if !node_ok {
        let expected = match expected {
            Some(name) => format!("`{name}`, the node dialled"),
            None => "a node of this topology".to_owned(),
        };
        refuse(stream, peer, &format!("unexpected node `{their_node}`")).await;
        return Err(HandshakeError::UnexpectedNode {
            peer: peer.to_owned(),
            node: their_node,
            expected,
        });
    }

    if !schema::same(&me.schema, &their.digest) {
        agree_schemas(stream, reader, me, peer, &their.digest).await?;
    }
    Ok(Authenticated {
        node: their_node,
        instance: their.instance,
        incarnation: their.incarnation,
        digest: their.digest,
        max_frame: their.max_frame,
    })
}

/// Largest schema frame body: a canonical schema the checker accepts, and the link header.
const SCHEMA_MAX_BODY: u32 = mycelium_codegen::check::MAX_SCHEMA_BYTES as u32 + 1024;

/// Different digests: both sides send their canonical schema and accept only if the
/// compatibility check does; otherwise both refuse, naming both digests and the first
/// incompatible message and field. Runs after authentication, so the larger frame is read
/// only from a peer that knows the secret.
async fn agree_schemas<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    reader: &mut FrameReader,
    me: &Identity,
    peer: &str,
    their_digest: &[u8; 32],
) -> Result<(), HandshakeError> {
    let canonical = me.schema.canonical();
    reader.set_max_body(SCHEMA_MAX_BODY);
    if let Err(e) = send_max(
        stream,
        peer,
        FrameSpec::control(Kind::Schema),
        canonical.as_bytes(),
        SCHEMA_MAX_BODY,
    )
    .await
    {
        return Err(refusal_or(stream, reader, peer, e).await);
    }
    let theirs = {
        let f = reader
            .read_frame(stream)
            .await
            .map_err(|e| read_err(peer, e))?;
        match f.kind {
            Kind::Schema => String::from_utf8_lossy(f.payload).into_owned(),
            Kind::Verdict => {
                return Err(HandshakeError::Refused {
                    peer: peer.to_owned(),
                    reason: verdict_reason(f.payload),
                })
            }
            other => {
                return Err(HandshakeError::Protocol {
                    peer: peer.to_owned(),
                    reason: format!("expected a schema, got {other:?}"),
                })
            }
        }
    };
    reader.set_max_body(HANDSHAKE_MAX_BODY);
    match schema::agree(&me.schema, their_digest, &theirs) {
        Ok(report) => {
            tracing::info!(target: "mycelium::remote", peer, %report, "peer schema differs but is compatible");
            Ok(())
        }
        Err(detail) => {
            let err = HandshakeError::SchemaMismatch {
                peer: peer.to_owned(),
                local: mycelium_codegen::digest::hex(&me.schema.digest),
                remote: mycelium_codegen::digest::hex(their_digest),
                detail,
            };
            refuse(stream, peer, &err.to_string()).await;
            Err(err)
        }
    }
}

/// Step 4: sends an accepting verdict with our resume point, reads the peer's.
pub async fn finish<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    reader: &mut FrameReader,
    peer: &str,
    resume: Resume,
) -> Result<Resume, HandshakeError> {
    let mut v = Vec::with_capacity(25);
    v.push(1);
    v.extend_from_slice(&resume.known_incarnation.to_le_bytes());
    v.extend_from_slice(&resume.received.to_le_bytes());
    v.extend_from_slice(&resume.first_seq.to_le_bytes());
    if let Err(e) = send(stream, peer, FrameSpec::control(Kind::Verdict), &v).await {
        return Err(refusal_or(stream, reader, peer, e).await);
    }
    let f = reader
        .read_frame(stream)
        .await
        .map_err(|e| read_err(peer, e))?;
    if f.kind != Kind::Verdict {
        return Err(HandshakeError::Protocol {
            peer: peer.to_owned(),
            reason: format!("expected a verdict, got {:?}", f.kind),
        });
    }
    let p = f.payload;
    if p.first() != Some(&1) {
        return Err(HandshakeError::Refused {
            peer: peer.to_owned(),
            reason: verdict_reason(p),
        });
    }
    if p.len() != 25 {
        return Err(HandshakeError::Protocol {
            peer: peer.to_owned(),
            reason: format!("accepting verdict of {} bytes, expected 25", p.len()),
        });
    }
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&p[at..at + 8]);
        u64::from_le_bytes(b)
    };
    Ok(Resume {
        known_incarnation: word(1),
        received: word(9),
        first_seq: word(17),
    })
}

fn verdict_reason(payload: &[u8]) -> String {
    crate::frame::peer_text(payload.get(1..).unwrap_or(&[]))
}

/// Sends a refusing verdict with `reason` (best effort) and closes the stream.
pub(crate) async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, peer: &str, reason: &str) {
    let mut v = Vec::with_capacity(1 + reason.len());
    v.push(0);
    let max = HANDSHAKE_MAX_BODY as usize - 64;
    let mut end = reason.len().min(max);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    v.extend_from_slice(&reason.as_bytes()[..end]);
    // Best effort: the peer may already be gone.
    let _ = send(stream, peer, FrameSpec::control(Kind::Verdict), &v).await;
    let _ = stream.shutdown().await;
}
