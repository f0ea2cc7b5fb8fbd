//! A live (real-time) recording of a supervised actor with a fast periodic timer, restarted
//! after failures whose handlers computed while the timer fired, and the actor it sends to:
//! replayed alone and as a set, every output is as recorded. Live, a timer fires late (by as
//! much as the machine's load makes it), falls behind and skips deadlines, and its firings
//! interleave with the inputs in ways a virtual-time replay must follow from the journal.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Actor, ActorRef, BoxError, Bus, Context, Handler, SpawnOptions};
use mycelium_journal::{
    JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Recording, Replay,
    ReplayMode, ReplaySet,
};
use mycelium_supervisor::{Backoff, ChildSpec, RestartStrategy, Supervisor};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Tick;

/// Folds what it is told.
struct Sink(u64);

impl Actor for Sink {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sink(0))
    }
}

impl Handler<i64> for Sink {
    type Reply = ();
    async fn handle(&mut self, n: i64, _ctx: &mut Context<Self>) {
        self.0 = self.0.wrapping_mul(31).wrapping_add(n as u64);
    }
}

/// Counts its 1 ms timer's ticks; for each number, a moving average's side times the ticks
/// so far, told to the sink and answered. Every 200th number fails it after 3 ms of work.
struct Pricer {
    ema: f64,
    ticks: i64,
    sink: ActorRef<Sink>,
}

impl Actor for Pricer {
    type Args = ActorRef<Sink>;
    async fn on_start(sink: ActorRef<Sink>, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.send_interval(Tick, Duration::from_millis(1));
        Ok(Pricer {
            ema: 0.0,
            ticks: 0,
            sink,
        })
    }
}

impl Handler<u64> for Pricer {
    type Reply = i64;
    async fn handle(&mut self, n: u64, _ctx: &mut Context<Self>) -> i64 {
        if n % 200 == 199 {
            let end = std::time::Instant::now() + Duration::from_millis(3);
            while std::time::Instant::now() < end {
                std::hint::spin_loop();
            }
            panic!("no {n}");
        }
        let x = (n % 37) as f64;
        self.ema = 0.8 * self.ema + 0.2 * x;
        let side = if x > self.ema { 1 } else { -1 };
        let _ = self.sink.tell(side * (self.ticks + 1)).await;
        side * self.ticks
    }
}

impl Handler<Tick> for Pricer {
    type Reply = ();
    async fn handle(&mut self, _: Tick, _ctx: &mut Context<Self>) {
        self.ticks += 1;
    }
}

/// Records the two actors live; returns the recorded numbers of the sink and the pricer.
async fn record(dir: &std::path::Path) -> (u64, u64) {
    let journal =
        JournalWriter::open(dir, JournalOptions::new(JournalSchema::none())).expect("a journal");
    let recording = Arc::new(
        Recording::new(journal.clone())
            .serde::<u64>()
            .serde::<i64>()
            .serde::<Tick>(),
    );
    let bus = Bus::new();
    let sink = bus
        .spawn_with::<Sink>((), SpawnOptions::new().record(recording.clone()))
        .expect("the sink");
    let sup = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(100, Duration::from_secs(60))
        .backoff(Backoff::exponential(
            Duration::from_millis(1),
            1.0,
            Duration::from_millis(1),
        ))
        .child(ChildSpec::new::<Pricer>("pricer", sink.clone()).record(recording))
        .spawn(&bus)
        .await
        .expect("the supervisor");
    for n in 0..590u64 {
        let pricer = sup.child::<Pricer>("pricer").expect("the pricer");
        if n % 3 == 0 {
            let _ = pricer.ask(n).await; // 199 and 399 fail
        } else {
            let _ = pricer.tell(n).await;
        }
        // A feed's pace: the timer fires between the numbers, and during them.
        tokio::time::sleep(Duration::from_micros(50)).await;
    }
    let pricer = sup.child::<Pricer>("pricer").expect("the pricer");
    sup.stop().await;
    sink.stop();
    sink.wait_for_stop().await;
    journal.close().expect("closes");
    assert_eq!(sup.restarts(Some("pricer")), 2);
    (sink.id().local(), pricer.id().local())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_recording_with_a_fast_timer_and_restarts_replays_exactly() {
    let dir = tempfile::tempdir().expect("a directory");
    let (sink, pricer) = record(dir.path()).await;
    let path = dir.path().to_owned();
    // The replays run on a current-thread runtime of their own, its clock paused.
    let replayed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let journal = JournalReader::open(&path).expect("reads");
            let records: Vec<_> = journal.records().map(|r| r.expect("whole")).collect();
            let of = |kind| {
                let ours = |r: &&mycelium_journal::Record| r.actor.id == pricer && r.kind == kind;
                records.iter().filter(ours).count()
            };
            assert_eq!(of(Kind::Restarted), 2);
            assert!(of(Kind::TimerFired) > 100);

            let bus = Bus::builder().virtual_time().build().expect("a bus");
            let mut set = ReplaySet::new(&journal).expect("reads");
            let s = set.spawn::<Sink>(&bus, sink, ()).expect("spawns");
            let p = set
                .spawn::<Pricer>(&bus, pricer, s.clone())
                .expect("spawns");
            set.serde::<Pricer, u64>(&p)
                .serde::<Pricer, Tick>(&p)
                .serde::<Sink, i64>(&s);
            let report = set.run(ReplayMode::Compare).await.expect("replays");
            assert!(report.is_same(), "{report}");

            let bus = Bus::builder().virtual_time().build().expect("a bus");
            let stand_in = bus.spawn::<Sink>(());
            let report = Replay::<Pricer>::new(stand_in)
                .serde::<u64>()
                .serde::<Tick>()
                .run(&journal, pricer, &bus, ReplayMode::Compare)
                .await
                .expect("replays");
            assert!(report.differences.is_empty(), "{report}");
        })
    });
    replayed.join().expect("replays as recorded");
}
