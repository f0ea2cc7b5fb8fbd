//! Joining a split deployment: this bus as one node of a `topology.toml`, and tell/ask that
//! reach a service wherever the topology puts it.

use std::ffi::c_char;
use std::sync::Arc;

use mycelium_contracts::SCHEMA_DIGEST;
use mycelium_foreign::recording::{
    report_answered_bytes, report_sent_by_name, report_sent_to_node,
};
use mycelium_foreign::{ForeignAskError, HostedBus};
use mycelium_remote::{DispatchError, LocalSchema, Node, RemoteAskError, RemoteService, SendError};

use crate::actor::{subscribe_with, timeout, MycActor, MycSubscription};
use crate::bus::MycBus;
use crate::call::MycBytes;
use crate::error::{bytes, guard, handle, put, text, writable, Error, MycStatus};

/// This bus as a node of a topology. Free with [`myc_node_free`].
pub struct MycNode {
    node: Node,
    hosted: Arc<HostedBus>,
}

impl MycNode {
    /// The service `name` when another node of the topology hosts it.
    fn remote(&self, name: &str) -> Option<RemoteService> {
        let _entered = self.hosted.handle().enter();
        self.node.service(name)
    }
}

/// The status of a remote ask's error: the same as the same mistake gets on this bus. A
/// refusal by the peer's export table comes back as its text (the reply frame carries no
/// kind), recognised here by the texts the peer's [`DispatchError`] and
/// [`ForeignAskError::NoReply`] write for this service and type id.
fn remote_error(e: RemoteAskError, service: &str, type_id: u16) -> Error {
    let status = match &e {
        RemoteAskError::NotSent(e) | RemoteAskError::Unsent { error: e, .. } => send_status(e),
        RemoteAskError::LinkDown { .. } => MycStatus::Failed,
        RemoteAskError::Failed(text) => refusal_status(text, service, type_id),
        RemoteAskError::BadReply(_) => MycStatus::WrongType,
    };
    Error::new(status, e.to_string())
}

/// What a peer's refusal text means: an unknown service, a type the service does not take,
/// a body that does not decode or a handler that gave no reply to an ask (the kinds a local
/// ask reports), or a failure of the handler.
fn refusal_status(text: &str, service: &str, type_id: u16) -> MycStatus {
    let unknown_service = DispatchError::UnknownService(service.to_string()).to_string();
    let unknown_type = DispatchError::UnknownType {
        service: service.to_string(),
        type_id,
    }
    .to_string();
    let no_reply = ForeignAskError::NoReply { type_id }.to_string();
    if text == unknown_service {
        MycStatus::UnknownService
    } else if text == unknown_type
        || text.starts_with(&format!("cannot decode type id {type_id}: "))
        || text.contains(&no_reply)
    {
        MycStatus::WrongType
    } else {
        MycStatus::Failed
    }
}

/// A message that could not be queued on a link: too large for a frame is the caller's
/// argument to fix; otherwise the link is closed for good.
pub(crate) fn send_status(e: &SendError) -> MycStatus {
    match e {
        SendError::TooLarge(_) => MycStatus::InvalidArgument,
        SendError::Closed { .. } | SendError::Full => MycStatus::Stopped,
    }
}

/// Starts node `name` of the topology file `path` on `bus`, speaking the schema of this
/// build's `contracts.yaml` (the repository's example schema, which the built-in Rust actors
/// speak): listens on the node's endpoint, dials the peers whose names sort after it, and
/// hands incoming messages to the bus's exported services. Returns once it listens; links
/// come up in the background (a tell or ask to a peer waits for its link). A bus of another
/// schema joins with [`myc_node_start_with_schema`].
///
/// # Safety
/// `bus` is live; `path` and `name` NUL-terminated strings; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_node_start(
    bus: *const MycBus,
    path: *const c_char,
    name: *const c_char,
    out: *mut *mut MycNode,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        unsafe {
            start(
                bus,
                path,
                name,
                LocalSchema::from_digest(SCHEMA_DIGEST),
                out,
            )
        }
    })
}

/// As [`myc_node_start`], speaking the schema whose digest is `schema_digest` (64 lowercase
/// hex digits: `mycelium-codegen digest FILE`, or `schema_digest` of a generated module).
/// The handshake refuses a peer that speaks another schema, naming both digests.
/// `InvalidArgument` for a digest that is not 64 hex digits.
///
/// # Safety
/// `bus` is live; `path`, `name` and `schema_digest` NUL-terminated strings; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_node_start_with_schema(
    bus: *const MycBus,
    path: *const c_char,
    name: *const c_char,
    schema_digest: *const c_char,
    out: *mut *mut MycNode,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let hex = unsafe { text(schema_digest, "schema_digest")? };
        let digest = parse_digest(hex)?;
        // SAFETY: per contract.
        unsafe { start(bus, path, name, LocalSchema::from_digest(digest), out) }
    })
}

/// A schema digest from its 64 hex digits.
pub(crate) fn parse_digest(hex: &str) -> Result<[u8; 32], Error> {
    let bad = || {
        Error::invalid(format!(
            "schema digest {hex:?} is not 64 hex digits (mycelium-codegen digest FILE prints it)"
        ))
    };
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(digest)
}

/// # Safety
/// `bus` is live; `path` and `name` NUL-terminated strings; `out` writable.
unsafe fn start(
    bus: *const MycBus,
    path: *const c_char,
    name: *const c_char,
    schema: LocalSchema,
    out: *mut *mut MycNode,
) -> Result<(), Error> {
    // SAFETY: per contract.
    let (bus, path, name) = unsafe {
        (
            handle(bus, "bus")?,
            text(path, "path")?,
            text(name, "name")?,
        )
    };
    writable(out, "out")?;
    let hosted = bus.hosted.clone();
    let node = hosted
        .block_on(Node::from_topology(path, name, schema, hosted.bus()))
        .map_err(|e| Error::invalid(e.to_string()))?;
    let boxed = Box::into_raw(Box::new(MycNode { node, hosted }));
    // SAFETY: per contract.
    unsafe { put(out, boxed, "out") }
}

/// Whether another node of the topology hosts `service` (1), or not (0: a local or unknown
/// service).
///
/// # Safety
/// `node` is live; `service` a NUL-terminated string; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_node_is_remote(
    node: *const MycNode,
    service: *const c_char,
    out: *mut bool,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (node, service) = unsafe { (handle(node, "node")?, text(service, "service")?) };
        // SAFETY: per contract.
        unsafe { put(out, node.remote(service).is_some(), "out") }
    })
}

/// Tells `service` the contract message `type_id` with `body`: over the link to the node
/// that hosts it, or to this bus's export table for a local service. Waits for room.
///
/// # Safety
/// `node` is live; `service` a NUL-terminated string; `body` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn myc_node_tell(
    node: *const MycNode,
    service: *const c_char,
    type_id: u16,
    body: *const u8,
    len: usize,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (node, service, body) = unsafe {
            (
                handle(node, "node")?,
                text(service, "service")?,
                bytes(body, len, "body")?,
            )
        };
        let hosted = &node.hosted;
        match node.remote(service) {
            Some(remote) => {
                let name: Arc<str> = Arc::from(remote.name());
                report_sent_to_node(remote.link().node_id(), false, type_id, body);
                hosted
                    .block_on(remote.link().send(
                        mycelium_remote::frame::Kind::Tell,
                        &name,
                        type_id,
                        |out| out.extend_from_slice(body),
                    ))
                    .map(|_| ())
                    .map_err(|e| Error::new(send_status(&e), e.to_string()))
            }
            None => {
                report_sent_by_name(hosted.bus(), service, false, type_id, body);
                Ok(hosted.block_on(hosted.bus().exports().deliver(service, type_id, body))?)
            }
        }
    })
}

/// Asks `service` (remote or local, as [`myc_node_tell`]); on success `*reply_type` and
/// `*reply` (free with `myc_bytes_free`) hold the answer. `timeout_ms` < 0: no timeout.
///
/// # Safety
/// `node` is live; `service` a NUL-terminated string; `body` points to `len` bytes; the out
/// pointers are writable.
#[no_mangle]
pub unsafe extern "C" fn myc_node_ask(
    node: *const MycNode,
    service: *const c_char,
    type_id: u16,
    body: *const u8,
    len: usize,
    timeout_ms: i64,
    reply_type: *mut u16,
    reply: *mut MycBytes,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (node, service, body) = unsafe {
            (
                handle(node, "node")?,
                text(service, "service")?,
                bytes(body, len, "body")?,
            )
        };
        if reply_type.is_null() || reply.is_null() {
            return Err(Error::invalid("reply_type or reply is null"));
        }
        let hosted = &node.hosted;
        let limit = timeout(timeout_ms);
        let (t, b) = match node.remote(service) {
            Some(remote) => {
                let name: Arc<str> = Arc::from(remote.name());
                report_sent_to_node(remote.link().node_id(), true, type_id, body);
                let asked = remote
                    .link()
                    .ask(&name, type_id, |out| out.extend_from_slice(body));
                let answer = match limit {
                    Some(limit) => {
                        let bounded = {
                            let _entered = hosted.handle().enter();
                            hosted.bus().clock().timeout(limit, asked)
                        };
                        hosted.block_on(bounded).map_err(|_| {
                            let text = format!("no reply from `{service}` within {limit:?}");
                            report_answered_bytes(Err(&text));
                            Error::new(MycStatus::Timeout, text)
                        })?
                    }
                    None => hosted.block_on(asked),
                };
                // The answer (or the error as the asker reads it) is an input of a recorded
                // actor whose handler asks.
                match answer {
                    Ok((t, b)) => {
                        report_answered_bytes(Ok((t, &b)));
                        (t, b)
                    }
                    Err(e) => {
                        let err = remote_error(e, service, type_id);
                        report_answered_bytes(Err(&err.message));
                        return Err(err);
                    }
                }
            }
            None => {
                let reported = report_sent_by_name(hosted.bus(), service, true, type_id, body);
                let exports = hosted.bus().exports();
                let answer = match limit {
                    Some(t) => hosted.block_on(exports.ask_timeout(service, type_id, body, t)),
                    None => hosted.block_on(exports.ask(service, type_id, body)),
                };
                if reported {
                    crate::bus::report_answer(&answer);
                }
                answer?
            }
        };
        // SAFETY: checked non-null; the caller promises them writable.
        unsafe {
            put(reply_type, t, "reply_type")?;
            put(reply, MycBytes::from_vec(b), "reply")
        }
    })
}

/// Lets the other nodes subscribe to publications of the contract message `type_id` on this
/// bus ([`myc_node_subscribe_remote`] on their side): each publication travels once per link.
/// `WrongType` for an id that names no contract message.
///
/// # Safety
/// `node` is live.
#[no_mangle]
pub unsafe extern "C" fn myc_node_forward_topic(node: *const MycNode, type_id: u16) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let node = unsafe { handle(node, "node")? };
        let _entered = node.hosted.handle().enter();
        Ok(mycelium_foreign::forward_topic(&node.node, type_id)?)
    })
}

/// Subscribes this node to publications of the contract message `type_id` on topics matching
/// `pattern` on the other nodes that forward them: they are published on this bus, where its
/// subscribers receive them. `InvalidArgument` for a pattern that breaks the topic grammar
/// (nothing is sent), `WrongType` for an id that names no contract message.
///
/// # Safety
/// `node` is live; `pattern` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn myc_node_subscribe_remote(
    node: *const MycNode,
    type_id: u16,
    pattern: *const c_char,
) -> MycStatus {
    // SAFETY: the caller's contract, passed on.
    unsafe { change_interest(node, type_id, pattern, Interest::Subscribe) }
}

/// As [`myc_node_subscribe_remote`], with the overflow policy each publishing node applies
/// while its link to this node is full (this node slow, stopped or away): `overflow` is
/// `"block"` (the publisher waits), `"drop_newest"`, `"drop_oldest"` (a buffer of `capacity`
/// publications, the oldest dropped; `capacity` 0: 1024) or `"latest_per_key"`; null: the
/// policy the topology file gives `pattern` (a `[[node.subscription]]` entry of this node),
/// else block. `capacity` is 0 for every policy but `"drop_oldest"`. What a policy drops is
/// told to this node as a gap ([`myc_node_subscribe_gaps`]). `InvalidArgument` for an unknown
/// policy, a capacity it does not take, or a bad pattern (nothing is sent).
///
/// # Safety
/// `node` is live; `pattern` a NUL-terminated string; `overflow` null or one.
#[no_mangle]
pub unsafe extern "C" fn myc_node_subscribe_remote_with(
    node: *const MycNode,
    type_id: u16,
    pattern: *const c_char,
    overflow: *const c_char,
    capacity: u64,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (node, pattern) = unsafe { (handle(node, "node")?, text(pattern, "pattern")?) };
        let policy = if overflow.is_null() {
            if capacity != 0 {
                return Err(Error::invalid(
                    "capacity is given with the policy `drop_oldest` only, and overflow is null",
                ));
            }
            None
        } else {
            // SAFETY: per contract.
            let name = unsafe { text(overflow, "overflow")? };
            let capacity = (capacity != 0).then_some(capacity);
            Some(mycelium_foreign::remote_overflow(name, capacity).map_err(Error::invalid)?)
        };
        Ok(node.hosted.block_on(mycelium_foreign::subscribe_remote(
            &node.node, type_id, pattern, policy,
        ))?)
    })
}

/// The type id of a gap delivered to an actor by [`myc_node_subscribe_gaps`]: no schema may
/// use it.
pub const MYC_GAP_TYPE_ID: u16 = 0xFFFE;
const _: () = assert!(MYC_GAP_TYPE_ID == mycelium_foreign::GAP_TYPE_ID);

/// Subscribes `actor` (on this node's bus) to the gaps this node is told of: publications of
/// a topic it subscribed to on another node that will never arrive (dropped by the
/// subscription's overflow policy, lost when this process restarted, too large for a frame).
/// Each reaches the actor's `handle` callback as a message of type id [`MYC_GAP_TYPE_ID`]
/// whose body is, integers little-endian: the reason (`u8`: 1 this process restarted, 2 the
/// publisher took it for another process of its name, 3 too large, 4 dropped by the overflow
/// policy, 0 another), the message's type id (`u16`), the first and last lost sequence
/// numbers on the link and the count (three `u64`; the sequence numbers are 0 for a drop),
/// then four strings, each a `u32` length and UTF-8 bytes: the publishing node, the topic
/// (the subscription's pattern for a drop), the gap in a sentence and the message's contract
/// name (`Quote`, or `type N` for an id the contracts do not define). A gap waits for room
/// in the mailbox; none is dropped. Free the subscription with `myc_subscription_free`.
///
/// # Safety
/// `node` and `actor` are live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_node_subscribe_gaps(
    node: *const MycNode,
    actor: *const MycActor,
    out: *mut *mut MycSubscription,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (node, actor) = unsafe { (handle(node, "node")?, handle(actor, "actor")?) };
        if !Arc::ptr_eq(&node.hosted, &actor.hosted) {
            return Err(Error::invalid(
                "the actor is on another bus than the node: gaps reach actors of the node's bus",
            ));
        }
        // SAFETY: per contract.
        unsafe {
            subscribe_with(actor, out, |bus, to| {
                mycelium_foreign::subscribe_gaps(bus, to).map_err(|e| Error::invalid(e.to_string()))
            })
        }
    })
}

/// Ends what [`myc_node_subscribe_remote`] started: the other nodes stop forwarding
/// `type_id` on `pattern` to this node. `InvalidArgument` for a pattern that breaks the
/// topic grammar, `WrongType` for an id that names no contract message.
///
/// # Safety
/// `node` is live; `pattern` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn myc_node_unsubscribe_remote(
    node: *const MycNode,
    type_id: u16,
    pattern: *const c_char,
) -> MycStatus {
    // SAFETY: the caller's contract, passed on.
    unsafe { change_interest(node, type_id, pattern, Interest::Unsubscribe) }
}

enum Interest {
    Subscribe,
    Unsubscribe,
}

/// # Safety
/// `node` is live; `pattern` a NUL-terminated string.
unsafe fn change_interest(
    node: *const MycNode,
    type_id: u16,
    pattern: *const c_char,
    interest: Interest,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (node, pattern) = unsafe { (handle(node, "node")?, text(pattern, "pattern")?) };
        let hosted = &node.hosted;
        Ok(match interest {
            Interest::Subscribe => hosted.block_on(mycelium_foreign::subscribe_remote(
                &node.node, type_id, pattern, None,
            )),
            Interest::Unsubscribe => hosted.block_on(mycelium_foreign::unsubscribe_remote(
                &node.node, type_id, pattern,
            )),
        }?)
    })
}

/// Sends what is queued and waits up to the links' `close_timeout` (5 s by default;
/// `close_timeout_ms` in the topology's `[link]`) for the peers to acknowledge it, reports what
/// is still unacknowledged as lost (loss reports and dead letters, delivered before it
/// returns), stops the node's listener and links, and frees the handle. The bus keeps running.
///
/// # Safety
/// `node` is null or a live handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn myc_node_free(node: *mut MycNode) -> MycStatus {
    guard(|| {
        if node.is_null() {
            return Ok(());
        }
        // SAFETY: a live handle from `Box::into_raw`, given up by the caller.
        let node = unsafe { Box::from_raw(node) };
        node.hosted.block_on(node.node.close());
        Ok(())
    })
}

/// The abrupt close: stops the node's listener and links at once, without waiting for
/// acknowledgements (what is unacknowledged is reported lost), and frees the handle. The bus
/// keeps running.
///
/// # Safety
/// `node` is null or a live handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn myc_node_free_now(node: *mut MycNode) -> MycStatus {
    guard(|| {
        if node.is_null() {
            return Ok(());
        }
        // SAFETY: a live handle from `Box::into_raw`, given up by the caller.
        let node = unsafe { Box::from_raw(node) };
        node.hosted.block_on(node.node.close_now());
        Ok(())
    })
}
