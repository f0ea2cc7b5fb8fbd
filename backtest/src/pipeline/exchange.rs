//! The simulated exchange: prices each order by the fill rule.

use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Context, Handler, Published, Publisher, SubscribeOptions};

use super::{topics, Config, Execution, ExecutionKind, FillAt, FillBatch, Order, OrderBatch};
use crate::Series;

/// Takes [`OrderBatch`]es from [`topics::ORDERS`] and publishes [`FillBatch`]es on
/// [`topics::FILLS`]. An order that fails [`Order::validate`] fails the exchange (and the
/// run, once its supervisor gives up) with what is wrong with it. Prices an order decided on bar `i` by [`Config::fill`] (the next
/// bar's open by default; an order decided on the last bar does not execute). Sizes and
/// commissions are the account's business.
pub struct Exchange {
    series: Arc<Series>,
    fill: FillAt,
    fills: Publisher<FillBatch>,
}

/// Arguments of the [`Exchange`].
#[derive(Clone)]
pub struct ExchangeArgs {
    /// The shared series (read by index for fill prices).
    pub series: Arc<Series>,
    /// Run settings.
    pub config: Config,
}

impl Actor for Exchange {
    type Args = ExchangeArgs;
    async fn on_start(args: ExchangeArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.subscribe::<OrderBatch>(topics::ORDERS, SubscribeOptions::new())?;
        let fills = ctx.bus().publisher::<FillBatch>(topics::FILLS)?;
        Ok(Exchange {
            series: args.series,
            fill: args.config.fill,
            fills,
        })
    }
}

impl Handler<Published<OrderBatch>> for Exchange {
    type Reply = Result<(), BoxError>;
    async fn handle(
        &mut self,
        b: Published<OrderBatch>,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if b.epoch != ctx.incarnation() {
            return Ok(());
        }
        // A strategy's malformed order fails the run with what is wrong, not a wrong fill.
        for o in &b.orders {
            o.validate()
                .map_err(|e| format!("the strategy's order at tick {}: {e}", o.tick))?;
        }
        let executions = b
            .orders
            .iter()
            .filter_map(|o| execute(&self.series, self.fill, o))
            .collect();
        self.fills
            .publish(FillBatch {
                epoch: b.epoch,
                range: b.range.clone(),
                executions,
                last: b.last,
            })
            .await;
        Ok(())
    }
}

/// Where and at what price `order` executes on `series` under the fill rule `fill`, or
/// `None` if it never does (decided on the last bar, or a stop or limit never reached).
/// A market order fills by the fill rule; a stop or limit order as [`Order`] says, on the
/// first bar after the decision where it triggers.
pub fn execute(series: &Series, fill: FillAt, order: &Order) -> Option<Execution> {
    let (bar, book_at, price, kind) = if order.is_working() {
        let (bar, price) = trigger(series, order)?;
        (bar, bar, price, ExecutionKind::Working)
    } else {
        let (price, bar, book_at) = fill.execution(series, order.tick)?;
        (bar, book_at, price, ExecutionKind::Market)
    };
    Some(Execution {
        decided: order.tick,
        bar,
        book_at,
        price,
        target: order.target,
        size: order.size,
        sl: order.sl,
        tp: order.tp,
        kind,
    })
}

/// The bar and price at which a stop or limit order decided on `order.tick` fills.
fn trigger(series: &Series, order: &Order) -> Option<(usize, f64)> {
    let long = order.target > 0;
    let opens = series.opens();
    let mut stop = order.stop;
    for (j, &open) in opens.iter().enumerate().skip(order.tick + 1) {
        let (high, low) = (series.high(j), series.low(j));
        // The stop price reached on this bar, if there is one: from here on the order is a
        // market or limit order.
        let stopped_here = match stop {
            Some(s) => {
                let hit = if long { high >= s } else { low <= s };
                if !hit {
                    continue;
                }
                stop = None;
                Some(s)
            }
            None => None,
        };
        match order.limit {
            Some(limit) => {
                let hit = if long { low <= limit } else { high >= limit };
                // Within one bar the limit on the far side of the stop may have been
                // reached before the stop: the fill waits (backtesting.py's pessimism).
                let before_stop =
                    stopped_here.is_some_and(|s| if long { limit <= s } else { limit >= s });
                if !hit || before_stop {
                    continue;
                }
                let from = stopped_here.unwrap_or(open);
                return Some((
                    j,
                    if long {
                        from.min(limit)
                    } else {
                        from.max(limit)
                    },
                ));
            }
            None => {
                let s = stopped_here.unwrap_or(open);
                return Some((j, if long { open.max(s) } else { open.min(s) }));
            }
        }
    }
    None
}

/// The first bar from `from` on where the stop loss `sl` or the take profit `tp` of a
/// position (long if `long`) triggers, and the exit price: the stop loss at the worse of
/// the open and `sl`, the take profit at the better of the open and `tp`; the stop loss
/// first when both are within one bar.
pub fn exit_trigger(
    series: &Series,
    from: usize,
    long: bool,
    sl: Option<f64>,
    tp: Option<f64>,
) -> Option<(usize, f64)> {
    if sl.is_none() && tp.is_none() {
        return None;
    }
    let opens = series.opens();
    for (j, &open) in opens.iter().enumerate().skip(from) {
        let (high, low) = (series.high(j), series.low(j));
        if let Some(s) = sl {
            if long && low <= s {
                return Some((j, open.min(s)));
            }
            if !long && high >= s {
                return Some((j, open.max(s)));
            }
        }
        if let Some(t) = tp {
            if long && high >= t {
                return Some((j, open.max(t)));
            }
            if !long && low <= t {
                return Some((j, open.min(t)));
            }
        }
    }
    None
}
