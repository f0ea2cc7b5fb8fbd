//! A small trading tree: a feed publishes ticks to a strategy, which sends orders to an
//! execution actor. Tick 7 carries a negative price; the strategy panics on it, and its
//! supervisor restarts it with exponential backoff while the feed keeps going. The ticks sent
//! meanwhile wait in the strategy's mailbox and are handled by the restarted strategy.
//!
//! Run it with `cargo run --example supervision_tree`.

use std::time::Duration;

use mycelium::actors::Recipient;
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, Restart};
use tokio::sync::mpsc;

/// A price update.
struct Tick {
    seq: u64,
    price: f64,
}

/// An order to buy (+) or sell (-) one lot at a price.
struct Order {
    qty: i64,
    price: f64,
}

/// Execution: fills every order at its price and keeps the position.
struct Execution {
    position: i64,
    fills: u64,
}

impl Actor for Execution {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Execution {
            position: 0,
            fills: 0,
        })
    }
}

impl Handler<Order> for Execution {
    type Reply = ();
    async fn handle(&mut self, order: Order, ctx: &mut Context<Self>) {
        self.position += order.qty;
        self.fills += 1;
        println!(
            "[{:>7.1?}] execution: filled {:+} @ {:.2}, position {}",
            ctx.now(),
            order.qty,
            order.price,
            self.position
        );
    }
}

struct Report;
impl Handler<Report> for Execution {
    type Reply = (u64, i64);
    async fn handle(&mut self, _: Report, _ctx: &mut Context<Self>) -> (u64, i64) {
        (self.fills, self.position)
    }
}

/// Strategy: trades a crossing of the price over its 3-tick moving average. Panics on a tick
/// with a non-positive price.
struct Strategy {
    window: Vec<f64>,
    execution: Recipient<Order>,
}

impl Actor for Strategy {
    type Args = ();
    async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let execution = ctx
            .bus()
            .lookup::<Execution>("execution")
            .ok_or("the execution actor is not running")?;
        println!(
            "[{:>7.1?}] strategy: started (incarnation {})",
            ctx.now(),
            ctx.incarnation()
        );
        Ok(Strategy {
            window: Vec::new(),
            execution: execution.recipient(),
        })
    }
}

impl Handler<Tick> for Strategy {
    type Reply = ();
    async fn handle(&mut self, tick: Tick, _ctx: &mut Context<Self>) {
        assert!(
            tick.price > 0.0,
            "bad tick #{}: price {}",
            tick.seq,
            tick.price
        );
        let average = if self.window.is_empty() {
            tick.price
        } else {
            self.window.iter().sum::<f64>() / self.window.len() as f64
        };
        self.window.push(tick.price);
        if self.window.len() > 3 {
            self.window.remove(0);
        }
        let qty = if tick.price > average { 1 } else { -1 };
        let _ = self
            .execution
            .tell(Order {
                qty,
                price: tick.price,
            })
            .await;
    }
}

/// Feed: publishes a tick every 10 ms, then reports that it is done.
struct Feed {
    seq: u64,
    strategy: ActorRef<Strategy>,
    done: mpsc::UnboundedSender<()>,
}

#[derive(Clone)]
struct Publish;

impl Actor for Feed {
    type Args = mpsc::UnboundedSender<()>;
    async fn on_start(done: Self::Args, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let strategy = ctx
            .bus()
            .lookup::<Strategy>("strategy")
            .ok_or("the strategy is not running")?;
        ctx.send_interval(Publish, Duration::from_millis(10));
        Ok(Feed {
            seq: 0,
            strategy,
            done,
        })
    }
}

impl Handler<Publish> for Feed {
    type Reply = ();
    async fn handle(&mut self, _: Publish, ctx: &mut Context<Self>) {
        self.seq += 1;
        let price = if self.seq == 7 {
            -1.0
        } else {
            100.0 + (self.seq as f64 * 0.7).sin()
        };
        let _ = self
            .strategy
            .tell(Tick {
                seq: self.seq,
                price,
            })
            .await;
        if self.seq == 20 {
            let _ = self.done.send(());
            ctx.stop();
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // The strategy's panic is reported by the supervision events below; keep stderr quiet.
    std::panic::set_hook(Box::new(|_| {}));
    let bus = Bus::builder()
        .seed(7)
        .build()
        .expect("inside a tokio runtime");
    let (done, mut finished) = mpsc::unbounded_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .backoff(
            Backoff::exponential(Duration::from_millis(25), 2.0, Duration::from_secs(1))
                .with_jitter(0.2),
        )
        .on_event(|event| println!("supervisor: {event}"))
        .child(ChildSpec::new::<Execution>("execution", ()).register())
        .child(ChildSpec::new::<Strategy>("strategy", ()).register())
        .child(
            ChildSpec::new::<Feed>("feed", done)
                .register()
                .restart(Restart::Transient),
        )
        .spawn(&bus)
        .await
        .expect("the tree starts");

    finished.recv().await;
    let execution = tree
        .child::<Execution>("execution")
        .expect("execution runs");
    // The strategy may still be working through queued ticks: wait until it has sent its
    // orders by asking through it (messages to one actor are handled in order).
    let strategy = tree.child::<Strategy>("strategy").expect("strategy runs");
    let _ = strategy
        .tell(Tick {
            seq: 21,
            price: 100.0,
        })
        .await;
    let _ = strategy
        .ask(Tick {
            seq: 22,
            price: 100.0,
        })
        .await;
    let (fills, position) = execution.ask(Report).await.expect("execution answers");
    println!("fills: {fills}, final position: {position}");
    for letter in bus.dead_letters().drain() {
        println!("dead letter: {letter}");
    }
    let report = bus.shutdown(Duration::from_secs(1)).await;
    println!(
        "shutdown: {} stopped, {} killed",
        report.stopped.len(),
        report.killed.len()
    );
}
