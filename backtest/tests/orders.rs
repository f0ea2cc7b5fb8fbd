//! Orders with a size, stop and limit prices, stop losses and take profits: filled by the
//! pipeline as backtesting.py fills them, checked against fills computed by hand, and the
//! account a strategy steps ([`Ledger`]) against the portfolio's.

use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, Published, SubscribeOptions};
use mycelium_backtest::pipeline::{
    self, topics, Config, Ledger, Order, OrderBatch, OrderError, RunResult, Sizing, TickBatch,
    Trade,
};
use mycelium_backtest::Series;
use mycelium_supervisor::ChildSpec;

/// Sends the given orders, each in the batch holding its tick.
struct Scripted {
    orders: Vec<Order>,
    out: mycelium_actors::Publisher<OrderBatch>,
}

impl Actor for Scripted {
    type Args = Vec<Order>;

    async fn on_start(orders: Vec<Order>, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.subscribe::<TickBatch>(topics::TICKS, SubscribeOptions::new())?;
        Ok(Scripted {
            orders,
            out: ctx.bus().publisher::<OrderBatch>(topics::ORDERS)?,
        })
    }
}

impl Handler<Published<TickBatch>> for Scripted {
    type Reply = ();

    async fn handle(&mut self, b: Published<TickBatch>, ctx: &mut Context<Self>) {
        if b.epoch != ctx.incarnation() {
            return;
        }
        let orders = self
            .orders
            .iter()
            .filter(|o| b.range.contains(&o.tick))
            .copied()
            .collect();
        self.out
            .publish(OrderBatch {
                epoch: b.epoch,
                range: b.range.clone(),
                orders,
                last: b.last,
            })
            .await;
    }
}

/// Eight bars (open, high, low, close), one a day.
fn bars() -> Arc<Series> {
    let rows = [
        (100.0, 101.0, 99.0, 100.0),
        (100.0, 103.0, 98.0, 102.0),
        (101.0, 106.0, 100.0, 105.0),
        (104.0, 108.0, 103.0, 107.0),
        (106.0, 107.0, 95.0, 96.0),
        (97.0, 99.0, 90.0, 92.0),
        (93.0, 97.0, 92.0, 95.0),
        (96.0, 100.0, 95.0, 99.0),
    ];
    let ts = (0..rows.len() as u64).map(|d| 1_704_067_200_000_000_000 + d * 86_400_000_000_000);
    let series = Series::bars(
        ts.collect(),
        rows.iter().map(|r| r.0).collect(),
        rows.iter().map(|r| r.3).collect(),
    )
    .expect("bars")
    .with_range(
        rows.iter().map(|r| r.1).collect(),
        rows.iter().map(|r| r.2).collect(),
    )
    .expect("ranges");
    Arc::new(series)
}

fn config(batch: usize) -> Config {
    Config {
        batch,
        keep_fills: true,
        size: Sizing::Units(10),
        ..Config::default()
    }
}

fn run(orders: Vec<Order>, config: Config) -> RunResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let bus = Bus::builder().virtual_time().build().expect("bus");
        let spec = ChildSpec::new::<Scripted>(pipeline::STRATEGY_CHILD, orders);
        pipeline::run_with(&bus, bars(), spec, 0, config)
            .await
            .expect("a result")
    })
}

/// The run, at batches of 1, 3 and 8 bars (the results must not depend on it), checked
/// against the account a strategy steps bar by bar.
fn runs(orders: &[Order], config_of: impl Fn(usize) -> Config) -> RunResult {
    let first = run(orders.to_vec(), config_of(1));
    for batch in [3, 8] {
        assert_eq!(
            run(orders.to_vec(), config_of(batch)).trades,
            first.trades,
            "batch {batch}"
        );
    }
    let mut ledger = Ledger::new(bars(), config_of(1));
    let mut last = None;
    while let Some(view) = ledger.step() {
        let bar = ledger.next_bar() - 1;
        for o in orders.iter().filter(|o| o.tick == bar) {
            ledger.submit(o).expect("a valid order");
        }
        last = Some(view);
    }
    let last = last.expect("bars");
    assert_eq!(last.position, first.position, "the ledger's position");
    assert!(
        (last.equity - first.stats.equity_final).abs() < 1e-9,
        "the ledger's equity"
    );
    first
}

fn trade(size: i64, entry: (usize, f64), exit: (usize, f64), pnl: f64, fees: f64) -> Trade {
    Trade {
        size,
        entry_bar: entry.0,
        exit_bar: exit.0,
        entry_price: entry.1,
        exit_price: exit.1,
        pnl,
        fees,
    }
}

#[test]
fn a_market_order_fills_at_the_next_open_with_its_commission() {
    let orders = [Order::market(0, 1), Order::market(3, 0)];
    let r = runs(&orders, |b| Config {
        commission_bps: 10.0,
        ..config(b)
    });
    // 10 units at bar 1's open, out at bar 4's open; 0.1% of each fill's notional.
    let fees = 10.0 * 100.0 * 0.001 + 10.0 * 106.0 * 0.001;
    assert_eq!(
        r.trades,
        vec![trade(10, (1, 100.0), (4, 106.0), 60.0 - fees, fees)]
    );
    assert!((r.stats.equity_final - (10_000.0 + 60.0 - fees)).abs() < 1e-9);
}

#[test]
fn a_buy_limit_fills_at_the_limit_and_its_take_profit_at_its_price() {
    let orders = [Order {
        limit: Some(99.0),
        tp: Some(105.0),
        ..Order::market(0, 1)
    }];
    let r = runs(&orders, config);
    // Bar 1's low (98) reaches 99 below its open (100): filled at 99. The take profit
    // watches from the next bar: bar 2's high (106) reaches 105 above its open (101).
    assert_eq!(r.trades, vec![trade(10, (1, 99.0), (2, 105.0), 60.0, 0.0)]);
    assert_eq!(r.position, 0);
}

#[test]
fn a_buy_stop_fills_at_the_stop_and_its_stop_loss_at_the_open_below_it() {
    let orders = [Order {
        stop: Some(104.0),
        sl: Some(101.0),
        ..Order::market(0, 1)
    }];
    let r = runs(&orders, config);
    // Bar 1's high (103) is short of 104; bar 2's (106) reaches it above the open (101).
    // Bar 4's low (95) reaches the stop loss, and so does its open (106 > 101): at 101.
    assert_eq!(
        r.trades,
        vec![trade(10, (2, 104.0), (4, 101.0), -30.0, 0.0)]
    );
}

#[test]
fn a_short_with_a_bracket_takes_its_profit() {
    let orders = [Order {
        size: Some(Sizing::Units(5)),
        sl: Some(110.0),
        tp: Some(93.0),
        ..Order::market(3, -1)
    }];
    let r = runs(&orders, config);
    // Short 5 at bar 4's open (106); bar 5's low (90) reaches 93 below its open (97).
    assert_eq!(r.trades, vec![trade(-5, (4, 106.0), (5, 93.0), 65.0, 0.0)]);
}

#[test]
fn a_stop_loss_after_a_market_entry_can_trigger_on_the_entry_bar() {
    let orders = [Order {
        sl: Some(100.0),
        ..Order::market(3, 1)
    }];
    let r = runs(&orders, config);
    // In at bar 4's open (106); its low (95) reaches 100 in the same bar.
    assert_eq!(
        r.trades,
        vec![trade(10, (4, 106.0), (4, 100.0), -60.0, 0.0)]
    );
}

#[test]
fn a_stop_limit_waits_when_the_limit_may_have_come_before_the_stop() {
    let orders = [Order {
        stop: Some(104.0),
        limit: Some(103.0),
        ..Order::market(0, 1)
    }];
    let r = runs(&orders, config);
    // Bar 2 reaches the stop (high 106) and the limit (low 100) below it: which came first
    // is unknown, so the fill waits; bar 3's low (103) reaches the limit: at 103.
    assert_eq!(r.fills.len(), 1);
    assert_eq!(
        (r.fills[0].tick, r.fills[0].price, r.fills[0].qty),
        (3, 103.0, 10)
    );
    assert_eq!(r.position, 10);
}

#[test]
fn the_next_order_replaces_a_working_one() {
    let orders = [
        Order {
            limit: Some(90.0),
            ..Order::market(0, 1)
        },
        Order {
            size: Some(Sizing::Units(3)),
            ..Order::market(2, 1)
        },
    ];
    let r = runs(&orders, config);
    // The limit (reached at bar 5) is replaced by the market order decided at bar 2.
    assert_eq!(r.fills.len(), 1);
    assert_eq!(
        (r.fills[0].tick, r.fills[0].price, r.fills[0].qty),
        (3, 104.0, 3)
    );
}

#[test]
fn an_order_filled_before_the_next_is_decided_stays_filled() {
    let orders = [
        Order {
            limit: Some(99.0),
            ..Order::market(0, 1)
        },
        Order::market(2, 0),
    ];
    let r = runs(&orders, config);
    assert_eq!(r.trades, vec![trade(10, (1, 99.0), (3, 104.0), 50.0, 0.0)]);
}

#[test]
fn marks_are_the_equity_at_every_bar() {
    let r = runs(&[Order::market(0, 1), Order::market(3, 0)], config);
    let equity: Vec<f64> = r.marks.iter().map(|m| m.1).collect();
    // Flat at bar 0; 10 units from 100: +20, +50, +70; out at 106 (+60) from bar 4.
    let want = [0.0, 20.0, 50.0, 70.0, 60.0, 60.0, 60.0, 60.0].map(|d| 10_000.0 + d);
    assert_eq!(equity, want);
    assert_eq!(r.marks.len(), bars().len());
}

#[test]
fn bad_orders_are_refused_with_what_to_give() {
    let bad = Order {
        sl: Some(105.0),
        tp: Some(100.0),
        ..Order::market(0, 1)
    };
    let e = bad.validate().expect_err("sl above tp for a long");
    assert!(matches!(e, OrderError::Bracket { .. }));
    assert!(e.to_string().contains("stop loss < take profit"), "{e}");
    let flat = Order {
        limit: Some(1.0),
        ..Order::market(0, 0)
    };
    assert_eq!(flat.validate(), Err(OrderError::FlatWithPrices));
    assert_eq!(Order::market(0, 2).validate(), Err(OrderError::Target(2)));
    let nan = Order {
        stop: Some(f64::NAN),
        ..Order::market(0, 1)
    };
    assert!(matches!(
        nan.validate(),
        Err(OrderError::Price { what: "stop", .. })
    ));
    let mut ledger = Ledger::new(bars(), config(1));
    ledger.step();
    assert!(ledger.submit(&bad).is_err());
}

#[test]
fn a_close_at_the_open_comes_before_the_stop_loss_of_its_bar() {
    let orders = [
        Order {
            sl: Some(100.0),
            ..Order::market(2, 1)
        },
        Order::market(3, 0),
    ];
    let r = runs(&orders, config);
    // In at bar 3's open (104). Bar 4 opens at 106, then its low (95) would reach the stop
    // loss: the close fills at the open first, and the stop loss is void.
    assert_eq!(r.trades, vec![trade(10, (3, 104.0), (4, 106.0), 20.0, 0.0)]);
}

#[test]
fn a_reversal_books_after_the_exit_of_its_bar() {
    let orders = [
        Order {
            sl: Some(100.0),
            ..Order::market(2, 1)
        },
        Order::market(3, -1),
    ];
    let r = runs(&orders, config);
    // As backtesting.py's broker: the stop loss (bar 4, at 100) closes the long, then the
    // sell opens a short at the open.
    assert_eq!(r.trades[0], trade(10, (3, 104.0), (4, 100.0), -40.0, 0.0));
    assert_eq!(r.position, -10);
}

#[test]
fn after_the_risk_limit_the_account_and_the_ledger_stop_alike() {
    let orders = [Order::market(3, 1), Order::market(6, -1)];
    let r = runs(&orders, |b| Config {
        risk_limit: Some(0.05),
        ..config(b)
    });
    // Long 10 from 106: at worst 140 down from 10,000, under 5%: no halt, the sell trades.
    assert_eq!(r.halted_at, None);
    assert_eq!(r.position, -10);
    let all = runs(&orders, |b| Config {
        risk_limit: Some(0.05),
        size: Sizing::Equity(1.0),
        ..config(b)
    });
    // 94 units from 106: at bar 4's close (96) the drawdown is 940 / 10,000 > 5%: halted,
    // closed at bar 5's open (97), and the later sell is ignored.
    assert_eq!(all.halted_at, Some(4));
    assert_eq!(all.position, 0);
    assert_eq!(
        all.trades,
        vec![trade(94, (4, 106.0), (5, 97.0), -846.0, 0.0)]
    );
}

#[test]
fn a_malformed_order_fails_the_run_saying_what_is_wrong() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let e = rt.block_on(async {
        let bus = Bus::builder().virtual_time().build().expect("bus");
        let bad = Order {
            limit: Some(f64::NAN),
            ..Order::market(1, 1)
        };
        let spec = ChildSpec::new::<Scripted>(pipeline::STRATEGY_CHILD, vec![bad]);
        pipeline::run_with(&bus, bars(), spec, 0, config(8))
            .await
            .expect_err("the order is refused")
    });
    let text = e.to_string();
    assert!(text.contains("order at tick 1: limit NaN"), "{text}");
}
