//! The strategy: a moving-average crossover with a band.

use mycelium_actors::{Actor, BoxError, Context, Handler, Recipient};

use super::{Config, Halt, Order, OrderBatch, Params, TickBatch};

/// Goes long `qty` when the fast simple moving average is above the slow one by more than
/// the band, short when below by more than the band, and keeps its position in between.
/// Moving averages are kept incrementally over the shared series (the strategy reads back
/// only ticks it has already seen), so a tick costs a few additions and comparisons.
pub struct Crossover {
    fast: usize,
    slow: usize,
    /// `fast_sum * slow > slow_sum * fast * up` means "fast above slow by the band".
    up: f64,
    down: f64,
    qty: i64,
    fast_sum: f64,
    slow_sum: f64,
    target: i64,
    halted: bool,
    last_tick: Option<usize>,
    crash_at: Option<usize>,
    exchange: Recipient<OrderBatch>,
}

/// Arguments of the [`Crossover`] strategy.
#[derive(Clone)]
pub struct CrossoverArgs {
    /// The grid point.
    pub params: Params,
    /// Run settings.
    pub config: Config,
}

impl Actor for Crossover {
    type Args = CrossoverArgs;
    async fn on_start(args: CrossoverArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        args.params.validate()?;
        let exchange = ctx
            .bus()
            .lookup::<super::Exchange>(super::EXCHANGE)
            .ok_or("the exchange is not running")?
            .recipient();
        let band = f64::from(args.params.band_bps) / 10_000.0;
        let (fast, slow) = (args.params.fast as usize, args.params.slow as usize);
        Ok(Crossover {
            fast,
            slow,
            up: fast as f64 * (1.0 + band),
            down: fast as f64 * (1.0 - band),
            qty: args.config.qty,
            fast_sum: 0.0,
            slow_sum: 0.0,
            target: 0,
            halted: false,
            last_tick: None,
            // Fault injection: only the first incarnation crashes.
            crash_at: args.config.crash_once_at.filter(|_| ctx.incarnation() == 0),
            exchange,
        })
    }
}

impl Handler<TickBatch> for Crossover {
    type Reply = Result<(), BoxError>;
    async fn handle(&mut self, b: TickBatch, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        if b.epoch != ctx.incarnation() {
            return Ok(());
        }
        if let Some(at) = self.crash_at {
            assert!(
                !b.range.contains(&at),
                "injected fault at tick {at} (incarnation {})",
                ctx.incarnation()
            );
        }
        let px = b.series.prices();
        let mut orders = Vec::new();
        let (fast, slow, up, down) = (self.fast, self.slow, self.up, self.down);
        let (mut fs, mut ss, mut target) = (self.fast_sum, self.slow_sum, self.target);
        for i in b.range.clone() {
            let p = px[i];
            fs += p;
            ss += p;
            if i >= fast {
                fs -= px[i - fast];
            }
            if i >= slow {
                ss -= px[i - slow];
            } else if i + 1 < slow {
                continue;
            }
            if self.halted {
                continue;
            }
            let lhs = fs * slow as f64;
            let want = if lhs > ss * up {
                1
            } else if lhs < ss * down {
                -1
            } else {
                target
            };
            if want != target {
                orders.push(Order {
                    tick: i,
                    qty: (want - target) * self.qty,
                });
                target = want;
            }
        }
        (self.fast_sum, self.slow_sum, self.target) = (fs, ss, target);
        self.last_tick = b.range.end.checked_sub(1);
        self.exchange
            .tell(OrderBatch {
                epoch: b.epoch,
                range: b.range,
                orders,
                last: b.last,
            })
            .await
            .map_err(|_| "the exchange stopped".into())
    }
}

impl Handler<Halt> for Crossover {
    type Reply = Result<(), BoxError>;
    async fn handle(&mut self, h: Halt, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        if h.epoch != ctx.incarnation() || self.halted {
            return Ok(());
        }
        self.halted = true;
        let (Some(tick), true) = (self.last_tick, self.target != 0) else {
            return Ok(());
        };
        let order = Order {
            tick,
            qty: -self.target * self.qty,
        };
        self.target = 0;
        let at = tick + 1;
        self.exchange
            .tell(OrderBatch {
                epoch: h.epoch,
                range: at..at,
                orders: vec![order],
                last: false,
            })
            .await
            .map_err(|_| "the exchange stopped".into())
    }
}
