//! Metrics of a bus, through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! Off by default; [`BusBuilder::metrics(true)`](crate::BusBuilder::metrics) turns them on
//! for one bus. The values go to whatever recorder the process installed (a Prometheus
//! exporter, a statsd client, a test's debugging recorder); with none installed they cost a
//! few branches and are dropped. Every duration is **bus time**: on a virtual-time bus a
//! backtest records the same values on every run.
//!
//! ```
//! use mycelium_actors::{telemetry, Bus};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let bus = Bus::builder().metrics(true).build().unwrap();
//! assert!(bus.metrics_enabled());
//! // A transport reports its link's traffic under the names of `telemetry::names`.
//! let link = telemetry::LinkMetrics::new(&bus, "node-2");
//! link.state(telemetry::LinkState::Up);
//! link.bytes_sent(512);
//! # });
//! ```
//!
//! # Names, labels, units
//!
//! | Name | Kind | Labels | Unit, meaning |
//! | --- | --- | --- | --- |
//! | `mycelium_actor_mailbox_depth` | gauge | `actor`, `actor_type` | user messages waiting in the batch the actor took from its mailbox, after each handled message (arrivals since count at the next refill); 0 once the actor has stopped |
//! | `mycelium_actor_handle_seconds` | histogram | `actor`, `actor_type` | seconds of bus time in one handler |
//! | `mycelium_supervisor_failures_total` | counter | `supervisor` | child incarnations that failed (panics, errors, start failures) |
//! | `mycelium_supervisor_restarts_total` | counter | `supervisor` | successful restarts of children |
//! | `mycelium_topic_published_total` | counter | `topic` | messages published (a rate in the query) |
//! | `mycelium_topic_delivery_seconds` | histogram | `topic` | seconds of bus time from publish to the subscriber's handler (or stream) taking it |
//! | `mycelium_subscription_dropped_total` | counter | `pattern`, `subscriber` | messages a subscription dropped: by its overflow policy, or still waiting in its buffer when it ended (as `SubscriptionStats::dropped`) |
//! | `mycelium_link_state` | gauge | `peer` | 0 down, 1 connecting, 2 up |
//! | `mycelium_link_bytes_total` | counter | `peer`, `direction` (`sent`/`received`) | bytes |
//! | `mycelium_link_frames_total` | counter | `peer`, `direction` | frames |
//! | `mycelium_link_resends_total` | counter | `peer` | frames sent again |
//! | `mycelium_link_loss_reports_total` | counter | `peer` | loss reports this node raised for its messages to `peer` (the peer restarted, the link gave up, a frame too large for it) |
//! | `mycelium_link_lost_frames_total` | counter | `peer` | frames the peer reported lost |
//! | `mycelium_link_parks_total` | counter | `peer` | times a spinning reader (`Mode::Spin`) went its whole budget without bytes and parked on the transport |
//! | `mycelium_link_refused_total` | counter | `reason` (`auth`, `node`, `schema`, `handshake`, `tls`, `turned_away`, `silent`) | incoming connections a node's listener closed before they reached a link |
//!
//! Cardinality: `actor` is the actor's registered name, or its type name for anonymous
//! actors (one series per type, not per id). `supervisor` is the supervisor's name, or
//! `supervisor` for an anonymous one. `topic` is the concrete topic name published on, so a
//! topic per instrument is a series per instrument. `subscriber` is the subscribing actor's
//! name or type, `stream` or `recipient`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};

use crate::{Actor, Bus, Clock};

/// The metric names, for dashboards and for code that reads a recorder.
pub mod names {
    /// Gauge: user messages waiting in an actor's mailbox after each handled message.
    pub const MAILBOX_DEPTH: &str = "mycelium_actor_mailbox_depth";
    /// Histogram: seconds of bus time one handler took.
    pub const HANDLE_SECONDS: &str = "mycelium_actor_handle_seconds";
    /// Counter: failed child incarnations, per supervisor.
    pub const SUPERVISOR_FAILURES: &str = "mycelium_supervisor_failures_total";
    /// Counter: successful child restarts, per supervisor.
    pub const SUPERVISOR_RESTARTS: &str = "mycelium_supervisor_restarts_total";
    /// Counter: messages published, per topic.
    pub const TOPIC_PUBLISHED: &str = "mycelium_topic_published_total";
    /// Histogram: seconds of bus time from publish to the subscriber taking the message.
    pub const TOPIC_DELIVERY_SECONDS: &str = "mycelium_topic_delivery_seconds";
    /// Counter: messages a subscription dropped, by its overflow policy or left in its buffer
    /// when it ended.
    pub const SUBSCRIPTION_DROPPED: &str = "mycelium_subscription_dropped_total";
    /// Gauge: a remote link's state (see [`LinkState`](super::LinkState)).
    pub const LINK_STATE: &str = "mycelium_link_state";
    /// Counter: bytes over a remote link, by `direction`.
    pub const LINK_BYTES: &str = "mycelium_link_bytes_total";
    /// Counter: frames over a remote link, by `direction`.
    pub const LINK_FRAMES: &str = "mycelium_link_frames_total";
    /// Counter: frames a remote link sent again.
    pub const LINK_RESENDS: &str = "mycelium_link_resends_total";
    /// Counter: loss reports a remote link received.
    pub const LINK_LOSS_REPORTS: &str = "mycelium_link_loss_reports_total";
    /// Counter: frames the peer of a remote link reported lost.
    pub const LINK_LOST_FRAMES: &str = "mycelium_link_lost_frames_total";
    /// Counter: times a remote link's spinning reader spent its budget without bytes and
    /// parked on the transport.
    pub const LINK_PARKS: &str = "mycelium_link_parks_total";
    /// Counter: incoming connections a node's listener closed before they reached a link,
    /// per reason.
    pub const LINK_REFUSED: &str = "mycelium_link_refused_total";
}

/// An actor's instruments, held by its task when the bus records metrics.
pub(crate) struct ActorMetrics {
    pub(crate) clock: Clock,
    depth: Gauge,
    handle: Histogram,
    /// When the last handler ended (bus time).
    last_end: Option<Duration>,
}

impl ActorMetrics {
    pub(crate) fn new<A: Actor>(bus: &Bus, name: Option<&str>) -> Option<Box<Self>> {
        if !bus.metrics_enabled() {
            return None;
        }
        let actor = name.unwrap_or(A::type_name()).to_string();
        let labels = [("actor", actor), ("actor_type", A::type_name().to_string())];
        Some(Box::new(ActorMetrics {
            clock: bus.clock().clone(),
            depth: metrics::gauge!(names::MAILBOX_DEPTH, &labels),
            handle: metrics::histogram!(names::HANDLE_SECONDS, &labels),
            last_end: None,
        }))
    }

    /// When the handler about to run starts. In a burst (the actor did not `wait` for the
    /// message) that is when the previous one ended: one clock read per message instead of
    /// two, and the time between the two is the dequeue, part of handling it.
    #[inline]
    pub(crate) fn start(&self, waited: bool) -> Duration {
        match self.last_end {
            Some(end) if !waited => end,
            _ => self.clock.now_in_task(),
        }
    }

    /// Forgets the last end: the next handler's start is read from the clock (a new
    /// incarnation, or after the failure hook ran).
    pub(crate) fn reset(&mut self) {
        self.last_end = None;
    }

    /// The actor stopped for good: what it held went to the dead letters, so it holds nothing.
    pub(crate) fn stopped(&self) {
        self.depth.set(0.0);
    }

    /// One message handled from `started` on (bus time), `depth` left waiting.
    pub(crate) fn handled(&mut self, started: Duration, depth: usize) {
        let end = self.clock.now_in_task();
        self.last_end = Some(end);
        self.handle
            .record(end.saturating_sub(started).as_secs_f64());
        self.depth.set(depth as f64);
    }
}

/// A topic's instruments, shared by every publish on it.
pub(crate) struct TopicMetrics {
    pub(crate) clock: Clock,
    published: Counter,
    delivery: Histogram,
}

impl TopicMetrics {
    pub(crate) fn new(clock: Clock, topic: &str) -> Self {
        let labels = [("topic", topic.to_string())];
        TopicMetrics {
            clock,
            published: metrics::counter!(names::TOPIC_PUBLISHED, &labels),
            delivery: metrics::histogram!(names::TOPIC_DELIVERY_SECONDS, &labels),
        }
    }

    pub(crate) fn published(&self) {
        self.published.increment(1);
    }

    /// A message published at `at` (bus time) reached its subscriber now.
    pub(crate) fn delivered(&self, at: Duration) {
        let took = self.clock.now_in_task().saturating_sub(at);
        self.delivery.record(took.as_secs_f64());
    }
}

/// The instruments of every topic of one bus, by topic name, built on first use.
pub(crate) struct TopicMetricsCache {
    clock: Clock,
    // Looked up by name only; never iterated.
    topics: Mutex<HashMap<Arc<str>, Arc<TopicMetrics>>>,
}

impl TopicMetricsCache {
    pub(crate) fn new(clock: Clock) -> Self {
        TopicMetricsCache {
            clock,
            topics: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, topic: &str) -> Arc<TopicMetrics> {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = topics.get(topic) {
            return found.clone();
        }
        let made = Arc::new(TopicMetrics::new(self.clock.clone(), topic));
        topics.insert(Arc::from(topic), made.clone());
        made
    }
}

/// The drop counter of one subscription.
pub(crate) fn dropped_counter(bus: &Bus, pattern: &str, subscriber: &str) -> Option<Counter> {
    bus.metrics_enabled().then(|| {
        metrics::counter!(
            names::SUBSCRIPTION_DROPPED,
            "pattern" => pattern.to_string(),
            "subscriber" => subscriber.to_string()
        )
    })
}

/// The state of a remote link, as [`LinkMetrics::state`] records it (the gauge's value in
/// parentheses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// No connection (0).
    Down,
    /// Connecting or handshaking (1).
    Connecting,
    /// Connected and exchanging frames (2).
    Up,
}

impl LinkState {
    fn value(self) -> f64 {
        match self {
            LinkState::Down => 0.0,
            LinkState::Connecting => 1.0,
            LinkState::Up => 2.0,
        }
    }
}

/// The instruments of one remote link, for a transport to call as traffic passes.
///
/// Built from the link's bus: when that bus does not record metrics every call is a no-op.
/// The handles are resolved once, so recording is an atomic add in the installed recorder.
#[derive(Clone, Debug)]
pub struct LinkMetrics {
    inner: Option<LinkInstruments>,
}

#[derive(Clone, Debug)]
struct LinkInstruments {
    state: Gauge,
    bytes_sent: Counter,
    bytes_received: Counter,
    frames_sent: Counter,
    frames_received: Counter,
    resends: Counter,
    loss_reports: Counter,
    lost_frames: Counter,
    parks: Counter,
}

impl LinkMetrics {
    /// The instruments of the link to `peer` (its label: keep it a node name, not an address
    /// that changes per connection).
    pub fn new(bus: &Bus, peer: &str) -> Self {
        if !bus.metrics_enabled() {
            return LinkMetrics { inner: None };
        }
        let peer = peer.to_string();
        let dir = |d: &'static str| [("peer", peer.clone()), ("direction", d.to_string())];
        let one = [("peer", peer.clone())];
        LinkMetrics {
            inner: Some(LinkInstruments {
                state: metrics::gauge!(names::LINK_STATE, &one),
                bytes_sent: metrics::counter!(names::LINK_BYTES, &dir("sent")),
                bytes_received: metrics::counter!(names::LINK_BYTES, &dir("received")),
                frames_sent: metrics::counter!(names::LINK_FRAMES, &dir("sent")),
                frames_received: metrics::counter!(names::LINK_FRAMES, &dir("received")),
                resends: metrics::counter!(names::LINK_RESENDS, &one),
                loss_reports: metrics::counter!(names::LINK_LOSS_REPORTS, &one),
                lost_frames: metrics::counter!(names::LINK_LOST_FRAMES, &one),
                parks: metrics::counter!(names::LINK_PARKS, &one),
            }),
        }
    }

    /// True when the calls record anything.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The link changed state.
    pub fn state(&self, state: LinkState) {
        if let Some(i) = &self.inner {
            i.state.set(state.value());
        }
    }

    /// A frame of `bytes` bytes went out.
    pub fn frame_sent(&self, bytes: u64) {
        if let Some(i) = &self.inner {
            i.frames_sent.increment(1);
            i.bytes_sent.increment(bytes);
        }
    }

    /// A frame of `bytes` bytes came in.
    pub fn frame_received(&self, bytes: u64) {
        if let Some(i) = &self.inner {
            i.frames_received.increment(1);
            i.bytes_received.increment(bytes);
        }
    }

    /// `bytes` went out outside any counted frame (handshakes, padding).
    pub fn bytes_sent(&self, bytes: u64) {
        if let Some(i) = &self.inner {
            i.bytes_sent.increment(bytes);
        }
    }

    /// `frames` frames were sent again.
    pub fn resent(&self, frames: u64) {
        if let Some(i) = &self.inner {
            i.resends.increment(frames);
        }
    }

    /// The peer reported `lost` frames lost.
    pub fn loss_report(&self, lost: u64) {
        if let Some(i) = &self.inner {
            i.loss_reports.increment(1);
            i.lost_frames.increment(lost);
        }
    }

    /// A spinning reader spent its budget without bytes and parked on the transport.
    pub fn parked(&self) {
        if let Some(i) = &self.inner {
            i.parks.increment(1);
        }
    }
}

/// Why a node's listener closed an incoming connection before it reached a link (the
/// `reason` label of [`names::LINK_REFUSED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A wrong or missing shared secret (`auth`).
    Auth,
    /// A node that is not accepted there (`node`).
    Node,
    /// An incompatible schema (`schema`).
    Schema,
    /// The handshake failed otherwise: a protocol error, its deadline, the connection lost,
    /// the peer's own refusal, or a link that gave the peer up (`handshake`).
    Handshake,
    /// The TLS handshake failed (`tls`).
    Tls,
    /// Closed before it authenticated to make room for a newer connection: the listener's
    /// handshake slots were full (`turned_away`).
    TurnedAway,
    /// The peer closed the connection before a byte of it came: a probe of whether the node
    /// listens, a health check, a port scan (`silent`). Logged at debug level only.
    Silent,
}

impl Refusal {
    const ALL: [Refusal; 7] = [
        Refusal::Auth,
        Refusal::Node,
        Refusal::Schema,
        Refusal::Handshake,
        Refusal::Tls,
        Refusal::TurnedAway,
        Refusal::Silent,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Auth => "auth",
            Refusal::Node => "node",
            Refusal::Schema => "schema",
            Refusal::Handshake => "handshake",
            Refusal::Tls => "tls",
            Refusal::TurnedAway => "turned_away",
            Refusal::Silent => "silent",
        }
    }
}

/// The counter of a node's listeners: incoming connections refused, by [`Refusal`]. Every
/// call is a no-op when the bus does not record metrics.
#[derive(Clone, Debug)]
pub struct ListenerMetrics {
    inner: Option<Arc<[Counter; Refusal::ALL.len()]>>,
}

impl ListenerMetrics {
    /// The counters of the listeners of a node on `bus`.
    pub fn new(bus: &Bus) -> Self {
        let inner = bus.metrics_enabled().then(|| {
            Arc::new(
                Refusal::ALL.map(|r| metrics::counter!(names::LINK_REFUSED, "reason" => r.label())),
            )
        });
        ListenerMetrics { inner }
    }

    /// An incoming connection was refused for `why`.
    pub fn refused(&self, why: Refusal) {
        if let Some(counters) = &self.inner {
            counters[why as usize].increment(1);
        }
    }
}

/// The counters of one supervisor, for the supervision crate to call as children fail and
/// restart. Every call is a no-op when the bus does not record metrics.
#[derive(Clone, Debug)]
pub struct SupervisorMetrics {
    inner: Option<(Counter, Counter)>,
}

impl SupervisorMetrics {
    /// The counters of the supervisor labelled `supervisor` (its name; `supervisor` for an
    /// anonymous one).
    pub fn new(bus: &Bus, supervisor: &str) -> Self {
        let inner = bus.metrics_enabled().then(|| {
            let label = [("supervisor", supervisor.to_string())];
            (
                metrics::counter!(names::SUPERVISOR_FAILURES, &label),
                metrics::counter!(names::SUPERVISOR_RESTARTS, &label),
            )
        });
        SupervisorMetrics { inner }
    }

    /// A child incarnation failed (a panic, an error, a failed start or restart).
    pub fn failed(&self) {
        if let Some((failures, _)) = &self.inner {
            failures.increment(1);
        }
    }

    /// A child was restarted.
    pub fn restarted(&self) {
        if let Some((_, restarts)) = &self.inner {
            restarts.increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Refusal;

    /// `ListenerMetrics::refused` indexes its counters, made in the order of `Refusal::ALL`,
    /// by the variant's discriminant: the two orders must agree.
    #[test]
    fn refusals_are_listed_in_declaration_order() {
        for (i, why) in Refusal::ALL.iter().enumerate() {
            assert_eq!(*why as usize, i, "{why:?}");
        }
    }
}
