//! Buses, and what is reached through them by name: services, topics, built-in Rust actors.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::export::DeliveryError;
use mycelium_foreign::builtin::Kind;
use mycelium_foreign::{ForeignAskError, HostedBus};

use crate::actor::timeout;
use crate::call::MycBytes;
use crate::error::{bytes, guard, handle, optional_text, put, text, writable, Error, MycStatus};

/// A bus and its runtime. Free with [`myc_bus_free`].
pub struct MycBus {
    pub(crate) hosted: Arc<HostedBus>,
}

/// Creates a bus: real time on two worker threads, or virtual time (a paused clock that
/// jumps to the next timer whenever every actor waits). `seed` seeds its random streams.
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn myc_bus_new(
    virtual_time: bool,
    seed: u64,
    out: *mut *mut MycBus,
) -> MycStatus {
    guard(|| {
        writable(out, "out")?;
        let hosted = HostedBus::new(virtual_time, seed, 2)
            .map_err(|e| Error::new(MycStatus::Runtime, e.to_string()))?;
        let boxed = Box::into_raw(Box::new(MycBus {
            hosted: Arc::new(hosted),
        }));
        // SAFETY: per contract.
        unsafe { put(out, boxed, "out") }
    })
}

/// Stops every actor (reverse start order; each `stop` callback runs), killing what is
/// alive after `timeout_ms`, and waits for the callbacks of actors and trees freed from
/// inside their own callbacks to be released (not when called from a callback).
///
/// # Safety
/// `bus` is live.
#[no_mangle]
pub unsafe extern "C" fn myc_bus_shutdown(bus: *const MycBus, timeout_ms: u64) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let bus = unsafe { handle(bus, "bus")? };
        let hosted = &bus.hosted;
        hosted.block_on(hosted.bus().shutdown(Duration::from_millis(timeout_ms)));
        crate::deferred::wait(hosted);
        Ok(())
    })
}

/// Shuts the bus down (5 s deadline) if it still runs, and frees it, once the callbacks of
/// actors and trees freed from inside their own callbacks are released (as
/// [`myc_bus_shutdown`]). Actor handles of this bus stay valid to free, and report the
/// actors stopped.
///
/// A callback still running at the deadline is not stopped (C code cannot be preempted): it
/// goes on, on its pool thread, after this returns, its result discarded, and its actor's
/// `free_user_data` runs once it has returned. A program that must know when the last
/// callback has returned waits for the `free_user_data` calls of its actors.
///
/// # Safety
/// `bus` is null or a live handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn myc_bus_free(bus: *mut MycBus) -> MycStatus {
    guard(|| {
        if bus.is_null() {
            return Ok(());
        }
        // SAFETY: a live handle from `Box::into_raw`, given up by the caller.
        let bus = unsafe { Box::from_raw(bus) };
        let hosted = &bus.hosted;
        if hosted.bus().exit().is_none() {
            hosted.block_on(hosted.bus().shutdown(Duration::from_secs(5)));
        }
        crate::deferred::wait(hosted);
        Ok(())
    })
}

/// Bus time since the bus was created, in nanoseconds.
///
/// # Safety
/// `bus` is live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_bus_now_ns(bus: *const MycBus, out: *mut u64) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let bus = unsafe { handle(bus, "bus")? };
        let _entered = bus.hosted.handle().enter();
        let now = u64::try_from(bus.hosted.bus().now().as_nanos()).unwrap_or(u64::MAX);
        // SAFETY: per contract.
        unsafe { put(out, now, "out") }
    })
}

/// Tasks alive on the bus's runtime: one per actor that is not asleep, and those of its
/// supervisors and hibernation driver. A diagnostic: an actor spawned with
/// `MYC_SPAWN_HIBERNATE` holds none while it has no mail.
///
/// # Safety
/// `bus` is live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_bus_runtime_tasks(bus: *const MycBus, out: *mut u64) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let bus = unsafe { handle(bus, "bus")? };
        let tasks = bus.hosted.runtime_tasks() as u64;
        // SAFETY: per contract.
        unsafe { put(out, tasks, "out") }
    })
}

/// How many dead letters the bus has recorded in all (failed messages, messages left when an
/// actor stopped).
///
/// # Safety
/// `bus` is live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_bus_dead_letters(bus: *const MycBus, out: *mut u64) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let bus = unsafe { handle(bus, "bus")? };
        // SAFETY: per contract.
        unsafe { put(out, bus.hosted.bus().dead_letters().total(), "out") }
    })
}

/// Tells the service `service` the contract message `type_id` with `body`, waiting for room.
///
/// # Safety
/// `bus` is live; `service` a NUL-terminated string; `body` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn myc_tell(
    bus: *const MycBus,
    service: *const c_char,
    type_id: u16,
    body: *const u8,
    len: usize,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (bus, service, body) = unsafe {
            (
                handle(bus, "bus")?,
                text(service, "service")?,
                bytes(body, len, "body")?,
            )
        };
        let hosted = &bus.hosted;
        Ok(hosted.block_on(hosted.bus().exports().deliver(service, type_id, body))?)
    })
}

/// Asks the service `service`; on success `*reply_type` and `*reply` (free with
/// `myc_bytes_free`) hold the answer. `timeout_ms` < 0: no timeout. A foreign handler that
/// gives no reply: `WrongType`, as for `myc_actor_ask`.
///
/// # Safety
/// `bus` is live; `service` a NUL-terminated string; `body` points to `len` bytes; the out
/// pointers are writable.
#[no_mangle]
pub unsafe extern "C" fn myc_ask(
    bus: *const MycBus,
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
        let (bus, service, body) = unsafe {
            (
                handle(bus, "bus")?,
                text(service, "service")?,
                bytes(body, len, "body")?,
            )
        };
        if reply_type.is_null() || reply.is_null() {
            return Err(Error::invalid("reply_type or reply is null"));
        }
        let hosted = &bus.hosted;
        let exports = hosted.bus().exports();
        let answer = match timeout(timeout_ms) {
            Some(t) => hosted.block_on(exports.ask_timeout(service, type_id, body, t)),
            None => hosted.block_on(exports.ask(service, type_id, body)),
        };
        let (t, b) = answer.map_err(|e| ask_error(e, type_id))?;
        // SAFETY: checked non-null; the caller promises them writable.
        unsafe {
            put(reply_type, t, "reply_type")?;
            put(reply, MycBytes::from_vec(b), "reply")
        }
    })
}

/// A foreign handler that answered an ask by name with no reply: `WrongType`, as through the
/// actor's handle (`ForeignAskError::NoReply`), not a failure of the actor.
fn ask_error(e: DeliveryError, type_id: u16) -> Error {
    let no_reply = ForeignAskError::NoReply { type_id };
    if let DeliveryError::Failed { failure, .. } = &e {
        if *failure.reason == *no_reply.to_string() {
            return no_reply.into();
        }
    }
    e.into()
}

/// Publishes the contract message `type_id` with `body` under `topic` (with `*key` when
/// `key` is not null); Rust and foreign subscribers receive it. `*delivered` (if not null)
/// gets how many subscribers it reached. The message is of the example schema
/// (`contracts.yaml`), whose types Rust subscribers take; a message of another schema is
/// published with [`myc_publish_schema`].
///
/// # Safety
/// `bus` is live; `topic` a NUL-terminated string; `body` points to `len` bytes; `key` and
/// `delivered` are null or valid.
#[no_mangle]
pub unsafe extern "C" fn myc_publish(
    bus: *const MycBus,
    type_id: u16,
    topic: *const c_char,
    body: *const u8,
    len: usize,
    key: *const u64,
    delivered: *mut usize,
) -> MycStatus {
    // SAFETY: the caller's contract, passed on.
    unsafe { publish(bus, type_id, topic, body, len, key, delivered, true) }
}

/// As [`myc_publish`], for the message `type_id` of a schema that has no Rust types in this
/// process (a user's own schema): the foreign subscribers of that type id
/// ([`crate::actor::myc_actor_subscribe_schema`]) receive it.
///
/// # Safety
/// As [`myc_publish`].
#[no_mangle]
pub unsafe extern "C" fn myc_publish_schema(
    bus: *const MycBus,
    type_id: u16,
    topic: *const c_char,
    body: *const u8,
    len: usize,
    key: *const u64,
    delivered: *mut usize,
) -> MycStatus {
    // SAFETY: the caller's contract, passed on.
    unsafe { publish(bus, type_id, topic, body, len, key, delivered, false) }
}

/// # Safety
/// As [`myc_publish`].
#[allow(clippy::too_many_arguments)]
unsafe fn publish(
    bus: *const MycBus,
    type_id: u16,
    topic: *const c_char,
    body: *const u8,
    len: usize,
    key: *const u64,
    delivered: *mut usize,
    typed: bool,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (bus, topic, body, key) = unsafe {
            (
                handle(bus, "bus")?,
                text(topic, "topic")?,
                bytes(body, len, "body")?,
                key.as_ref().copied(),
            )
        };
        let hosted = &bus.hosted;
        let report = hosted.block_on(async {
            if typed {
                mycelium_foreign::publish_bytes(hosted.bus(), type_id, topic, key, body).await
            } else {
                mycelium_foreign::publish_schema_bytes(hosted.bus(), type_id, topic, key, body)
                    .await
            }
        })?;
        if !delivered.is_null() {
            // SAFETY: non-null, and the caller promises it writable.
            unsafe { put(delivered, report.delivered, "delivered")? };
        }
        Ok(())
    })
}

/// The digest of the example schema (`contracts.yaml`), whose messages have Rust types in
/// this library and which the built-in Rust actors speak: 64 lowercase hex digits, a static
/// NUL-terminated string.
#[no_mangle]
pub extern "C" fn myc_example_schema_digest() -> *const c_char {
    static HEX: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();
    HEX.get_or_init(|| {
        let hex: String = mycelium_contracts::SCHEMA_DIGEST
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::ffi::CString::new(hex).unwrap_or_default()
    })
    .as_ptr()
}

/// Starts a built-in Rust actor exported under `service`: `counter` (each Heartbeat adds its
/// seq; replies with the total), `relay` (arg: a service it asks with seq + 1) or
/// `quote_recorder` (arg: a topic pattern of Quotes it counts). Waits for its start, and
/// exports it once it has started. `InvalidArgument` (nothing left running) for an unknown
/// kind, a missing arg, a start that fails (a pattern that breaks the topic grammar) or a
/// service name already taken.
///
/// # Safety
/// `bus` is live; `kind` and `service` NUL-terminated strings; `arg` null or one.
#[no_mangle]
pub unsafe extern "C" fn myc_spawn_rust(
    bus: *const MycBus,
    kind: *const c_char,
    arg: *const c_char,
    service: *const c_char,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (bus, kind, arg, service) = unsafe {
            (
                handle(bus, "bus")?,
                text(kind, "kind")?,
                optional_text(arg, "arg")?,
                text(service, "service")?,
            )
        };
        let kind = Kind::parse(kind).map_err(Error::invalid)?;
        let arg = arg.map(str::to_string);
        kind.check_arg(&arg).map_err(Error::invalid)?;
        let hosted = &bus.hosted;
        let starting = {
            let _entered = hosted.handle().enter();
            kind.spawn(hosted.bus(), service, arg)
                .map_err(Error::invalid)?
        };
        hosted.block_on(starting).map_err(Error::invalid)
    })
}

/// Measures ask round trips from Rust: asks `service` `n` times in a row from a task on the
/// bus runtime (each ask waits for its reply) and writes each round trip's wall-clock
/// duration in nanoseconds to `out_ns[i]`. A benchmark aid: the asker is Rust, whatever
/// language the service is written in. Stops at the first failed ask and returns its error.
///
/// # Safety
/// `bus` is live; `service` a NUL-terminated string; `body` points to `len` bytes; `out_ns`
/// points to `n` writable values.
#[no_mangle]
pub unsafe extern "C" fn myc_measure_asks(
    bus: *const MycBus,
    service: *const c_char,
    type_id: u16,
    body: *const u8,
    len: usize,
    n: usize,
    out_ns: *mut u64,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (bus, service, body) = unsafe {
            (
                handle(bus, "bus")?,
                text(service, "service")?,
                bytes(body, len, "body")?,
            )
        };
        if out_ns.is_null() && n > 0 {
            return Err(Error::invalid("out_ns is null"));
        }
        let hosted = &bus.hosted;
        let exports = hosted.bus().exports();
        let service = service.to_string();
        let body = body.to_vec();
        let task = hosted.handle().spawn(async move {
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let start = std::time::Instant::now();
                exports.ask(&service, type_id, &body).await?;
                times.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
            }
            Ok::<_, mycelium_actors::export::DeliveryError>(times)
        });
        let times = hosted.block_on(task).map_err(|e| {
            Error::new(MycStatus::Panic, format!("the measuring task failed: {e}"))
        })??;
        for (i, t) in times.into_iter().enumerate() {
            // SAFETY: i < n, and the caller promises `n` writable values.
            unsafe { out_ns.add(i).write(t) };
        }
        Ok(())
    })
}
