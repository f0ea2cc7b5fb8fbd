//! Nodes started from one topology file reach each other's services by name, with contract
//! messages.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use common::*;
use mycelium_actors::{BoxFuture, Bus};
use mycelium_codec::WireMessage;
use mycelium_contracts::{NewOrder, OrderAck, OrderType, Quote, Side, TimeInForce, SCHEMA_DIGEST};
use mycelium_remote::{
    Dispatch, DispatchError, LocalSchema, Node, RemoteAskError, ReplyFuture, SetupError, Topology,
};
use tokio::sync::mpsc;

/// The execution service: records quotes, acknowledges orders.
struct Execution {
    quotes: mpsc::UnboundedSender<(String, Quote)>,
}

impl Dispatch for Execution {
    fn tell<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async move {
            if type_id != Quote::TYPE_ID {
                return Err(DispatchError::UnknownType {
                    service: service.into(),
                    type_id,
                });
            }
            let q = Quote::decode_body(body).map_err(|e| DispatchError::Decode {
                type_id,
                reason: e.to_string(),
            })?;
            let _ = self.quotes.send((service.to_owned(), q));
            Ok(())
        })
    }

    fn ask<'a>(
        &'a self,
        service: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<ReplyFuture, DispatchError>> {
        Box::pin(async move {
            if type_id != NewOrder::TYPE_ID {
                return Err(DispatchError::UnknownType {
                    service: service.into(),
                    type_id,
                });
            }
            let order = NewOrder::decode_body(body).map_err(|e| DispatchError::Decode {
                type_id,
                reason: e.to_string(),
            })?;
            Ok(Box::pin(async move {
                let ack = OrderAck {
                    client_order_id: order.client_order_id,
                    venue_order_id: format!("V{}", order.client_order_id),
                    ts_ns: order.ts_ns + 1,
                    venue_ts_ns: None,
                };
                let mut out = Vec::new();
                ack.encode_body(&mut out);
                Ok((OrderAck::TYPE_ID, out))
            }) as ReplyFuture)
        })
    }

    fn publish<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: Option<u64>,
        _: &'a [u8],
    ) -> BoxFuture<'a, Result<(), DispatchError>> {
        Box::pin(async { Ok(()) })
    }
}

fn write_topology(dir: &TempDir, second_endpoint: &str) -> std::path::PathBuf {
    let secret = dir.path().join("link.secret");
    std::fs::write(&secret, b"a topology secret of some length\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        r#"
secret_file = "link.secret"
socket_dir = "sockets"

[link]
queue_capacity = 256

[[node]]
name = "exec"
endpoint = "unix:exec.sock"
services = ["execution"]

[[node]]
name = "strategy"
endpoint = "{second_endpoint}"
services = ["strategy"]
"#
    );
    let path = dir.path().join("topology.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn order(id: u64) -> NewOrder {
    NewOrder {
        client_order_id: id,
        instrument: 7,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Some(100.5),
        stop_price: None,
        qty: 3.0,
        account: "acct".into(),
        post_only: false,
        strategy_tag: *b"crossovr",
        ts_ns: 1000 + id,
    }
}

async fn two_nodes_talk(second_endpoint: &str) {
    let dir = TempDir::new("topology");
    let path = write_topology(&dir, second_endpoint);
    let schema = LocalSchema::from_digest(SCHEMA_DIGEST);
    let (tx, mut quotes) = mpsc::unbounded_channel();
    let exec_bus = Bus::new();
    let exec = Node::start(
        Topology::load(&path).unwrap(),
        "exec",
        schema.clone(),
        &exec_bus,
        Arc::new(Execution { quotes: tx }),
        None,
    )
    .await
    .unwrap();
    let strategy_bus = Bus::new();
    let (rec, _) = Recorder::new(true);
    let strategy = Node::start(
        Topology::load(&path).unwrap(),
        "strategy",
        schema,
        &strategy_bus,
        rec,
        None,
    )
    .await
    .unwrap();

    assert!(exec.hosts("execution") && !exec.hosts("strategy"));
    assert!(exec.service("execution").is_none(), "local, not remote");
    let execution = strategy.service("execution").expect("remote service");
    for i in 0..100u32 {
        let q = Quote {
            ts_ns: u64::from(i),
            instrument: i,
            bid_px: 1.0,
            bid_qty: 2.0,
            ask_px: 3.0,
            ask_qty: 4.0,
        };
        execution.tell(&q).await.unwrap();
    }
    for i in 0..100u32 {
        let (service, q) = tokio::time::timeout(BOUND, quotes.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((service.as_str(), q.instrument), ("execution", i));
    }
    let ack: OrderAck = execution.ask(&order(42)).await.unwrap();
    assert_eq!(
        (ack.client_order_id, ack.venue_order_id.as_str(), ack.ts_ns),
        (42, "V42", 1043)
    );
    // A reply of another type than asked for is a typed error, not a wrong value.
    let wrong: Result<Quote, _> = execution.ask(&order(1)).await;
    assert!(
        matches!(wrong, Err(RemoteAskError::BadReply(_))),
        "{wrong:?}"
    );
    // A message the service does not take fails the ask with the receiver's reason.
    let refused: Result<OrderAck, _> = execution
        .ask(&Quote {
            ts_ns: 0,
            instrument: 0,
            bid_px: 0.0,
            bid_qty: 0.0,
            ask_px: 0.0,
            ask_qty: 0.0,
        })
        .await;
    assert!(
        matches!(&refused, Err(RemoteAskError::Failed(r)) if r.contains("does not accept type id 100")),
        "{refused:?}"
    );
    // The other direction uses the same connection.
    let back = exec.service("strategy").expect("remote service");
    let q = Quote {
        ts_ns: 1,
        instrument: 1,
        bid_px: 1.0,
        bid_qty: 1.0,
        ask_px: 1.0,
        ask_qty: 1.0,
    };
    back.tell(&q).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_from_one_file_over_unix() {
    two_nodes_talk("unix:strategy.sock").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_from_one_file_over_tcp() {
    // A free port: bind, read it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    two_nodes_talk(&format!("tcp:127.0.0.1:{port}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_errors_are_typed() {
    let dir = TempDir::new("setup");
    let path = write_topology(&dir, "unix:strategy.sock");
    let bus = Bus::new();
    let schema = LocalSchema::from_digest(SCHEMA_DIGEST);
    let err = Node::from_topology(&path, "nobody", schema.clone(), &bus)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, SetupError::Topology(e) if e.message.contains("no node `nobody`") && e.message.contains("exec, strategy")),
        "{err}"
    );
    std::fs::set_permissions(
        dir.path().join("link.secret"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let err = Node::from_topology(&path, "exec", schema.clone(), &bus)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SetupError::Secret(_)), "{err}");
    let err = Node::from_topology(dir.path().join("absent.toml"), "exec", schema, &bus)
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("cannot read the topology file"),
        "{err}"
    );
}

/// Nodes started from a topology file with an observer report their links' events to it:
/// each sees its link to the other come up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_from_one_file_report_link_events_to_their_observer() {
    let dir = TempDir::new("observed");
    let path = write_topology(&dir, "unix:strategy.sock");
    let schema = LocalSchema::from_digest(SCHEMA_DIGEST);
    let (exec_bus, strategy_bus) = (Bus::new(), Bus::new());
    let (exec_observer, mut exec_events) = events();
    let (strategy_observer, mut strategy_events) = events();
    let exec =
        Node::from_topology_observed(&path, "exec", schema.clone(), &exec_bus, exec_observer)
            .await
            .unwrap();
    let strategy =
        Node::from_topology_observed(&path, "strategy", schema, &strategy_bus, strategy_observer)
            .await
            .unwrap();
    let up =
        |k: &mycelium_remote::LinkEventKind| matches!(k, mycelium_remote::LinkEventKind::Up { .. });
    assert_eq!(exec_events.wait("up", up).await.peer, "strategy");
    assert_eq!(strategy_events.wait("up", up).await.peer, "exec");
    exec.shutdown();
    strategy.shutdown();
}
