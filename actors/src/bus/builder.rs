//! Building a [`Bus`]: its seed, clock, default mailbox, limits, runtime and metrics.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium_mailbox::MailboxConfig;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Notify;

use super::{Bus, BusInner, BusState, Registry};
use crate::error::BusError;
use crate::export::ExportTable;
use crate::hibernation::DriverCell;
use crate::telemetry::TopicMetricsCache;
use crate::topic::TopicRegistry;
use crate::{Clock, ClockMode, DeadLetters};

/// Builds a [`Bus`].
#[derive(Clone, Debug)]
pub struct BusBuilder {
    seed: u64,
    clock: ClockMode,
    mailbox: MailboxConfig,
    dead_letter_limit: usize,
    failure_deadline: Duration,
    handle: Option<Handle>,
    metrics: bool,
}

impl Default for BusBuilder {
    fn default() -> Self {
        BusBuilder {
            seed: 0,
            clock: ClockMode::Real,
            mailbox: MailboxConfig::default(),
            dead_letter_limit: 10_000,
            failure_deadline: Duration::from_secs(5),
            handle: None,
            metrics: false,
        }
    }
}

impl BusBuilder {
    /// The seed of the bus's random numbers (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Real (default) or virtual time.
    pub fn clock(mut self, mode: ClockMode) -> Self {
        self.clock = mode;
        self
    }

    /// Shorthand for `clock(ClockMode::Virtual)`.
    pub fn virtual_time(self) -> Self {
        self.clock(ClockMode::Virtual)
    }

    /// The mailbox of actors spawned without an explicit one (default: bounded, 1024).
    pub fn mailbox(mut self, config: MailboxConfig) -> Self {
        self.mailbox = config;
        self
    }

    /// How many dead letters are kept for inspection (default 10,000); older ones are evicted
    /// and counted.
    pub fn dead_letter_limit(mut self, limit: usize) -> Self {
        self.dead_letter_limit = limit;
        self
    }

    /// How long a shutdown after a root failure ([`Bus::fail`]) waits before killing (default
    /// 5 s of bus time).
    pub fn failure_deadline(mut self, deadline: Duration) -> Self {
        self.failure_deadline = deadline;
        self
    }

    /// The runtime actors are spawned on (default: the current one).
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.handle = Some(handle);
        self
    }

    /// Records metrics through the `metrics` facade (default: off). See
    /// [`telemetry`](crate::telemetry) for the names, labels and cost; the process installs
    /// the recorder (exporter) that receives them.
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Builds the bus.
    pub fn build(self) -> Result<Bus, BusError> {
        let handle = match self.handle {
            Some(h) => h,
            None => Handle::try_current().map_err(|_| BusError::NoRuntime)?,
        };
        if self.clock == ClockMode::Virtual
            && handle.runtime_flavor() != RuntimeFlavor::CurrentThread
        {
            return Err(BusError::VirtualNeedsCurrentThread);
        }
        let clock = Clock::new(self.clock, handle.clone());
        let topics = TopicRegistry::new(
            self.metrics
                .then(|| Arc::new(TopicMetricsCache::new(clock.clone()))),
            handle.runtime_flavor() == RuntimeFlavor::CurrentThread,
        );
        Ok(Bus {
            inner: Arc::new(BusInner {
                handle,
                clock,
                seed: self.seed,
                next_id: AtomicU64::new(1),
                default_mailbox: self.mailbox,
                failure_deadline: self.failure_deadline,
                registry: Mutex::new(Registry::default()),
                dead_letters: DeadLetters::new(self.dead_letter_limit),
                state: Mutex::new(BusState::default()),
                stopped: Notify::new(),
                topics,
                exports: ExportTable::default(),
                metrics: self.metrics,
                hibernation: DriverCell::default(),
            }),
        })
    }
}
