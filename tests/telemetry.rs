//! Metrics on a virtual-time bus: the values are bus time, so two identical runs record
//! identical metrics; a bus without metrics records nothing.

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use mycelium::actors::telemetry::{names, LinkMetrics, LinkState};
use mycelium::actors::SpawnOptions;
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, SupervisionEvent};

/// Works `ms` milliseconds of bus time; 0 panics.
struct Work(u64);

struct Worker;

impl Actor for Worker {
    type Args = ();
    async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.subscribe::<u64>("md.*", SubscribeOptions::new())?;
        Ok(Worker)
    }
}

impl Handler<Work> for Worker {
    type Reply = ();
    async fn handle(&mut self, Work(ms): Work, ctx: &mut Context<Self>) {
        assert!(ms > 0, "no work");
        ctx.clock().sleep(Duration::from_millis(ms)).await;
    }
}

impl Handler<Published<u64>> for Worker {
    type Reply = ();
    async fn handle(&mut self, ms: Published<u64>, ctx: &mut Context<Self>) {
        ctx.clock().sleep(Duration::from_millis(*ms)).await;
    }
}

struct Ping;
impl Handler<Ping> for Worker {
    type Reply = ();
    async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self>) {}
}

/// Ends the worker's incarnation after this message.
struct Quit;
impl Handler<Quit> for Worker {
    type Reply = ();
    async fn handle(&mut self, _: Quit, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// One scenario on a fresh paused runtime and a fresh recorder; returns every recorded
/// series as `name{labels} value`, sorted.
fn run(metrics_on: bool) -> Vec<String> {
    record(|| scenario(metrics_on))
}

/// Runs `scenario` on a fresh paused runtime and a fresh recorder; returns every recorded
/// series as `name{labels} value`, sorted.
fn record<F: std::future::Future<Output = ()>>(scenario: impl FnOnce() -> F) -> Vec<String> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(scenario());
    });
    let mut lines: Vec<String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(c) => format!("{c}"),
                DebugValue::Gauge(g) => format!("{}", g.into_inner()),
                DebugValue::Histogram(h) => {
                    let v: Vec<String> = h.iter().map(|x| x.into_inner().to_string()).collect();
                    format!("[{}]", v.join(","))
                }
            };
            format!("{}{{{}}} {}", key.name(), labels.join(","), value)
        })
        .collect();
    lines.sort();
    lines
}

async fn scenario(metrics_on: bool) {
    // The worker's planned panic stays quiet; any other is printed.
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("no work") {
            eprintln!("{info}");
        }
    }));
    let bus = Bus::builder()
        .virtual_time()
        .metrics(metrics_on)
        .build()
        .unwrap();
    let (restarted_tx, mut restarts) = tokio::sync::mpsc::unbounded_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::none())
        .on_event(move |event| {
            if let SupervisionEvent::Restarted { .. } = event {
                let _ = restarted_tx.send(());
            }
        })
        .child(ChildSpec::new::<Worker>("worker", ()).register())
        .spawn(&bus)
        .await
        .unwrap();
    let worker = tree.child::<Worker>("worker").unwrap();
    // Never read: holds 2 messages, drops the rest.
    let _tape = bus
        .subscribe_stream::<u64>("md.*", SubscribeOptions::drop_newest().capacity(2))
        .unwrap();
    for ms in 1..=5u64 {
        worker.tell(Work(ms)).await.unwrap();
    }
    for ms in 1..=4u64 {
        bus.publish("md.quote", ms).await.unwrap();
    }
    worker.ask(Ping).await.unwrap();
    // A failure, and the restart after it.
    worker.tell(Work(0)).await.unwrap();
    restarts.recv().await.unwrap();
    let restarted = tree.child::<Worker>("worker").unwrap();
    restarted.ask(Ping).await.unwrap();
    // A remote link reporting through the public hooks.
    let link = LinkMetrics::new(&bus, "node-2");
    assert_eq!(link.is_enabled(), metrics_on);
    link.state(LinkState::Up);
    link.frame_sent(100);
    link.frame_received(40);
    link.resent(2);
    link.loss_report(3);
    link.parked();
    tree.stop().await;
}

#[test]
fn two_identical_virtual_time_runs_record_identical_metrics() {
    let first = run(true);
    let second = run(true);
    assert_eq!(first, second);

    // Handler times are bus time: the sleeps, to the nanosecond (5 works, 4 publications,
    // 2 pings, the failed work).
    assert!(
        first.contains(&format!(
            "{}{{actor=worker,actor_type=Worker}} \
             [0.001,0.002,0.003,0.004,0.005,0.001,0.002,0.003,0.004,0,0,0]",
            names::HANDLE_SECONDS
        )),
        "{first:#?}"
    );
    assert!(first.contains(&format!("{}{{topic=md.quote}} 4", names::TOPIC_PUBLISHED)));
    // Published while the worker is busy for 15 ms, each then waits for the one before:
    // 15, 15+1, 15+1+2, 15+1+2+3 ms.
    assert!(
        first.contains(&format!(
            "{}{{topic=md.quote}} [0.015,0.016,0.018,0.021]",
            names::TOPIC_DELIVERY_SECONDS
        )),
        "{first:#?}"
    );
    // The stream holds 2 and drops 2; the 2 it holds are discarded when it is dropped.
    assert!(first.contains(&format!(
        "{}{{pattern=md.*,subscriber=stream}} 4",
        names::SUBSCRIPTION_DROPPED
    )));
    assert!(first.contains(&format!(
        "{}{{supervisor=supervisor}} 1",
        names::SUPERVISOR_FAILURES
    )));
    assert!(first.contains(&format!(
        "{}{{supervisor=supervisor}} 1",
        names::SUPERVISOR_RESTARTS
    )));
    assert!(first.contains(&format!("{}{{peer=node-2}} 2", names::LINK_STATE)));
    assert!(first.contains(&format!(
        "{}{{peer=node-2,direction=sent}} 100",
        names::LINK_BYTES
    )));
    assert!(first.contains(&format!(
        "{}{{peer=node-2,direction=received}} 1",
        names::LINK_FRAMES
    )));
    assert!(first.contains(&format!("{}{{peer=node-2}} 3", names::LINK_LOST_FRAMES)));
    assert!(first.contains(&format!("{}{{peer=node-2}} 1", names::LINK_LOSS_REPORTS)));
    assert!(first.contains(&format!("{}{{peer=node-2}} 2", names::LINK_RESENDS)));
    assert!(first.contains(&format!("{}{{peer=node-2}} 1", names::LINK_PARKS)));
}

#[test]
fn a_bus_without_metrics_records_nothing() {
    assert_eq!(run(false), Vec::<String>::new());
}

/// A recipient subscribed with a buffered policy is forwarded to through a buffer of its own;
/// its drops are counted under `subscriber=recipient`, as the docs say, not as a stream's.
#[test]
fn a_recipients_buffered_drops_are_labelled_recipient() {
    let lines = record(|| async {
        let bus = Bus::builder().virtual_time().metrics(true).build().unwrap();
        let worker = bus.spawn::<Worker>(());
        worker.ask(Ping).await.unwrap();
        let subscription = bus
            .subscribe_recipient::<u64>(
                worker.recipient(),
                "fills",
                SubscribeOptions::drop_oldest(1),
            )
            .unwrap();
        // The forwarder has not run yet: the buffer keeps the newest, the two before it drop.
        for ms in 1..=3u64 {
            bus.publish("fills", ms).await.unwrap();
        }
        assert_eq!(subscription.stats().dropped, 2);
        // Cancelling discards the one still buffered: three drops in all.
        subscription.cancel();
        worker.stop();
        worker.wait_for_stop().await;
    });
    let dropped: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with(names::SUBSCRIPTION_DROPPED) && l.contains("pattern=fills"))
        .collect();
    assert_eq!(
        dropped,
        [&format!(
            "{}{{pattern=fills,subscriber=recipient}} 3",
            names::SUBSCRIPTION_DROPPED
        )],
        "{lines:#?}"
    );
}

/// An actor that stops with messages in hand (they go to the dead letters) holds none: its
/// mailbox depth reads 0 afterwards, not what it held when it last handled a message.
#[test]
fn a_stopped_actors_mailbox_depth_is_zero() {
    let lines = record(|| async {
        let bus = Bus::builder().virtual_time().metrics(true).build().unwrap();
        let worker = bus
            .spawn_with::<Worker>((), SpawnOptions::new().name("quitter"))
            .unwrap();
        // Queued before the worker runs, taken as one batch: it quits with three pings left.
        worker.tell(Work(1)).await.unwrap();
        worker.tell(Quit).await.unwrap();
        for _ in 0..3 {
            worker.tell(Ping).await.unwrap();
        }
        worker.wait_for_stop().await;
        assert_eq!(bus.dead_letters().drain().len(), 3);
    });
    assert!(
        lines.contains(&format!(
            "{}{{actor=quitter,actor_type=Worker}} 0",
            names::MAILBOX_DEPTH
        )),
        "{lines:#?}"
    );
}

/// Through a recipient, the delivery latency is recorded only by a buffered policy's
/// forwarder, when it takes the message out of the buffer; a `Block` or `DropNewest`
/// subscription hands the message straight to the recipient and records none.
#[test]
fn a_recipients_delivery_latency_is_recorded_only_behind_a_buffer() {
    let lines = record(|| async {
        let bus = Bus::builder().virtual_time().metrics(true).build().unwrap();
        let worker = bus.spawn::<Worker>(());
        worker.ask(Ping).await.unwrap();
        let straight = bus
            .subscribe_recipient::<u64>(worker.recipient(), "straight", SubscribeOptions::new())
            .unwrap();
        let buffered = bus
            .subscribe_recipient::<u64>(
                worker.recipient(),
                "buffered",
                SubscribeOptions::drop_oldest(4),
            )
            .unwrap();
        bus.publish("straight", 1u64).await.unwrap();
        bus.publish("buffered", 1u64).await.unwrap();
        // The forwarder's turn, then the worker's (a millisecond for each message).
        bus.clock().sleep(Duration::from_millis(10)).await;
        worker.ask(Ping).await.unwrap();
        assert_eq!(buffered.stats().delivered, 1);
        assert_eq!(straight.stats().delivered, 1);
        straight.cancel();
        buffered.cancel();
        worker.stop();
        worker.wait_for_stop().await;
    });
    assert!(
        lines.contains(&format!(
            "{}{{topic=buffered}} [0]",
            names::TOPIC_DELIVERY_SECONDS
        )),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!(
            "{}{{topic=straight}} []",
            names::TOPIC_DELIVERY_SECONDS
        )),
        "{lines:#?}"
    );
}

/// On a metrics bus a published message reaches an actor's mailbox as itself: handled, its
/// delivery latency is recorded; left in the mailbox of an actor that stops, its dead letter
/// names `Published<u64>` and gives it back.
#[test]
fn a_published_message_dead_lettered_on_a_metrics_bus_is_itself() {
    let lines = record(|| async {
        let bus = Bus::builder().virtual_time().metrics(true).build().unwrap();
        let worker = bus.spawn::<Worker>(());
        worker.ask(Ping).await.unwrap();
        bus.publish("md.handled", 2u64).await.unwrap();
        worker.ask(Ping).await.unwrap();
        // Queued behind the quit, before the worker runs: it stops with both in hand.
        worker.tell(Quit).await.unwrap();
        bus.publish("md.left", 3u64).await.unwrap();
        bus.publish("md.left", 4u64).await.unwrap();
        worker.wait_for_stop().await;
        let mut letters = bus.dead_letters().drain();
        assert_eq!(letters.len(), 2);
        let mut left = Vec::new();
        for letter in &mut letters {
            assert_eq!(letter.message_type, "Published<u64>");
            let msg = letter
                .downcast::<Published<u64>>()
                .expect("the message back");
            assert_eq!(msg.topic(), "md.left");
            left.push(*msg);
        }
        assert_eq!(left, [3, 4]);
    });
    assert!(
        lines.contains(&format!(
            "{}{{topic=md.handled}} [0]",
            names::TOPIC_DELIVERY_SECONDS
        )),
        "{lines:#?}"
    );
}
