//! The `iceoryx2` peer: iceoryx2 publish/subscribe ends, with event services in block mode,
//! and the runs over them.

use std::time::{Duration, Instant};

use super::{await_ready, check, finish, percentiles, ready, spawn, Ctx, PAYLOAD, WARMUP};

mod ice {
    //! iceoryx2 publish/subscribe ends of one process.

    use iceoryx2::node::Node;
    use iceoryx2::port::listener::Listener;
    use iceoryx2::port::notifier::Notifier;
    use iceoryx2::port::publisher::Publisher;
    use iceoryx2::port::subscriber::Subscriber;
    use iceoryx2::prelude::*;
    use iceoryx2::service::port_factory::event::PortFactory as EventFactory;
    use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSubFactory;

    use super::{Ctx, PAYLOAD};

    /// The payload: 64 bytes.
    pub type Msg = [u64; PAYLOAD / 8];

    /// Samples a subscriber buffers: as many as the floor ring's slots, a link ring's MiB of
    /// 64-byte samples (with 256, two alternating pairs of w8 and w9 measured the same).
    const BUFFER: usize = 16384;

    /// This process's node, its publisher on `tx`, its subscriber on `rx`, and in block mode
    /// a notifier and a listener on the matching event services.
    pub struct Ends {
        pub_: Publisher<ipc::Service, Msg, ()>,
        sub: Subscriber<ipc::Service, Msg, ()>,
        notifier: Option<Notifier<ipc::Service>>,
        listener: Option<Listener<ipc::Service>>,
        /// The service we publish on, and its event service in block mode: to see whether the
        /// other side's subscriber (and listener) are there.
        out: PubSubFactory<ipc::Service, Msg, ()>,
        out_event: Option<EventFactory<ipc::Service>>,
        /// Block mode: waits on the listener that ended with no notification, after which a
        /// sample was there: wake-ups lost ([`Ends::lost_wakeups`]).
        lost_wakeups: std::cell::Cell<u64>,
        // Dropped last: the ports above belong to it.
        _node: Node<ipc::Service>,
    }

    /// The files of one measurement: iceoryx2's directories under a root of its own in the
    /// temporary directory, and its shared-memory objects named with a prefix of its own, so
    /// that [`Files`] can remove them all afterwards (by default iceoryx2 keeps a global
    /// management object in `/dev/shm` and directories in `/tmp/iceoryx2` for good).
    fn config(name: &str) -> Result<Config, String> {
        let mut config = Config::default();
        config.global.prefix = FileName::new(prefix(name).as_bytes()).ctx("iceoryx2 prefix")?;
        let root = format!("{}/", root(name).display());
        config
            .global
            .set_root_path(&Path::new(root.as_bytes()).ctx("iceoryx2 root path")?);
        Ok(config)
    }

    fn prefix(name: &str) -> String {
        format!("{name}_")
    }

    fn root(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(name)
    }

    /// Removes what iceoryx2 left of measurement `name` when dropped (after both processes
    /// have let go of it).
    pub struct Files(pub String);

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(root(&self.0));
            let prefix = prefix(&self.0);
            let Ok(entries) = std::fs::read_dir("/dev/shm") else {
                return;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    fn service_name(s: &str) -> Result<ServiceName, String> {
        ServiceName::new(s).ctx("service name")
    }

    impl Ends {
        /// Opens (or creates) the services `<name>/<tx>` and `<name>/<rx>` and this side's
        /// ports.
        pub fn new(name: &str, tx: &str, rx: &str, block: bool) -> Result<Ends, String> {
            set_log_level(LogLevel::Error);
            let node = NodeBuilder::new()
                .config(&config(name)?)
                .create::<ipc::Service>()
                .ctx("iceoryx2 node")?;
            let pubsub = |dir: &str| {
                node.service_builder(&service_name(&format!("{name}/{dir}"))?)
                    .publish_subscribe::<Msg>()
                    .enable_safe_overflow(false)
                    .subscriber_max_buffer_size(BUFFER)
                    .history_size(0)
                    .max_publishers(1)
                    .max_subscribers(1)
                    .open_or_create()
                    .ctx("iceoryx2 publish-subscribe service")
            };
            let out = pubsub(tx)?;
            let inp = pubsub(rx)?;
            let pub_ = out
                .publisher_builder()
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()
                .ctx("iceoryx2 publisher")?;
            let sub = inp
                .subscriber_builder()
                .buffer_size(BUFFER)
                .create()
                .ctx("iceoryx2 subscriber")?;
            let (notifier, listener, out_event) = if block {
                let event = |dir: &str| {
                    node.service_builder(&service_name(&format!("{name}/{dir}-event"))?)
                        .event()
                        .open_or_create()
                        .ctx("iceoryx2 event service")
                };
                let out_event = event(tx)?;
                let n = out_event
                    .notifier_builder()
                    .create()
                    .ctx("iceoryx2 notifier")?;
                let l = event(rx)?
                    .listener_builder()
                    .create()
                    .ctx("iceoryx2 listener")?;
                (Some(n), Some(l), Some(out_event))
            } else {
                (None, None, None)
            };
            Ok(Ends {
                pub_,
                sub,
                notifier,
                listener,
                out,
                out_event,
                lost_wakeups: std::cell::Cell::new(0),
                _node: node,
            })
        }

        /// Whether the other side's subscriber is connected to our publisher's service.
        pub fn peer_subscribed(&self) -> bool {
            self.out.dynamic_config().number_of_subscribers() >= 1
                && self
                    .out_event
                    .as_ref()
                    .is_none_or(|e| e.dynamic_config().number_of_listeners() >= 1)
        }

        /// Sends one message (and, in block mode, a notification).
        pub fn send(&self, msg: Msg) -> Result<(), String> {
            let sample = self.pub_.loan_uninit().ctx("iceoryx2 loan")?;
            let delivered = sample.write_payload(msg).send().ctx("iceoryx2 send")?;
            if delivered == 0 {
                return Err("iceoryx2: no subscriber received the sample".into());
            }
            if let Some(n) = &self.notifier {
                n.notify().ctx("iceoryx2 notify")?;
            }
            Ok(())
        }

        /// Receives one message: spins on the subscriber, or in block mode waits on the
        /// listener between attempts.
        ///
        /// The wait is bounded ([`WAKE_BOUND`]): in w9's block mode a sink was seen asleep on
        /// its listener with a full buffer while the publisher retried for good (two full runs
        /// in three). A wake-up lost that way now costs a stall, counted in
        /// [`lost_wakeups`](Self::lost_wakeups), not a hang.
        pub fn recv(&self) -> Result<Msg, String> {
            let mut timed_out = false;
            loop {
                if let Some(s) = self.sub.receive().ctx("iceoryx2 receive")? {
                    if timed_out {
                        self.lost_wakeups.set(self.lost_wakeups.get() + 1);
                    }
                    return Ok(*s);
                }
                match &self.listener {
                    Some(l) => {
                        // A wait can also end early with nothing new (a notification of an
                        // event already collected): only one that lasted its bound counts.
                        let t0 = std::time::Instant::now();
                        let woken = l.timed_wait(|_| {}, WAKE_BOUND).ctx("iceoryx2 wait")?;
                        timed_out = woken == 0 && t0.elapsed() >= WAKE_BOUND;
                    }
                    None => std::hint::spin_loop(),
                }
            }
        }

        /// Waits of [`recv`](Self::recv) that ended at their bound, with no notification,
        /// though a sample was there: wake-ups iceoryx2 lost.
        pub fn lost_wakeups(&self) -> u64 {
            self.lost_wakeups.get()
        }
    }

    /// The longest a blocking receive waits on its listener before it looks at its
    /// subscriber again.
    const WAKE_BOUND: std::time::Duration = std::time::Duration::from_millis(20);

    impl Ends {
        /// Says on stderr how many wake-ups were lost, if any (`who` names the end).
        pub fn report_lost_wakeups(&self, who: &str) {
            if self.lost_wakeups() > 0 {
                eprintln!(
                    "# iceoryx2 {who}: {} waits on the listener ended at their {WAKE_BOUND:?} \
                     bound with a sample waiting (wake-ups lost; each a stall in the figure)",
                    self.lost_wakeups()
                );
            }
        }
    }
}

/// Waits until the other process's subscriber is connected (bounded).
fn ice_connected(ends: &ice::Ends) -> Result<(), String> {
    let t0 = Instant::now();
    while !ends.peer_subscribed() {
        if t0.elapsed() > Duration::from_secs(20) {
            return Err("iceoryx2: the other process never subscribed".into());
        }
        std::thread::yield_now();
    }
    Ok(())
}

pub(super) fn ice_rtt(name: &str, mode: &str, n: usize) -> Result<(u64, u64), String> {
    // Declared first, dropped last: after this side's ends and the other process.
    let _files = ice::Files(name.to_string());
    let ends = ice::Ends::new(name, "ping", "pong", mode == "block")?;
    let mut other = spawn(&["ice-echo", name, mode, &n.to_string()])?;
    await_ready(&mut other)?;
    ice_connected(&ends)?;
    let mut msg: ice::Msg = [0; PAYLOAD / 8];
    let mut samples = Vec::with_capacity(n);
    for i in 0..(n + WARMUP) as u64 {
        msg[0] = i;
        let t0 = Instant::now();
        ends.send(msg)?;
        msg = ends.recv()?;
        let dt = t0.elapsed().as_nanos() as u64;
        check(msg[0] == i + 1, "iceoryx2 echo")?;
        if i >= WARMUP as u64 {
            samples.push(dt);
        }
    }
    ends.report_lost_wakeups("asker");
    finish(other)?;
    percentiles(samples)
}

pub(super) fn ice_echo(name: &str, mode: &str, n: usize) -> Result<(), String> {
    let ends = ice::Ends::new(name, "pong", "ping", mode == "block")?;
    ready();
    ice_connected(&ends)?;
    for _ in 0..n + WARMUP {
        let mut msg = ends.recv()?;
        msg[0] += 1;
        ends.send(msg)?;
    }
    ends.report_lost_wakeups("echo");
    until_stdin_closes();
    Ok(())
}

/// Blocks until the parent closes our stdin. An iceoryx2 process stays until then: samples
/// it sent live in its own data segment, and a subscriber drops the samples of a publisher
/// that is gone.
fn until_stdin_closes() {
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
}

pub(super) fn ice_tput(name: &str, mode: &str, n: usize) -> Result<f64, String> {
    // Declared first, dropped last: after this side's ends and the other process.
    let _files = ice::Files(name.to_string());
    let ends = ice::Ends::new(name, "data", "done", mode == "block")?;
    let mut other = spawn(&["ice-sink", name, mode, &n.to_string()])?;
    await_ready(&mut other)?;
    ice_connected(&ends)?;
    let mut msg: ice::Msg = [0; PAYLOAD / 8];
    let t0 = Instant::now();
    for i in 0..n as u64 {
        msg[0] = i;
        ends.send(msg)?;
    }
    let last = ends.recv()?;
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    check(last[0] == n as u64, "iceoryx2 sink count")?;
    ends.report_lost_wakeups("sender");
    finish(other)?;
    Ok(rate)
}

pub(super) fn ice_sink(name: &str, mode: &str, n: usize) -> Result<(), String> {
    let ends = ice::Ends::new(name, "done", "data", mode == "block")?;
    ready();
    ice_connected(&ends)?;
    for i in 0..n as u64 {
        let msg = ends.recv()?;
        check(msg[0] == i, "iceoryx2 sequence")?;
    }
    let mut msg: ice::Msg = [0; PAYLOAD / 8];
    msg[0] = n as u64;
    ends.send(msg)?;
    ends.report_lost_wakeups("sink");
    until_stdin_closes();
    Ok(())
}
