//! A Rust program hosting Python actors: the interpreter started by the test binary, a Python
//! actor class named by its path as a child of a Rust supervision tree, reached by Rust through
//! the export table, restarted after a failure, and an import error as a start failure.

use std::path::PathBuf;
use std::time::Duration;

use _native::embed::PythonHost;
use mycelium_actors::Bus;
use mycelium_supervisor::{RestartStrategy, Supervisor};
use pyo3::prelude::*;

const DESK: &str =
    "package: desk\nmessages:\n  NewOrder:\n    id: 7001\n    topic: desk.orders\n    \
fields:\n      - { name: order_id, type: u64 }\n      - { name: qty, type: u32 }\n  Fill:\n    \
id: 7002\n    topic: desk.fills\n    fields:\n      - { name: order_id, type: u64 }\n      \
- { name: qty, type: u32 }\n";

/// The same class a Python program would spawn with `bus.spawn(Trader, 100)`.
const ACTORS: &str = r#"
import mycelium
import desk


class Trader(mycelium.Actor):
    def on_start(self, limit):
        self.limit = limit
        self.filled = 0

    @mycelium.handler(desk.NewOrder)
    def order(self, o):
        if o.qty > self.limit:
            raise ValueError("over the limit")
        self.filled += o.qty
        return desk.Fill(order_id=o.order_id, qty=self.filled)
"#;

/// A directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch() -> Scratch {
    let dir = std::env::temp_dir().join(format!("mycelium-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let schema = mycelium_codegen::model::parse_str("desk.yaml", DESK).expect("valid schema");
    for (name, text) in
        mycelium_codegen::python::generate_from(&schema, Some("desk.yaml")).expect("generates")
    {
        std::fs::write(dir.join(name), text).expect("writes the module");
    }
    std::fs::write(dir.join("desk_actors.py"), ACTORS).expect("writes the actors");
    Scratch(dir)
}

/// The body of `desk.<class>(**fields)`, encoded by the generated module.
fn encode(class: &str, fields: &str) -> Vec<u8> {
    Python::attach(|py| {
        let code = std::ffi::CString::new(format!(
            "import desk\nbody = desk.{class}({fields}).encode()"
        ))
        .expect("no NUL");
        let scope = pyo3::types::PyDict::new(py);
        py.run(&code, Some(&scope), None).expect("encodes");
        scope
            .get_item("body")
            .expect("lookup")
            .expect("body")
            .extract::<Vec<u8>>()
            .expect("bytes")
    })
}

/// `qty` of an encoded `Fill`.
fn filled(body: &[u8]) -> u32 {
    Python::attach(|py| {
        let fill = py
            .import("desk")
            .and_then(|m| m.getattr("Fill"))
            .and_then(|c| c.call_method1("decode", (pyo3::types::PyBytes::new(py, body),)))
            .expect("decodes a Fill");
        fill.getattr("qty").and_then(|q| q.extract()).expect("qty")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_program_hosts_python_actors_in_its_supervision_tree() {
    let dir = scratch();
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python");
    let bus = Bus::new();
    let host = PythonHost::start(&bus, "desk", &[&dir.0, &python]).expect("starts Python");

    let spec = host
        .child_spec("trader", "desk_actors:Trader", 100u32)
        .expect("a child spec");
    let sup = Supervisor::builder(RestartStrategy::OneForOne)
        .child(spec)
        .spawn(&bus)
        .await
        .expect("the tree starts");
    host.export_child(&sup, "trader", "trader", &[7001])
        .expect("exported");

    let exports = bus.exports();
    let (type_id, reply) = exports
        .ask("trader", 7001, &encode("NewOrder", "order_id=1, qty=5"))
        .await
        .expect("answered");
    assert_eq!(type_id, 7002);
    assert_eq!(filled(&reply), 5);

    // A failure of the Python handler: the ask fails, the tree restarts the child afresh.
    let failed = exports
        .ask("trader", 7001, &encode("NewOrder", "order_id=2, qty=500"))
        .await
        .expect_err("over the limit");
    assert!(failed.to_string().contains("over the limit"), "{failed}");
    sup.wait_restarts(1, Some("trader"))
        .await
        .expect("restarted");
    let (_, reply) = exports
        .ask("trader", 7001, &encode("NewOrder", "order_id=3, qty=1"))
        .await
        .expect("answered after the restart");
    assert_eq!(filled(&reply), 1, "restarted with a fresh state");

    // A class whose module cannot be imported: a start failure with the import error's text.
    let bad = host
        .child_spec("bad", "desk_missing:Trader", ())
        .expect("a child spec");
    let refused = Supervisor::builder(RestartStrategy::OneForOne)
        .child(bad)
        .spawn(&bus)
        .await
        .expect_err("cannot start");
    let text = refused.to_string();
    assert!(text.contains("No module named 'desk_missing'"), "{text}");

    sup.stop().await;
    bus.shutdown(Duration::from_secs(5)).await;
}
