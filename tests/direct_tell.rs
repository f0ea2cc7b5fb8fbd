//! The direct call for tells: on a current-thread runtime, a tell to an idle actor runs its
//! handler on the sender's task. What must hold: order behind queued mail and the sender's
//! own order, a failure is the actor's (supervision restarts it) while the sender goes on, a
//! handler that awaits is finished by the actor's task, a chain of tells nests only so deep,
//! a sender that tells in a loop lets the other tasks run (from outside the handlers it runs,
//! so a pipeline is not cut in the middle), and on a multi-thread runtime tells keep going
//! through the mailbox.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use mycelium::prelude::*;
use mycelium::supervisor::Backoff;
use tokio::sync::{oneshot, Notify};

type TaskId = Option<tokio::task::Id>;

/// Records each number it is told, with the task its handler ran on.
struct Log {
    seen: Vec<(u64, TaskId)>,
}

impl Actor for Log {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Log { seen: Vec::new() })
    }
}

struct Note(u64);
impl Handler<Note> for Log {
    type Reply = ();
    async fn handle(&mut self, Note(n): Note, _ctx: &mut Context<Self>) {
        self.seen.push((n, tokio::task::try_id()));
    }
}

/// Records `n` once `go` comes: a handler that does not finish at its first poll.
struct NoteAfter(u64, oneshot::Receiver<()>);
impl Handler<NoteAfter> for Log {
    type Reply = ();
    async fn handle(&mut self, NoteAfter(n, go): NoteAfter, _ctx: &mut Context<Self>) {
        let _ = go.await;
        self.seen.push((n, tokio::task::try_id()));
    }
}

struct Boom;
impl Handler<Boom> for Log {
    type Reply = ();
    async fn handle(&mut self, _: Boom, _ctx: &mut Context<Self>) {
        panic!("boom in a told handler");
    }
}

/// What it has recorded.
struct Seen;
impl Handler<Seen> for Log {
    type Reply = Vec<(u64, TaskId)>;
    async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) -> Self::Reply {
        self.seen.clone()
    }
}

/// Waits for mail with its state lent: an actor has a task only from its first mail, and
/// that task lends its state once it has served it and found nothing more.
async fn settled(log: &ActorRef<Log>) {
    log.ask(Seen).await.unwrap();
    log.ask(Seen).await.unwrap();
}

fn numbers(seen: &[(u64, TaskId)]) -> Vec<u64> {
    seen.iter().map(|(n, _)| *n).collect()
}

#[tokio::test]
async fn a_tell_to_an_idle_actor_runs_on_the_senders_task() {
    let bus = Bus::new();
    let log = bus.spawn::<Log>(());
    settled(&log).await;
    let sender = {
        let log = log.clone();
        tokio::spawn(async move {
            log.tell(Note(1)).await.unwrap();
            log.tell(Note(2)).await.unwrap();
            tokio::task::id()
        })
    };
    let sender = sender.await.unwrap();
    assert_eq!(
        log.ask(Seen).await.unwrap(),
        [(1, Some(sender)), (2, Some(sender))],
        "both handlers ran on the sender's task, in its order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_multi_thread_runtime_tells_go_through_the_mailbox() {
    let bus = Bus::new();
    let log = bus.spawn::<Log>(());
    settled(&log).await;
    for n in 0..200 {
        log.tell(Note(n)).await.unwrap();
    }
    let seen = log.ask(Seen).await.unwrap();
    assert_eq!(numbers(&seen), (0..200).collect::<Vec<_>>());
    let here = tokio::task::try_id();
    assert!(
        seen.iter().all(|(_, ran_on)| *ran_on != here),
        "no told handler ran on the sender's task: the actor's task may run on another worker"
    );
}

#[tokio::test]
async fn a_tell_behind_queued_mail_goes_behind_it() {
    let bus = Bus::new();
    let log = bus.spawn::<Log>(());
    settled(&log).await;
    let here = tokio::task::try_id();
    // `try_tell` always queues; on this one thread the actor cannot run before the tell.
    log.try_tell(Note(1)).unwrap();
    log.try_tell(Note(2)).unwrap();
    log.tell(Note(3)).await.unwrap();
    let seen = log.ask(Seen).await.unwrap();
    assert_eq!(numbers(&seen), [1, 2, 3]);
    assert!(
        seen.iter().all(|(_, ran_on)| *ran_on != here),
        "the tell found mail queued and went behind it, through the mailbox"
    );
    // Drained and idle again: the next tell runs here.
    log.tell(Note(4)).await.unwrap();
    assert_eq!(log.ask(Seen).await.unwrap().last(), Some(&(4, here)));
}

/// One link of a chain: tells the next link, or, the last, notifies the test.
struct Hop {
    index: usize,
    next: Option<ActorRef<Hop>>,
    ran: Arc<Mutex<Vec<(usize, TaskId)>>>,
    done: Arc<Notify>,
}

impl Actor for Hop {
    type Args = (
        usize,
        Option<ActorRef<Hop>>,
        Arc<Mutex<Vec<(usize, TaskId)>>>,
        Arc<Notify>,
    );
    async fn on_start(
        (index, next, ran, done): Self::Args,
        _ctx: &mut Context<Self>,
    ) -> Result<Self, BoxError> {
        Ok(Hop {
            index,
            next,
            ran,
            done,
        })
    }
}

struct Go;
impl Handler<Go> for Hop {
    type Reply = ();
    async fn handle(&mut self, _: Go, _ctx: &mut Context<Self>) {
        self.ran
            .lock()
            .unwrap()
            .push((self.index, tokio::task::try_id()));
        match &self.next {
            Some(next) => next.tell(Go).await.unwrap(),
            None => self.done.notify_one(),
        }
    }
}

struct Ready;
impl Handler<Ready> for Hop {
    type Reply = ();
    async fn handle(&mut self, _: Ready, _ctx: &mut Context<Self>) {}
}

/// A handler run by a direct tell that tells the next idle actor runs that one's handler
/// inside its own poll; sixteen deep at most, then the tell goes through the mailbox (and the
/// chain goes on from that actor's task), so a long chain cannot exhaust the stack.
#[tokio::test]
async fn a_chain_of_direct_tells_nests_sixteen_deep_at_most() {
    const LINKS: usize = 60;
    let bus = Bus::new();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(Notify::new());
    let mut next: Option<ActorRef<Hop>> = None;
    for index in (0..LINKS).rev() {
        let hop = bus.spawn::<Hop>((index, next.take(), ran.clone(), done.clone()));
        hop.ask(Ready).await.unwrap();
        hop.ask(Ready).await.unwrap();
        next = Some(hop);
    }
    let first = next.unwrap();
    first.tell(Go).await.unwrap();
    done.notified().await;
    let ran = ran.lock().unwrap().clone();
    assert_eq!(
        ran.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..LINKS).collect::<Vec<_>>(),
        "every link ran once, in order"
    );
    let here = tokio::task::try_id();
    assert!(
        ran[..16].iter().all(|(_, ran_on)| *ran_on == here),
        "the first sixteen links ran on this task: {ran:?}"
    );
    assert_ne!(ran[16].1, here, "the seventeenth went through the mailbox");
}

#[tokio::test]
async fn a_panic_in_a_told_handler_fails_the_actor_and_the_sender_goes_on() {
    quiet_panics();
    let bus = Bus::new();
    let (observer, mut events) = event_channel();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(10, Duration::from_secs(60))
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Log>("log", ()))
        .spawn(&bus)
        .await
        .unwrap();
    let log = tree.child::<Log>("log").unwrap();
    settled(&log).await;
    log.tell(Note(1)).await.unwrap();
    assert_eq!(
        log.ask(Seen).await.unwrap(),
        [(1, tokio::task::try_id())],
        "told directly"
    );
    let dead = bus.dead_letters().total();
    log.tell(Boom)
        .await
        .expect("the sender goes on: the failure is the actor's");
    next_event(&mut events, is_restarted).await;
    assert!(
        bus.dead_letters().total() > dead,
        "the failed message is a dead letter"
    );
    assert!(
        log.ask(Seen).await.unwrap().is_empty(),
        "a new incarnation, started from its args"
    );
    tree.stop().await;
}

#[tokio::test]
async fn a_told_handler_that_awaits_is_finished_by_the_actors_task_in_order() {
    let bus = Bus::new();
    let log = bus.spawn::<Log>(());
    settled(&log).await;
    let (go, wait) = oneshot::channel();
    // The handler starts here and waits for `go`: the tell returns, the actor's task has it.
    tokio::time::timeout(Duration::from_secs(30), log.tell(NoteAfter(1, wait)))
        .await
        .expect("a tell does not wait for its handler to finish")
        .unwrap();
    log.tell(Note(2)).await.unwrap();
    go.send(()).unwrap();
    let seen = log.ask(Seen).await.unwrap();
    assert_eq!(numbers(&seen), [1, 2], "the later tell went behind it");
    let here = tokio::task::try_id();
    assert!(seen.iter().all(|(_, ran_on)| *ran_on != here));
}

/// A task spawned before a sender's loop of tells, which notes that it ran.
struct OtherTask {
    ran: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl OtherTask {
    fn spawn() -> OtherTask {
        let ran = Arc::new(AtomicBool::new(false));
        let task = {
            let ran = ran.clone();
            tokio::spawn(async move { ran.store(true, Ordering::SeqCst) })
        };
        OtherTask { ran, task }
    }

    /// Checks, right after the loop, that the task ran during it: the sender gave its thread
    /// turns.
    async fn ran_meanwhile(self) {
        assert!(
            self.ran.load(Ordering::SeqCst),
            "the other task ran during the tells: a sender gives its thread turns"
        );
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn a_sender_that_tells_in_a_loop_lets_the_other_tasks_run() {
    let bus = Bus::new();
    let log = bus.spawn::<Log>(());
    settled(&log).await;
    let other = OtherTask::spawn();
    for n in 0..5_000 {
        log.tell(Note(n)).await.unwrap();
    }
    other.ran_meanwhile().await;
    let seen = log.ask(Seen).await.unwrap();
    assert_eq!(numbers(&seen), (0..5_000).collect::<Vec<_>>());
    let here = tokio::task::try_id();
    let direct = seen.iter().filter(|(_, ran_on)| *ran_on == here).count();
    assert!(direct > 4_000, "most tells ran here ({direct})");
}

/// Tells each note on to the next actor: a stage of a pipeline.
struct Relay<A: Actor>(ActorRef<A>);

impl<A: Actor + Handler<Note>> Actor for Relay<A> {
    type Args = ActorRef<A>;
    async fn on_start(next: ActorRef<A>, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Relay(next))
    }
}

impl<A: Actor + Handler<Note>> Handler<Note> for Relay<A> {
    type Reply = ();
    async fn handle(&mut self, note: Note, _ctx: &mut Context<Self>) {
        self.0.tell(note).await.unwrap();
    }
}

/// Tells the next actor the notes `0..n`, from one handler.
struct Burst(u64);
impl<A: Actor + Handler<Note>> Handler<Burst> for Relay<A> {
    type Reply = ();
    async fn handle(&mut self, Burst(n): Burst, _ctx: &mut Context<Self>) {
        for i in 0..n {
            self.0.tell(Note(i)).await.unwrap();
        }
    }
}

struct Ping;
impl<A: Actor + Handler<Note>> Handler<Ping> for Relay<A> {
    type Reply = ();
    async fn handle(&mut self, _: Ping, _ctx: &mut Context<Self>) {}
}

/// A sender's turns come between its messages, not inside the handlers it runs: a turn given
/// by a tell nested in a handler would leave that handler pending, and it would go on from
/// its actor's task, with the messages behind it. Three stages, so that with a turn due every
/// so many tells counted, the tell that finds it due is not always the outermost one.
#[tokio::test]
async fn a_senders_turns_do_not_cut_a_pipeline_of_direct_tells() {
    let bus = Bus::new();
    let log = bus.spawn::<Log>(());
    let second = bus.spawn::<Relay<Log>>(log.clone());
    let first = bus.spawn::<Relay<Relay<Log>>>(second.clone());
    settled(&log).await;
    for _ in 0..2 {
        second.ask(Ping).await.unwrap();
        first.ask(Ping).await.unwrap();
    }
    let other = OtherTask::spawn();
    for n in 0..5_000 {
        first.tell(Note(n)).await.unwrap();
    }
    other.ran_meanwhile().await;
    let seen = log.ask(Seen).await.unwrap();
    assert_eq!(numbers(&seen), (0..5_000).collect::<Vec<_>>());
    let here = tokio::task::try_id();
    let elsewhere: Vec<u64> = seen
        .iter()
        .filter(|(_, ran_on)| *ran_on != here)
        .map(|(n, _)| *n)
        .collect();
    assert!(
        elsewhere.is_empty(),
        "every stage ran on the sender's task; these notes went on from an actor's task: {elsewhere:?}"
    );
}

/// A handler run on the sender's task that tells in a loop holds that task only so long: past
/// a bound, the tell nested in it gives the turn anyway, the handler goes on from its actor's
/// task (which gives turns of its own), and the sender goes on.
#[tokio::test]
async fn a_handler_run_here_that_tells_in_a_loop_goes_on_from_its_task() {
    let bus = Bus::new();
    let log = bus.spawn::<Log>(());
    let relay = bus.spawn::<Relay<Log>>(log.clone());
    settled(&log).await;
    relay.ask(Ping).await.unwrap();
    relay.ask(Ping).await.unwrap();
    relay.tell(Burst(20_000)).await.unwrap();
    relay.ask(Ping).await.unwrap();
    let seen = log.ask(Seen).await.unwrap();
    assert_eq!(numbers(&seen), (0..20_000).collect::<Vec<_>>());
    let here = tokio::task::try_id();
    let ran_here = seen.iter().filter(|(_, ran_on)| *ran_on == here).count();
    assert!(
        ran_here > 0 && ran_here < 20_000,
        "the burst began on the sender's task and went on from the relay's ({ran_here} here)"
    );
}
