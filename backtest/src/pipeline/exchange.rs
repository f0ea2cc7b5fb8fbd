//! The simulated exchange: fills each order at the next tick's price, with a fee.

use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Context, Handler, Published, Publisher, SubscribeOptions};

use super::{topics, Config, Fill, FillBatch, OrderBatch};
use crate::Series;

/// Takes [`OrderBatch`]es from [`topics::ORDERS`] and publishes [`FillBatch`]es on
/// [`topics::FILLS`]. Fills an order decided on tick `i` at the price of tick `i + 1` (an order on the last
/// tick is not filled), charging `fee_bps` of the traded notional.
pub struct Exchange {
    series: Arc<Series>,
    fee: f64,
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
            fee: args.config.fee_bps / 10_000.0,
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
        let px = self.series.prices();
        let fills = b
            .orders
            .iter()
            .filter_map(|o| {
                let tick = o.tick + 1;
                let price = *px.get(tick)?;
                Some(Fill {
                    tick,
                    price,
                    qty: o.qty,
                    fee: o.qty.unsigned_abs() as f64 * price * self.fee,
                })
            })
            .collect();
        self.fills
            .publish(FillBatch {
                epoch: b.epoch,
                range: b.range.clone(),
                fills,
                last: b.last,
            })
            .await;
        Ok(())
    }
}
