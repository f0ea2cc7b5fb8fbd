//! A foreign actor's timers: one-shot and periodic on bus time, cancelled by the actor and by
//! the end of the incarnation that set them, numbered anew after a restart, and recorded as a
//! Rust actor's firings are.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium_actors::{Bus, Clock, SpawnOptions, StopReason};
use mycelium_foreign::{
    gated_child_spec, spawn, spawn_recorded, Foreign, ForeignActor, ForeignMessage, ForeignRecord,
    ForeignRecording, ForeignRef, ForeignTimer, TimerError,
};
use mycelium_journal::{
    JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind, Origin, Recording,
};
use mycelium_supervisor::{Backoff, RestartStrategy, Supervisor};

const TICK: u16 = 1;
const ONCE: u16 = 2;
const CANCEL: u16 = 3;
const BOOM: u16 = 4;
const SEEN: u16 = 5;

/// Sets a 10 ms interval (`TICK`) and a 25 ms one-shot (`ONCE`) in `start`; writes what it
/// handles, with the bus time in ms and its incarnation, to `seen`; `CANCEL` cancels the
/// interval, `BOOM` fails, `SEEN` answers.
struct Ticking {
    clock: Clock,
    seen: Seen,
    starts: Mutex<u32>,
}

/// What the actor handled: bus time in ms, type id, incarnation.
type Seen = Arc<Mutex<Vec<(u64, u16, u32)>>>;

struct State {
    interval: ForeignTimer,
    incarnation: u32,
}

fn msg(type_id: u16) -> ForeignMessage {
    ForeignMessage {
        type_id,
        body: Vec::new(),
    }
}

impl Foreign for Ticking {
    type Args = ();
    type State = State;

    fn start(&self, _: &(), me: &ForeignRef<Self>) -> Result<State, String> {
        let interval = me
            .send_interval(msg(TICK), Duration::from_millis(10))
            .map_err(|e| e.to_string())?;
        let once = me
            .send_after(msg(ONCE), Duration::from_millis(25))
            .map_err(|e| e.to_string())?;
        assert_eq!((interval.number(), once.number()), (0, 1));
        let mut starts = self.starts.lock().unwrap();
        *starts += 1;
        Ok(State {
            interval,
            incarnation: *starts,
        })
    }

    fn handle(
        &self,
        state: &mut State,
        m: ForeignMessage,
    ) -> Result<Option<ForeignMessage>, String> {
        match m.type_id {
            CANCEL => state.interval.cancel(),
            BOOM => return Err("boom".into()),
            SEEN => return Ok(Some(msg(SEEN))),
            _ => {}
        }
        let ms = u64::try_from(self.clock.now().as_millis()).unwrap();
        self.seen
            .lock()
            .unwrap()
            .push((ms, m.type_id, state.incarnation));
        Ok(None)
    }

    fn stop(&self, _: State, _: &StopReason) {}
}

fn virtual_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

fn ticking(bus: &Bus) -> (Arc<Ticking>, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let foreign = Arc::new(Ticking {
        clock: bus.clock().clone(),
        seen: seen.clone(),
        starts: Mutex::new(0),
    });
    (foreign, seen)
}

/// Lets bus time reach `ms`, then asks `actor` (so that what fired by then has been handled).
async fn at(bus: &Bus, actor: &ForeignRef<Ticking>, ms: u64) {
    bus.clock().sleep_until(Duration::from_millis(ms)).await;
    actor.ask(msg(SEEN), None).await.unwrap();
}

#[test]
fn timers_fire_on_bus_time_in_order_and_a_cancelled_interval_stops() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let (foreign, seen) = ticking(&bus);
        let actor = spawn(&bus, foreign, (), SpawnOptions::new()).await.unwrap();
        at(&bus, &actor, 45).await;
        actor.tell(msg(CANCEL)).await.unwrap();
        at(&bus, &actor, 100).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                (10, TICK, 1),
                (20, TICK, 1),
                (25, ONCE, 1),
                (30, TICK, 1),
                (40, TICK, 1),
                (45, CANCEL, 1),
            ]
        );
    });
}

#[test]
fn a_restart_cancels_the_old_incarnations_timers_and_the_new_one_counts_from_zero() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let (foreign, seen) = ticking(&bus);
        let (spec, gate) = gated_child_spec("ticking", foreign, ());
        let tree = Supervisor::builder(RestartStrategy::OneForOne)
            .backoff(Backoff::none())
            .child(spec)
            .spawn(&bus)
            .await
            .unwrap();
        let actor =
            ForeignRef::from_actor_ref(tree.child::<ForeignActor<Ticking>>("ticking").unwrap())
                .with_gate(gate);
        at(&bus, &actor, 15).await;
        actor.tell(msg(BOOM)).await.unwrap();
        at(&bus, &actor, 50).await;
        let seen = seen.lock().unwrap().clone();
        // Restarted at 15 ms: its timers tick at 25, 35, 45 and the one-shot fires at 40;
        // the first incarnation's (20, 25, 30...) are gone.
        assert_eq!(
            seen,
            [
                (10, TICK, 1),
                (25, TICK, 2),
                (35, TICK, 2),
                (40, ONCE, 2),
                (45, TICK, 2),
            ]
        );
    });
}

#[test]
fn a_ref_without_the_actors_gate_sets_no_timer() {
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let (foreign, _) = ticking(&bus);
        let actor = spawn(&bus, foreign, (), SpawnOptions::new()).await.unwrap();
        let ungated = ForeignRef::from_actor_ref(actor.actor_ref().clone());
        assert_eq!(
            ungated
                .send_after(msg(ONCE), Duration::from_millis(1))
                .unwrap_err(),
            TimerError::NotRunning
        );
        actor.stop();
        actor.wait_for_stop().await;
        assert_eq!(
            actor
                .send_after(msg(ONCE), Duration::from_millis(1))
                .unwrap_err(),
            TimerError::NotRunning
        );
    });
}

#[test]
fn a_recorded_actors_firings_are_recorded_with_their_timers_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
    let recording = Arc::new(Recording::new(journal.clone()).described::<ForeignRecord>());
    virtual_runtime().block_on(async {
        let bus = Bus::builder().virtual_time().build().unwrap();
        let (foreign, _) = ticking(&bus);
        let actor = spawn_recorded(
            &bus,
            foreign,
            (),
            SpawnOptions::new(),
            ForeignRecording::new(recording, "Ticking"),
        )
        .await
        .unwrap();
        at(&bus, &actor, 30).await;
        actor.stop();
        actor.wait_for_stop().await;
    });
    journal.close().unwrap();
    let records: Vec<_> = JournalReader::open(dir.path())
        .unwrap()
        .records()
        .map(|r| r.unwrap())
        .collect();
    let fired: Vec<_> = records
        .iter()
        .filter(|r| r.kind == Kind::TimerFired)
        .map(|r| (r.time_ns / 1_000_000, r.origin))
        .collect();
    let timer = |id| Origin::Timer { id };
    assert_eq!(
        fired,
        [
            (10, timer(0)),
            (20, timer(0)),
            (25, timer(1)),
            (30, timer(0))
        ]
    );
    let handled: Vec<_> = records
        .iter()
        .filter(|r| r.kind == Kind::Handled && r.type_id != SEEN)
        .map(|r| (r.time_ns / 1_000_000, r.type_id, r.origin))
        .collect();
    assert_eq!(
        handled,
        [
            (10, TICK, timer(0)),
            (20, TICK, timer(0)),
            (25, ONCE, timer(1)),
            (30, TICK, timer(0)),
        ]
    );
}
