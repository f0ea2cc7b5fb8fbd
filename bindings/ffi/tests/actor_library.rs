//! A team's own Rust actors through the C ABI, as an actor library links them: registered
//! once per process (`library::init`, what `myc_library_init` runs), started by name on a
//! bus of their schema, and refused by name, by argument and by schema with messages that
//! say why.

use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};

use mycelium_actors::{Actor, BoxError, Context, Handler};
use mycelium_codec::WireMessage;
use mycelium_contracts::Heartbeat;
use mycelium_ffi::*;
use mycelium_foreign::registry::{self, ArgUse, RustActor, SchemaId};

/// A schema of the test's own (its messages borrowed from the example schema's types).
const SCHEMA: SchemaId = SchemaId::new("team", [7; 32]);

/// Answers a heartbeat with its `seq` times the factor it was started with.
struct Scaler(u64);

impl Actor for Scaler {
    type Args = u64;
    async fn on_start(factor: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Scaler(factor))
    }
}

impl Handler<Heartbeat> for Scaler {
    type Reply = Heartbeat;
    async fn handle(&mut self, hb: Heartbeat, _ctx: &mut Context<Self>) -> Heartbeat {
        Heartbeat {
            seq: hb.seq * self.0,
            ..hb
        }
    }
}

static REGISTERED: AtomicUsize = AtomicUsize::new(0);

fn register() -> Result<(), String> {
    REGISTERED.fetch_add(1, Ordering::SeqCst);
    registry::register(
        RustActor::<Scaler>::new("scaler", SCHEMA)
            .args(ArgUse::Required, "the factor", |arg| {
                let text = arg.unwrap_or_default();
                text.parse()
                    .map_err(|_| format!("the factor is a whole number, not {text:?}"))
            })
            .answers::<Heartbeat>(),
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

fn init() {
    assert_eq!(mycelium_ffi::library::init(register), MycStatus::Ok);
}

fn last_error() -> String {
    // SAFETY: the library's per-thread message, read before the next call.
    unsafe { CStr::from_ptr(myc_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// `status`, and a message containing each of `texts`.
fn refused(status: MycStatus, expected: MycStatus, texts: &[&str]) {
    let message = last_error();
    assert_eq!(status, expected, "{message}");
    for text in texts {
        assert!(message.contains(text), "{text:?} not in: {message}");
    }
}

fn new_bus() -> *mut MycBus {
    let mut bus = std::ptr::null_mut();
    // SAFETY: a writable out pointer.
    assert_eq!(unsafe { myc_bus_new(false, 1, &mut bus) }, MycStatus::Ok);
    bus
}

fn hex(digest: [u8; 32]) -> std::ffi::CString {
    let text: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    std::ffi::CString::new(text).unwrap()
}

fn example() -> *const c_char {
    myc_example_schema_digest()
}

fn ask_seq(bus: *const MycBus, service: &CStr, seq: u64) -> u64 {
    let mut body = Vec::new();
    Heartbeat {
        ts_ns: 0,
        seq,
        sender: String::new(),
    }
    .encode_body(&mut body);
    let mut reply_type = 0;
    let mut reply = MycBytes {
        data: std::ptr::null_mut(),
        len: 0,
        capacity: 0,
    };
    // SAFETY: a live bus, valid strings and out pointers.
    let status = unsafe {
        myc_ask(
            bus,
            service.as_ptr(),
            Heartbeat::TYPE_ID,
            body.as_ptr(),
            body.len(),
            5000,
            &mut reply_type,
            &mut reply,
        )
    };
    assert_eq!(status, MycStatus::Ok, "{}", last_error());
    // SAFETY: the reply the library wrote.
    let bytes = unsafe { std::slice::from_raw_parts(reply.data, reply.len) }.to_vec();
    // SAFETY: freed once.
    unsafe { myc_bytes_free(&mut reply) };
    Heartbeat::decode_body(&bytes).unwrap().seq
}

#[test]
fn registration_runs_once_and_names_the_schema() {
    init();
    init();
    assert_eq!(REGISTERED.load(Ordering::SeqCst), 1);
    let (mut package, mut digest) = (std::ptr::null(), std::ptr::null());
    // SAFETY: a valid name and out pointers.
    let status = unsafe { myc_rust_actor_schema(c"scaler".as_ptr(), &mut package, &mut digest) };
    assert_eq!(status, MycStatus::Ok);
    // SAFETY: static strings of the library.
    let (package, digest) = unsafe { (CStr::from_ptr(package), CStr::from_ptr(digest)) };
    assert_eq!(package, c"team");
    assert_eq!(digest, hex([7; 32]).as_c_str());
    let (mut package, mut digest) = (std::ptr::null(), std::ptr::null());
    // SAFETY: as above.
    let status = unsafe { myc_rust_actor_schema(c"scalr".as_ptr(), &mut package, &mut digest) };
    refused(
        status,
        MycStatus::InvalidArgument,
        &["scaler (arg: the factor)"],
    );
    assert!(package.is_null() && digest.is_null());
}

#[test]
fn started_by_name_on_its_schema_and_refused_otherwise() {
    init();
    let bus = new_bus();
    let team = hex([7; 32]);
    // SAFETY: a live bus and valid strings throughout.
    unsafe {
        assert_eq!(
            myc_bus_set_schema(bus, c"team".as_ptr(), team.as_ptr()),
            MycStatus::Ok
        );
        let status = myc_spawn_rust(bus, c"scalr".as_ptr(), c"2".as_ptr(), c"s".as_ptr());
        refused(
            status,
            MycStatus::InvalidArgument,
            &["scaler (arg: the factor)", "counter", "myc_library_init"],
        );
        let status = myc_spawn_rust(bus, c"scaler".as_ptr(), std::ptr::null(), c"s".as_ptr());
        refused(
            status,
            MycStatus::InvalidArgument,
            &["needs an arg: the factor"],
        );
        let status = myc_spawn_rust(bus, c"scaler".as_ptr(), c"two".as_ptr(), c"s".as_ptr());
        refused(
            status,
            MycStatus::InvalidArgument,
            &["the factor is a whole number, not \"two\""],
        );
        let status = myc_spawn_rust(bus, c"counter".as_ptr(), std::ptr::null(), c"c".as_ptr());
        refused(
            status,
            MycStatus::InvalidArgument,
            &[
                "`counter` speaks the schema `trading`",
                "this bus speaks the schema `team`",
            ],
        );
        let status = myc_bus_set_schema(bus, c"trading".as_ptr(), example());
        refused(
            status,
            MycStatus::InvalidArgument,
            &["already speaks the schema `team`"],
        );
        let status = myc_bus_set_schema(bus, c"team".as_ptr(), c"07".as_ptr());
        refused(status, MycStatus::InvalidArgument, &["not 64 hex digits"]);

        assert_eq!(
            myc_spawn_rust(bus, c"scaler".as_ptr(), c"3".as_ptr(), c"s".as_ptr()),
            MycStatus::Ok
        );
        assert_eq!(ask_seq(bus, c"s", 5), 15);
        myc_bus_free(bus);
    }
}

#[test]
fn a_bus_adopts_the_schema_of_its_first_rust_actor() {
    init();
    let bus = new_bus();
    // SAFETY: a live bus and valid strings throughout.
    unsafe {
        assert_eq!(
            myc_spawn_rust(bus, c"scaler".as_ptr(), c"2".as_ptr(), c"s".as_ptr()),
            MycStatus::Ok
        );
        let status = myc_spawn_rust(bus, c"counter".as_ptr(), std::ptr::null(), c"c".as_ptr());
        refused(
            status,
            MycStatus::InvalidArgument,
            &["this bus speaks the schema `team`"],
        );
        let status = myc_bus_set_schema(bus, c"trading".as_ptr(), example());
        refused(
            status,
            MycStatus::InvalidArgument,
            &["already speaks the schema `team`"],
        );
        assert_eq!(ask_seq(bus, c"s", 4), 8);
        myc_bus_free(bus);
    }
}

#[test]
fn a_tree_of_rust_children_speaks_one_schema() {
    init();
    let bus = new_bus();
    // SAFETY: live handles and valid strings throughout.
    unsafe {
        let mut tree = std::ptr::null_mut();
        assert_eq!(
            myc_tree_new(MYC_ONE_FOR_ONE, 3, 1000, 1, 2.0, 10, &mut tree),
            MycStatus::Ok
        );
        let name = c"scaler".as_ptr();
        assert_eq!(
            myc_tree_add_rust(tree, name, name, c"2".as_ptr(), c"s".as_ptr()),
            MycStatus::Ok
        );
        let counter = c"counter".as_ptr();
        assert_eq!(
            myc_tree_add_rust(tree, counter, counter, std::ptr::null(), c"c".as_ptr()),
            MycStatus::Ok
        );
        let mut sup = std::ptr::null_mut();
        let status = myc_tree_start(bus, tree, &mut sup);
        refused(
            status,
            MycStatus::InvalidArgument,
            &[
                "child `counter`",
                "the Rust children of a tree speak the schema of its bus",
            ],
        );
        assert!(sup.is_null());

        assert_eq!(
            myc_tree_new(MYC_ONE_FOR_ONE, 3, 1000, 1, 2.0, 10, &mut tree),
            MycStatus::Ok
        );
        assert_eq!(
            myc_tree_add_rust(tree, name, name, c"2".as_ptr(), c"s".as_ptr()),
            MycStatus::Ok
        );
        assert_eq!(myc_tree_start(bus, tree, &mut sup), MycStatus::Ok);
        assert_eq!(ask_seq(bus, c"s", 21), 42);
        // The bus speaks the tree's schema now.
        let status = myc_spawn_rust(bus, counter, std::ptr::null(), c"c".as_ptr());
        refused(
            status,
            MycStatus::InvalidArgument,
            &["this bus speaks the schema `team`"],
        );
        myc_supervisor_free(sup);
        myc_bus_free(bus);
    }
}
