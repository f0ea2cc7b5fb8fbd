//! The simulated exchange: prices each order by the fill rule.

use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Context, Handler, Published, Publisher, SubscribeOptions};

use super::{topics, Config, Execution, FillAt, FillBatch, OrderBatch};
use crate::Series;

/// Takes [`OrderBatch`]es from [`topics::ORDERS`] and publishes [`FillBatch`]es on
/// [`topics::FILLS`]. Prices an order decided on bar `i` by [`Config::fill`] (the next
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
        let executions = b
            .orders
            .iter()
            .filter_map(|o| {
                let (price, bar, book_at) = self.fill.execution(&self.series, o.tick)?;
                Some(Execution {
                    decided: o.tick,
                    bar,
                    book_at,
                    price,
                    target: o.target,
                })
            })
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
