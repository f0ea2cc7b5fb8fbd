//! The market-data replayer: publishes the shared series in batches, on the bus clock.
//!
//! Batches, not ticks: a message or a jump of the clock per tick would make a sweep of many
//! runs over a long series cost a multiple of what the strategy's own work costs. A batch is a
//! range of the one read-only series (shared by `Arc`, a struct of arrays), not a copy, and the
//! clock advances once per batch. Each batch is a timer due at the bus time of its first tick,
//! so once every actor has handled batch `k` the clock jumps to batch `k + 1` or to an earlier
//! timer (a restart's backoff, an ask's timeout): every timer follows data time, and a year of
//! data takes no wall time. Timers therefore fire between batches, so nothing that decides a
//! result runs on a timer: the actors decide per bar index, and results are the same for any
//! batch size.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Actor, BoxError, Context, Handler, Publisher};

use super::{topics, Config, TickBatch};
use crate::Series;

/// Replays the series as [`TickBatch`]es on the topic [`topics::TICKS`]. Batch `k` is published when the bus clock reaches
/// the time of its first tick (relative to the first tick of the series and to the moment
/// this incarnation started): on a virtual clock the bus jumps straight there once the
/// previous batch has been handled, or stops earlier for a timer that is due first.
pub struct Replayer {
    series: Arc<Series>,
    batch: usize,
    next: usize,
    origin: Duration,
    ticks: Publisher<TickBatch>,
}

/// Arguments of the [`Replayer`].
#[derive(Clone)]
pub struct ReplayerArgs {
    /// The shared series.
    pub series: Arc<Series>,
    /// Run settings.
    pub config: Config,
}

/// The replayer's timer: publish the next batch.
#[derive(Clone, Copy, Debug)]
pub struct Publish {
    epoch: u32,
}

impl Actor for Replayer {
    type Args = ReplayerArgs;
    async fn on_start(args: ReplayerArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let ticks = ctx.bus().publisher::<TickBatch>(topics::TICKS)?;
        let epoch = ctx.incarnation();
        ctx.send_after(Publish { epoch }, Duration::ZERO);
        Ok(Replayer {
            series: args.series,
            batch: args.config.batch.max(1),
            next: 0,
            origin: ctx.now(),
            ticks,
        })
    }
}

impl Handler<Publish> for Replayer {
    type Reply = Result<(), BoxError>;
    async fn handle(&mut self, p: Publish, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        if p.epoch != ctx.incarnation() || self.next >= self.series.len() {
            return Ok(());
        }
        let start = self.next;
        let end = (start + self.batch).min(self.series.len());
        self.next = end;
        let last = end == self.series.len();
        let batch = TickBatch {
            epoch: p.epoch,
            series: self.series.clone(),
            range: start..end,
            last,
        };
        if self.ticks.publish(batch).await.delivered == 0 {
            return Err("nobody subscribes to the market data".into());
        }
        if !last {
            let due = self.origin + Duration::from_nanos(self.series.offset_ns(end));
            ctx.send_after(p, due.saturating_sub(ctx.now()));
        }
        Ok(())
    }
}
