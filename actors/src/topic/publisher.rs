//! Publishing: the fan-out loop, and `Publisher`, a handle on one topic.

use std::fmt;
use std::sync::Arc;

use smol_str::SmolStr;

use crate::export::PublishNow;

use crate::telemetry::{TopicMetrics, TopicMetricsCache};
use crate::topic::entry::{Attempt, Entry};
use crate::topic::prepaid::Prepaid;
use crate::topic::table::Table;
use crate::topic::{PublishReport, Published};

/// Delivers `msg` to every matching subscription of the table, in subscription order.
///
/// Per subscriber: one mailbox push, and a new handle on the message (one atomic increment)
/// for all but the table's last subscription, which, if it matches, is given the publisher's
/// own: a topic's only subscriber costs no count at all. The table is read without a
/// reference count ([`offer_all`]) until a full `Block` subscriber must be waited for: from
/// there the publisher holds one (no lock) until the last subscriber is served.
pub(super) async fn fan_out<T: Send + Sync + 'static>(
    table: &Table<Entry<T>>,
    msg: Published<T>,
) -> PublishReport {
    let mut report = PublishReport::default();
    if let Some(rest) = start(table, msg, &mut report) {
        finish(table, rest, &mut report).await;
    }
    report
}

/// What is left of a publish once [`start`] has served what it could without waiting.
enum Rest<T: Send + Sync + 'static> {
    /// A full `Block` subscriber, then the ones after it, then a turn if one falls due.
    Wait(Wait<T>),
    /// The turn of the scheduler the table's thread is due (`Table::turn_due`).
    Turn,
}

/// The part of a publish that never waits: every subscriber served until one is a full
/// `Block` subscriber, and the count toward a turn; `None` when nothing is left.
#[inline(always)]
fn start<T: Send + Sync + 'static>(
    table: &Table<Entry<T>>,
    msg: Published<T>,
    report: &mut PublishReport,
) -> Option<Rest<T>> {
    match offer_all(table, msg, report) {
        Some(wait) => Some(Rest::Wait(wait)),
        None => table.turn_due(report.delivered).then_some(Rest::Turn),
    }
}

/// The rest of a publish that [`start`] left.
async fn finish<T: Send + Sync + 'static>(
    table: &Table<Entry<T>>,
    rest: Rest<T>,
    report: &mut PublishReport,
) {
    match rest {
        Rest::Turn => crate::direct::give_turn().await,
        Rest::Wait(wait) => {
            serve_from(wait, report).await;
            if table.turn_due(report.delivered) {
                crate::direct::give_turn().await;
            }
        }
    }
}

/// Serves the subscriber [`offer_all`] stopped at, waiting for its room, then the ones after.
async fn serve_from<T: Send + Sync + 'static>(wait: Wait<T>, report: &mut PublishReport) {
    match wait {
        Wait::From {
            entries,
            at,
            back,
            msg,
        } => {
            entries[at].deliver_waiting(back, report).await;
            let (topic, key) = (msg.topic(), msg.key());
            for entry in &entries[at + 1..] {
                if let Some(back) = offer(entry, &msg, topic, key, report) {
                    entry.deliver_waiting(back, report).await;
                }
            }
        }
        Wait::Last { entry, back } => entry.deliver_waiting(back, report).await,
    }
}

/// Where [`offer_all`] stopped: a full `Block` subscriber to wait for.
enum Wait<T: Send + Sync + 'static> {
    /// The subscription at `at` in `entries` (the snapshot, counted), given `back`; those
    /// after it are still to be offered `msg`.
    From {
        entries: Arc<Vec<Arc<Entry<T>>>>,
        at: usize,
        back: Published<T>,
        msg: Published<T>,
    },
    /// The table's last subscription, given the publisher's own handle, `back`.
    Last {
        entry: Arc<Entry<T>>,
        back: Published<T>,
    },
}

/// Offers `msg` to every matching subscription of the table, in order, until one is a full
/// `Block` subscriber. Reads the snapshot without a reference count and lets go of it before
/// it returns, as it does of `msg` when no subscriber took it.
#[inline(always)]
fn offer_all<T: Send + Sync + 'static>(
    table: &Table<Entry<T>>,
    msg: Published<T>,
    report: &mut PublishReport,
) -> Option<Wait<T>> {
    let entries = table.snapshot();
    let (last, rest) = entries.split_last()?;
    let (topic, key) = (msg.topic(), msg.key());
    for (at, entry) in rest.iter().enumerate() {
        if let Some(back) = offer(entry, &msg, topic, key, report) {
            return Some(Wait::From {
                entries: arc_swap::Guard::into_inner(entries),
                at,
                back,
                msg,
            });
        }
    }
    if !last.accepts(topic, key) {
        return None;
    }
    report.matched += 1;
    match last.try_deliver(msg, report) {
        Attempt::Done => None,
        Attempt::Wait(back) => Some(Wait::Last {
            entry: Arc::clone(last),
            back,
        }),
    }
}

/// Offers a new handle on `msg` to `entry` if it matches `topic` and `key`: the handle back
/// when `entry` is a full `Block` subscriber, to wait for.
#[inline]
fn offer<T: Send + Sync + 'static>(
    entry: &Arc<Entry<T>>,
    msg: &Published<T>,
    topic: &str,
    key: Option<u64>,
    report: &mut PublishReport,
) -> Option<Published<T>> {
    if !entry.accepts(topic, key) {
        return None;
    }
    report.matched += 1;
    match entry.try_deliver(msg.clone(), report) {
        Attempt::Wait(back) => Some(back),
        Attempt::Done => None,
    }
}

/// Delivers a batch of messages on one topic (no key) to every matching subscription, in
/// subscription order: each subscriber gets the whole batch, in order, before the next one is
/// served. The report adds up what publishing each message alone would report.
pub(super) async fn fan_out_many<T: Send + Sync + 'static>(
    table: &Table<Entry<T>>,
    msgs: Vec<Published<T>>,
) -> PublishReport {
    let mut report = PublishReport::default();
    let Some(first) = msgs.first() else {
        return report;
    };
    let topic = first.topic();
    // Held across the deliveries' waits: counted.
    let entries = table.counted();
    let takers = entries
        .iter()
        .filter(|e| e.accepts(topic, None) && e.takes_batches())
        .count();
    let mut batch = Prepaid::new(&msgs, takers);
    for entry in entries.iter() {
        if entry.accepts(topic, None) {
            entry.deliver_batch(&mut batch, &mut report).await;
        }
    }
    // The handles not spent go back before the turn, not after it.
    drop(batch);
    drop(msgs);
    if table.turn_due(report.delivered) {
        crate::direct::give_turn().await;
    }
    report
}

/// A handle for publishing on one topic, from [`Bus::publisher`](crate::Bus::publisher). Its
/// name was checked once; cloning it is cheap.
///
/// ```
/// use mycelium_actors::{Bus, SubscribeOptions};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let bus = Bus::new();
/// let mut tape = bus.subscribe_stream::<u64>("fills", SubscribeOptions::new()).unwrap();
/// let fills = bus.publisher::<u64>("fills").unwrap();
/// fills.publish(7).await;
/// assert_eq!(*tape.recv().await.unwrap(), 7);
/// # });
/// ```
pub struct Publisher<T: Send + Sync + 'static> {
    table: Arc<Table<Entry<T>>>,
    topic: SmolStr,
    /// Its topic's instruments and the bus's, on a bus that records metrics.
    metrics: Option<(Arc<TopicMetrics>, Arc<TopicMetricsCache>)>,
}

impl<T: Send + Sync + 'static> Publisher<T> {
    pub(super) fn new(
        table: Arc<Table<Entry<T>>>,
        topic: SmolStr,
        cache: Option<Arc<TopicMetricsCache>>,
    ) -> Self {
        let metrics = cache.map(|c| (c.get(&topic), c));
        Publisher {
            table,
            topic,
            metrics,
        }
    }

    fn own_metrics(&self) -> Option<Arc<TopicMetrics>> {
        self.metrics.as_ref().map(|(m, _)| m.clone())
    }

    /// The topic it publishes on.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Publishes `msg` on another topic name of the same type (checked first), as far as it
    /// can without waiting: a link's reader hands on most publications with no future
    /// (none allocated), and awaits [`PublishNow::Rest`] only for a full `Block` subscriber
    /// or a turn of the scheduler, as `publish` would.
    pub(crate) fn publish_named_now(
        &self,
        topic: &str,
        key: Option<u64>,
        msg: T,
    ) -> Result<PublishNow, crate::error::TopicError> {
        crate::topic::pattern::validate_name(topic)?;
        let metrics = self.metrics.as_ref().map(|(_, cache)| cache.get(topic));
        let msg = Published::new(SmolStr::new(topic), key, msg, metrics);
        let mut report = PublishReport::default();
        let Some(rest) = start(&self.table, msg, &mut report) else {
            return Ok(PublishNow::Done(report));
        };
        let table = self.table.clone();
        Ok(PublishNow::Rest(Box::pin(async move {
            finish(&table, rest, &mut report).await;
            report
        })))
    }

    /// A publication on this topic, as a recorder is told of it.
    fn sent(&self) -> crate::recording::Sent<'_> {
        crate::recording::Sent::Publish { topic: &self.topic }
    }

    /// Publishes `msg`; see [`Bus::publish`](crate::Bus::publish).
    pub async fn publish(&self, msg: T) -> PublishReport {
        crate::recording::sent(|| self.sent(), &msg);
        let published = Published::new(self.topic.clone(), None, msg, self.own_metrics());
        fan_out(&self.table, published).await
    }

    /// Publishes every message of `msgs`, in order, as `publish` would one by one, but serving
    /// each subscriber the whole batch before the next: a `Block` subscriber's mailbox is
    /// locked once per run of messages that fits instead of once per message. Each subscriber
    /// sees the messages in order; subscribers no longer see them interleaved message by
    /// message. The report adds up what each publish alone would report.
    ///
    /// ```
    /// use mycelium_actors::{Bus, SubscribeOptions};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let bus = Bus::new();
    /// let mut tape = bus.subscribe_stream::<u64>("fills", SubscribeOptions::new()).unwrap();
    /// let fills = bus.publisher::<u64>("fills").unwrap();
    /// assert_eq!(fills.publish_many([1, 2, 3]).await.delivered, 3);
    /// assert_eq!(*tape.recv().await.unwrap(), 1);
    /// # });
    /// ```
    pub async fn publish_many(&self, msgs: impl IntoIterator<Item = T>) -> PublishReport {
        let metrics = self.own_metrics();
        let batch: Vec<Published<T>> = msgs
            .into_iter()
            .map(|msg| {
                crate::recording::sent(|| self.sent(), &msg);
                Published::new(self.topic.clone(), None, msg, metrics.clone())
            })
            .collect();
        fan_out_many(&self.table, batch).await
    }

    /// Publishes `msg` with `key`; see [`Bus::publish_keyed`](crate::Bus::publish_keyed).
    pub async fn publish_keyed(&self, key: u64, msg: T) -> PublishReport {
        crate::recording::sent(|| self.sent(), &msg);
        fan_out(
            &self.table,
            Published::new(self.topic.clone(), Some(key), msg, self.own_metrics()),
        )
        .await
    }
}

impl<T: Send + Sync + 'static> Clone for Publisher<T> {
    fn clone(&self) -> Self {
        Publisher {
            table: self.table.clone(),
            topic: self.topic.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Publisher({})", self.topic)
    }
}
