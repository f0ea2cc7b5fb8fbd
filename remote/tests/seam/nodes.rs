//! The two nodes of these tests and how they are set up: the topology file that wires them,
//! the `exec` node with its venue actor, the orders and quotes they exchange, and the
//! `strategy` node subscribed to quotes from `exec`.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

use mycelium_actors::{Actor, BoxError, Bus, Context, Handler};
use mycelium_contracts::{NewOrder, OrderAck, OrderType, Quote, Side, TimeInForce, SCHEMA_DIGEST};
use mycelium_remote::{LocalSchema, Node};
use tokio::sync::mpsc;

struct Venue {
    quotes: mpsc::UnboundedSender<Quote>,
}

impl Actor for Venue {
    type Args = mpsc::UnboundedSender<Quote>;
    async fn on_start(quotes: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Venue { quotes })
    }
}

impl Handler<NewOrder> for Venue {
    type Reply = OrderAck;
    async fn handle(&mut self, order: NewOrder, _ctx: &mut Context<Self>) -> OrderAck {
        if order.client_order_id == 0 {
            // Never answers: the asker must learn from the link, not from a timeout.
            std::future::pending::<()>().await;
        }
        OrderAck {
            client_order_id: order.client_order_id,
            venue_order_id: format!("V{}", order.client_order_id),
            ts_ns: order.ts_ns,
            venue_ts_ns: Some(1),
        }
    }
}

impl Handler<Quote> for Venue {
    type Reply = ();
    async fn handle(&mut self, quote: Quote, _ctx: &mut Context<Self>) {
        let _ = self.quotes.send(quote);
    }
}

pub(crate) fn topology(dir: &TempDir, link: &str) -> std::path::PathBuf {
    let secret = dir.path().join("link.secret");
    std::fs::write(&secret, b"a topology secret of some length\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        r#"
secret_file = "link.secret"

[link]
{link}

[[node]]
name = "exec"
endpoint = "unix:exec.sock"
services = ["execution"]

[[node]]
name = "strategy"
endpoint = "unix:strategy.sock"
services = ["strategy"]
"#
    );
    let path = dir.path().join("topology.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn order(id: u64) -> NewOrder {
    NewOrder {
        client_order_id: id,
        instrument: 7,
        side: Side::Sell,
        order_type: OrderType::Market,
        tif: TimeInForce::Ioc,
        price: None,
        stop_price: None,
        qty: 1.0,
        account: "a".into(),
        post_only: false,
        strategy_tag: [0; 8],
        ts_ns: id * 10,
    }
}

pub(crate) fn quote(i: u32) -> Quote {
    Quote {
        ts_ns: u64::from(i),
        instrument: i,
        bid_px: 1.0,
        bid_qty: 1.0,
        ask_px: 2.0,
        ask_qty: 1.0,
    }
}

pub(crate) const SCHEMA: LocalSchema = LocalSchema::from_digest(SCHEMA_DIGEST);

pub(crate) async fn exec_node(
    path: &std::path::Path,
) -> (Node, Bus, mpsc::UnboundedReceiver<Quote>) {
    let bus = Bus::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let venue = bus.spawn::<Venue>(tx);
    bus.exports()
        .export_ask("execution", venue.reply_recipient::<NewOrder>())
        .unwrap();
    bus.exports()
        .export("execution", venue.recipient::<Quote>())
        .unwrap();
    let node = Node::from_topology(path, "exec", SCHEMA, &bus)
        .await
        .unwrap();
    (node, bus, rx)
}

/// Node `name` of the topology at `path`, on a bus of its own.
pub(crate) async fn node_on_own_bus(path: &std::path::Path, name: &str) -> (Bus, Node) {
    let bus = Bus::new();
    let node = Node::from_topology(path, name, SCHEMA, &bus).await.unwrap();
    (bus, node)
}

/// The `exec` and `strategy` nodes of the topology at `path`, each on a bus of its own.
pub(crate) async fn exec_and_strategy(path: &std::path::Path) -> ((Bus, Node), (Bus, Node)) {
    (
        node_on_own_bus(path, "exec").await,
        node_on_own_bus(path, "strategy").await,
    )
}

/// Waits until the publishing node's `link` forwards some topic (`want`) or none.
pub(crate) async fn forwarding(link: &mycelium_remote::link::Link, want: bool) {
    tokio::time::timeout(BOUND, async {
        while link.forwarded_topics().is_empty() == want {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the publishing node sees the change of interest");
}

/// Nodes `exec` and `strategy` (topology of `dir`), each on its own bus, with quotes
/// `md.quote.*` forwarded from `exec` to `strategy`: the interest has crossed the link.
pub(crate) struct QuotesAcross {
    _dir: TempDir,
    pub(crate) exec_bus: Bus,
    pub(crate) exec: Node,
    pub(crate) bus: Bus,
    pub(crate) strategy: Node,
    /// `exec`'s link to `strategy`.
    pub(crate) link: mycelium_remote::link::Link,
}

pub(crate) async fn quotes_across(tag: &str) -> QuotesAcross {
    let dir = TempDir::new(tag);
    let path = topology(&dir, "");
    let ((exec_bus, exec), (bus, strategy)) = exec_and_strategy(&path).await;
    exec.forward_topic::<Quote>();
    strategy
        .subscribe_remote::<Quote>("md.quote.*")
        .await
        .unwrap();
    let link = exec.link("strategy").unwrap();
    forwarding(&link, true).await;
    QuotesAcross {
        _dir: dir,
        exec_bus,
        exec,
        bus,
        strategy,
        link,
    }
}
