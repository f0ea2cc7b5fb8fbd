//! `pipeline::run_with`: another strategy in the crossover's place, and how its failures are
//! reported.

use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, Published, SubscribeOptions};
use mycelium_backtest::pipeline::{self, topics, Config, Order, OrderBatch, TickBatch};
use mycelium_backtest::Series;
use mycelium_supervisor::ChildSpec;

/// Long from the first tick on; panics on the batch holding `panic_at` in every incarnation.
struct Holder {
    panic_at: Option<usize>,
    sent: bool,
    orders: mycelium_actors::Publisher<OrderBatch>,
}

impl Actor for Holder {
    type Args = (Option<usize>, bool);

    async fn on_start(
        (panic_at, fail_start): (Option<usize>, bool),
        ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        if fail_start {
            return Err("no model file".into());
        }
        ctx.subscribe::<TickBatch>(topics::TICKS, SubscribeOptions::new())?;
        Ok(Holder {
            panic_at,
            sent: false,
            orders: ctx.bus().publisher::<OrderBatch>(topics::ORDERS)?,
        })
    }
}

impl Handler<Published<TickBatch>> for Holder {
    type Reply = ();

    async fn handle(&mut self, b: Published<TickBatch>, ctx: &mut Context<Self>) {
        if b.epoch != ctx.incarnation() {
            return;
        }
        if let Some(at) = self.panic_at {
            assert!(!b.range.contains(&at), "strategy bug at tick {at}");
        }
        let mut orders = Vec::new();
        if !self.sent {
            self.sent = true;
            orders.push(Order::market(b.range.start, 1));
        }
        self.orders
            .publish(OrderBatch {
                epoch: b.epoch,
                range: b.range.clone(),
                orders,
                last: b.last,
            })
            .await;
    }
}

fn run(
    name: &str,
    args: (Option<usize>, bool),
    warmup: usize,
) -> Result<pipeline::RunResult, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        std::panic::set_hook(Box::new(|_| {}));
        let bus = Bus::builder().virtual_time().build().expect("bus");
        let series = Arc::new(Series::synthetic(5, 5_000));
        let config = Config {
            batch: 500,
            ..Config::default()
        };
        let spec = ChildSpec::new::<Holder>(name, args);
        pipeline::run_with(&bus, series, spec, warmup, config)
            .await
            .map_err(|e| e.to_string())
    })
}

#[test]
fn another_strategy_runs_in_the_crossovers_place() {
    let r = run(pipeline::STRATEGY_CHILD, (None, false), 0).expect("a result");
    assert_eq!(r.ticks, 5_000);
    assert_eq!(r.stats.fills, 1);
    assert!(r.position > 0);
    // Held from the first bar's decision on: the return is about Buy & Hold's.
    let later = run(pipeline::STRATEGY_CHILD, (None, false), 2_500).expect("a result");
    assert_eq!(later.stats.return_pct, r.stats.return_pct);
    assert_ne!(later.stats.buy_hold_return_pct, r.stats.buy_hold_return_pct);
}

#[test]
fn a_strategy_that_keeps_failing_is_reported_with_its_failure() {
    let e = run(pipeline::STRATEGY_CHILD, (Some(0), false), 0).expect_err("it gives up");
    assert!(e.contains("strategy bug at tick 0"), "{e}");
}

#[test]
fn a_strategy_whose_first_start_fails_is_reported_by_name() {
    let e = run(pipeline::STRATEGY_CHILD, (None, true), 0).expect_err("it cannot start");
    assert!(e.contains("child `strategy` could not start"), "{e}");
    assert!(e.contains("no model file"), "{e}");
}

#[test]
fn the_strategy_child_must_have_the_strategy_name() {
    let e = run("model", (None, false), 0).expect_err("a wrong name");
    assert!(e.contains("must be named `strategy`"), "{e}");
}
