//! Buses, and what is reached through them by name: services, topics, built-in Rust actors.

use std::ffi::{c_char, CString};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mycelium_actors::export::DeliveryError;
use mycelium_foreign::builtin::Kind;
use mycelium_foreign::recording::{report_answered_bytes, report_sent_by_name};
use mycelium_foreign::registry::SchemaId;
use mycelium_foreign::{ForeignAskError, HostedBus};

use crate::actor::timeout;
use crate::call::MycBytes;
use crate::error::{bytes, guard, handle, optional_text, put, text, writable, Error, MycStatus};

/// A bus and its runtime. Free with [`myc_bus_free`].
pub struct MycBus {
    pub(crate) hosted: Arc<HostedBus>,
    /// The schema the bus speaks: set by [`myc_bus_set_schema`], or adopted from the first
    /// Rust actor started on it by name.
    pub(crate) schema: Mutex<Option<BusSchema>>,
}

/// A schema by package name and digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BusSchema {
    package: String,
    digest: [u8; 32],
}

impl BusSchema {
    fn of(id: SchemaId) -> BusSchema {
        BusSchema {
            package: id.package.to_string(),
            digest: id.digest,
        }
    }

    fn hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl MycBus {
    /// Refuses `kind` unless it speaks the bus's schema (or the bus speaks none yet). `what`
    /// names the call for the message.
    pub(crate) fn speaks(&self, what: &str, kind: Kind) -> Result<(), Error> {
        let theirs = BusSchema::of(kind.schema());
        let schema = self.schema.lock().unwrap_or_else(|e| e.into_inner());
        match &*schema {
            None => Ok(()),
            Some(ours) if *ours == theirs => Ok(()),
            Some(ours) => Err(Error::invalid(format!(
                "{what}: {} speaks the schema `{}` (digest {}), but this bus speaks the \
                 schema `{}` (digest {}): a bus carries the messages of one schema. Start it \
                 on a bus of its schema (myc_bus_set_schema), or link the actor library \
                 built from the schema this bus speaks",
                kind.title(),
                theirs.package,
                theirs.hex(),
                ours.package,
                ours.hex(),
            ))),
        }
    }

    /// A bus that speaks no schema yet adopts the one of `kind`, started on it.
    pub(crate) fn adopt(&self, kind: Kind) {
        let mut schema = self.schema.lock().unwrap_or_else(|e| e.into_inner());
        if schema.is_none() {
            *schema = Some(BusSchema::of(kind.schema()));
        }
    }
}

/// Creates a bus: real time on two worker threads, or virtual time (a paused clock that
/// jumps to the next timer whenever every actor waits). `seed` seeds its random streams.
///
/// The first bus of the process starts writing the runtime's warnings (a handler that
/// failed, dead letters, a link down) to standard error, unless a `tracing` subscriber is
/// installed already; the environment variable `MYCELIUM_LOG` sets the level (`off`,
/// `error`, `warn` by default, `info`, `debug`, `trace`).
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
        crate::log::to_stderr();
        let hosted = HostedBus::new(virtual_time, seed, 2)
            .map_err(|e| Error::new(MycStatus::Runtime, e.to_string()))?;
        let boxed = Box::into_raw(Box::new(MycBus {
            hosted: Arc::new(hosted),
            schema: Mutex::new(None),
        }));
        // SAFETY: per contract.
        unsafe { put(out, boxed, "out") }
    })
}

/// Says which schema the bus speaks: its package name and digest (64 hex digits, as
/// `mycelium-codegen digest FILE` prints it and the generated modules hold). Rust actors
/// started by name ([`myc_spawn_rust`], [`crate::tree::myc_tree_add_rust`]) must speak it.
/// Without this call a bus adopts the schema of the first Rust actor started on it.
/// `InvalidArgument` for a digest that is not 64 hex digits, or when the bus already speaks
/// another schema.
///
/// # Safety
/// `bus` is live; `package` and `digest_hex` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn myc_bus_set_schema(
    bus: *const MycBus,
    package: *const c_char,
    digest_hex: *const c_char,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (bus, package, hex) = unsafe {
            (
                handle(bus, "bus")?,
                text(package, "package")?,
                text(digest_hex, "digest_hex")?,
            )
        };
        let digest = crate::node::parse_digest(hex).ok().ok_or_else(|| {
            Error::invalid(format!(
                "schema `{package}`: digest {hex:?} is not 64 hex digits \
                 (mycelium-codegen digest FILE prints it)"
            ))
        })?;
        let given = BusSchema {
            package: package.to_string(),
            digest,
        };
        let mut schema = bus.schema.lock().unwrap_or_else(|e| e.into_inner());
        match &*schema {
            Some(ours) if *ours != given => Err(Error::invalid(format!(
                "the bus already speaks the schema `{}` (digest {}), not `{package}` \
                 (digest {hex}): a bus carries the messages of one schema",
                ours.package,
                ours.hex()
            ))),
            _ => {
                *schema = Some(given);
                Ok(())
            }
        }
    })
}

/// The schema of the Rust actor registered as `kind`: `*package` and `*digest_hex` (64
/// lowercase hex digits) become static NUL-terminated strings, valid for the life of the
/// process. `InvalidArgument` for an unknown name (the message lists the registered ones).
///
/// # Safety
/// `kind` is a NUL-terminated string; `package` and `digest_hex` are writable.
#[no_mangle]
pub unsafe extern "C" fn myc_rust_actor_schema(
    kind: *const c_char,
    package: *mut *const c_char,
    digest_hex: *mut *const c_char,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let kind = unsafe { text(kind, "kind")? };
        writable(package, "package")?;
        writable(digest_hex, "digest_hex")?;
        let kind = parse_kind(kind)?;
        let (p, d) = schema_texts(kind);
        // SAFETY: checked non-null; the caller promises them writable.
        unsafe {
            put(package, p, "package")?;
            put(digest_hex, d, "digest_hex")
        }
    })
}

/// The registered actor `name`, or an error that lists the registered ones and says how a
/// C or OCaml program gets a team's own.
pub(crate) fn parse_kind(name: &str) -> Result<Kind, Error> {
    Kind::parse(name).map_err(|e| {
        Error::invalid(format!(
            "{e}. A C or OCaml program gets a team's own Rust actors by linking the team's \
             actor library (a static library made with mycelium_ffi::actor_library!) instead \
             of libmycelium_ffi.a, and calling myc_library_init() before it starts them \
             (OCaml's Bus.create calls it)"
        ))
    })
}

/// A registered actor's package and digest as static C strings (made once per actor).
fn schema_texts(kind: Kind) -> (*const c_char, *const c_char) {
    type Texts = Mutex<Vec<(&'static str, &'static CString, &'static CString)>>;
    static TEXTS: OnceLock<Texts> = OnceLock::new();
    let mut texts = TEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((_, p, d)) = texts.iter().find(|(n, _, _)| *n == kind.name()) {
        return (p.as_ptr(), d.as_ptr());
    }
    let schema = kind.schema();
    // Registrations live as long as the process; so do these, one pair per actor.
    let p: &'static CString = Box::leak(Box::new(CString::new(schema.package).unwrap_or_default()));
    let d: &'static CString = Box::leak(Box::new(
        CString::new(schema.digest_hex()).unwrap_or_default(),
    ));
    texts.push((kind.name(), p, d));
    (p.as_ptr(), d.as_ptr())
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

/// Bus time since the bus was created, in nanoseconds. Read in a recorded actor's handler,
/// the reading is recorded, and a replay of the actor reads the recorded one.
///
/// # Safety
/// `bus` is live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn myc_bus_now_ns(bus: *const MycBus, out: *mut u64) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let bus = unsafe { handle(bus, "bus")? };
        let _entered = bus.hosted.handle().enter();
        // In a recorded actor's handler the reading is recorded (a replay reads it back).
        let now = mycelium_foreign::recording::clock_read(bus.hosted.bus().now());
        let now = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
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
        report_sent_by_name(hosted.bus(), service, false, type_id, body);
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
        let reported = report_sent_by_name(hosted.bus(), service, true, type_id, body);
        let exports = hosted.bus().exports();
        let answer = match timeout(timeout_ms) {
            Some(t) => hosted.block_on(exports.ask_timeout(service, type_id, body, t)),
            None => hosted.block_on(exports.ask(service, type_id, body)),
        };
        if reported {
            report_answer(&answer);
        }
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
        // An actor's callback asking its own service: refused as through its handle.
        if *failure.reason == *ForeignAskError::AskedItself.to_string() {
            return ForeignAskError::AskedItself.into();
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

/// Starts the Rust actor registered as `kind`, exported under `service`: a built-in one,
/// `counter` (each Heartbeat adds its seq; replies with the total), `relay` (arg: a service
/// it asks with seq + 1) or `quote_recorder` (arg: a topic pattern of Quotes it counts), or
/// one of a team's actor library (see [`crate::actor_library!`]). Waits for its start, and
/// exports it once it has started. `InvalidArgument` (nothing left running) for an unknown
/// kind (the message lists the registered ones), an arg it does not take or cannot read, an
/// actor of another schema than the bus's ([`myc_bus_set_schema`]; a bus that speaks none
/// adopts the actor's), a start that fails (a pattern that breaks the topic grammar) or a
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
        let kind = parse_kind(kind)?;
        let arg = arg.map(str::to_string);
        kind.check_arg(&arg).map_err(Error::invalid)?;
        bus.speaks("myc_spawn_rust", kind)?;
        let hosted = &bus.hosted;
        let starting = {
            let _entered = hosted.handle().enter();
            kind.spawn(hosted.bus(), service, arg)
                .map_err(Error::invalid)?
        };
        hosted.block_on(starting).map_err(Error::invalid)?;
        bus.adopt(kind);
        Ok(())
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

/// Reports the answer to an ask by service name that a recorded foreign actor's handler
/// made of a Rust actor (the reply, or the error as it reads).
pub(crate) fn report_answer(answer: &Result<(u16, Vec<u8>), DeliveryError>) {
    match answer {
        Ok((t, b)) => report_answered_bytes(Ok((*t, b))),
        Err(e) => report_answered_bytes(Err(&e.to_string())),
    }
}
