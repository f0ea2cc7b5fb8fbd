//! The seam remote links plug into: `Recipient` and `ReplyRecipient` on local actors, a
//! hand-written proxy behind the same addresses, and `ActorId`s built outside the crate.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium::actors::{
    ActorId, MailboxConfig, Recipient, ReplyRecipient, SpawnOptions, TrySendError,
};
use mycelium::actors::{BoxFuture, Clock, MessageSink, NodeId, Queued, ReplySender, RequestSink};
use mycelium::prelude::*;
use tokio::sync::oneshot;

struct Calc {
    total: u64,
}

impl Actor for Calc {
    type Args = u64;
    async fn on_start(total: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Calc { total })
    }
}

struct Add(u64);
impl Handler<Add> for Calc {
    type Reply = u64;
    async fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self>) -> u64 {
        self.total += n;
        self.total
    }
}

/// Holds the actor in its handler until the sender fires (or is dropped).
struct Hold(oneshot::Receiver<()>);
impl Handler<Hold> for Calc {
    type Reply = ();
    async fn handle(&mut self, Hold(wait): Hold, _ctx: &mut Context<Self>) {
        let _ = wait.await;
    }
}

struct Crash;
impl Handler<Crash> for Calc {
    type Reply = u64;
    async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) -> u64 {
        panic!("crash requested")
    }
}

fn virtual_bus() -> Bus {
    Bus::builder().virtual_time().seed(7).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn recipient_and_reply_recipient_reach_a_local_actor() {
    let bus = virtual_bus();
    let calc = bus.spawn::<Calc>(10);
    let tells: Recipient<Add> = calc.recipient();
    tells.tell(Add(1)).await.unwrap();
    tells.try_tell(Add(2)).unwrap();

    let asks: ReplyRecipient<Add, u64> = calc.reply_recipient();
    assert_eq!(asks.ask(Add(3)).await.unwrap(), 16);
    assert_eq!(
        asks.ask_timeout(Add(4), Duration::from_secs(1))
            .await
            .unwrap(),
        20
    );
    asks.tell(Add(5)).await.unwrap();
    asks.try_tell(Add(0)).unwrap();
    let plain: Recipient<Add> = asks.clone().into();
    plain.tell(Add(1)).await.unwrap();
    assert_eq!(asks.ask(Add(0)).await.unwrap(), 26);

    assert_eq!(asks.id(), calc.id());
    assert_eq!(asks.recipient().id(), calc.id());
    assert!(asks.is_alive());
    assert_eq!(
        format!("{asks:?}"),
        format!("ReplyRecipient({})", calc.id())
    );
}

#[tokio::test(start_paused = true)]
async fn ask_timeout_runs_on_the_virtual_clock() {
    let bus = virtual_bus();
    let calc = bus.spawn::<Calc>(0);
    let (go, wait) = oneshot::channel();
    calc.tell(Hold(wait)).await.unwrap();
    let asks = calc.reply_recipient::<Add>();
    let before = bus.now();
    match asks.ask_timeout(Add(1), Duration::from_secs(3600)).await {
        Err(AskError::Timeout(d)) => assert_eq!(d, Duration::from_secs(3600)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(bus.now() - before >= Duration::from_secs(3600));
    go.send(()).unwrap();
    // The timed-out request is still handled later.
    assert_eq!(asks.ask(Add(1)).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn ask_waits_for_room_in_a_full_mailbox() {
    let bus = virtual_bus();
    let calc = bus
        .spawn_with::<Calc>(0, SpawnOptions::new().mailbox(MailboxConfig::Bounded(1)))
        .unwrap();
    let (go, wait) = oneshot::channel();
    calc.tell(Hold(wait)).await.unwrap();
    tokio::task::yield_now().await; // the actor sits in `Hold`
    calc.try_tell(Add(1)).unwrap(); // the mailbox is full now
    let asks = calc.reply_recipient::<Add>();
    let asker = tokio::spawn(async move { asks.ask(Add(2)).await });
    tokio::task::yield_now().await;
    assert!(!asker.is_finished());
    go.send(()).unwrap();
    assert_eq!(asker.await.unwrap().unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_stopped_actor_hands_the_request_back_and_a_failure_is_reported() {
    let bus = virtual_bus();
    let calc = bus.spawn::<Calc>(0);
    let asks = calc.reply_recipient::<Crash>();
    match asks.ask(Crash).await {
        Err(AskError::Failed(f)) => assert_eq!(&*f.reason, "crash requested"),
        other => panic!("expected Failed, got {other:?}"),
    }
    let adds = calc.reply_recipient::<Add>();
    calc.stop();
    calc.wait_for_stop().await;
    assert!(!adds.is_alive());
    match adds.ask(Add(9)).await {
        Err(AskError::Closed(Add(9))) => {}
        other => panic!("expected Closed(Add(9)), got {other:?}"),
    }
    match adds.try_tell(Add(8)) {
        Err(TrySendError::Closed(Add(8))) => {}
        other => panic!("expected Closed(Add(8)), got {other:?}"),
    }
    assert!(matches!(adds.tell(Add(7)).await, Err(SendError(Add(7)))));
}

#[test]
fn actor_ids_are_built_outside_the_crate() {
    let exec = NodeId::new(2);
    let remote = ActorId::new(exec, 7);
    assert_eq!(remote.node(), exec);
    assert_eq!(remote.local(), 7);
    assert!(!remote.is_local());
    assert_eq!(remote.to_string(), "#7@node2");
    assert_eq!(format!("{remote:?}"), "#7@node2");
    let local = ActorId::new(NodeId::LOCAL, 7);
    assert_eq!(local.to_string(), "#7");
    assert!(local.is_local());
    assert_ne!(local, remote);
    assert_eq!(NodeId::LOCAL.get(), 0);
    assert_eq!(NodeId::LOCAL.to_string(), "local");
}

#[tokio::test]
async fn ids_a_bus_allocates_are_local() {
    let bus = Bus::new();
    let a = bus.spawn::<Calc>(0);
    let b = bus.spawn::<Calc>(0);
    assert_eq!(a.id(), ActorId::new(NodeId::LOCAL, 1));
    assert_eq!(b.id(), ActorId::new(NodeId::LOCAL, 2));
    assert_eq!(a.id().to_string(), "#1");
}

/// A stand-in for a remote proxy: requests "leave the process" into a queue; the test then
/// plays the link, answering or losing them.
struct FakeProxy {
    node: NodeId,
    clock: Clock,
    sent: Mutex<Vec<(u64, ReplySender<u64>)>>,
    refuse: bool,
}

impl MessageSink<Add> for FakeProxy {
    fn try_tell(&self, msg: Add) -> Result<(), TrySendError<Add>> {
        if self.refuse {
            return Err(TrySendError::Closed(msg));
        }
        Ok(())
    }

    fn tell(&self, msg: Add) -> BoxFuture<'_, Result<(), SendError<Add>>> {
        Box::pin(async move { self.try_tell(msg).map_err(|e| SendError(e.into_inner())) })
    }

    fn id(&self) -> ActorId {
        ActorId::new(self.node, 3)
    }

    fn is_alive(&self) -> bool {
        !self.refuse
    }
}

impl RequestSink<Add, u64> for FakeProxy {
    fn send_request(&self, Add(n): Add, reply: ReplySender<u64>) -> Queued<'_, Add> {
        if self.refuse {
            return Queued::Ready(Err(SendError(Add(n))));
        }
        self.sent.lock().unwrap().push((n, reply));
        Queued::Ready(Ok(()))
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }
}

fn proxy(bus: &Bus, refuse: bool) -> Arc<FakeProxy> {
    Arc::new(FakeProxy {
        node: NodeId::new(4),
        clock: bus.clock().clone(),
        sent: Mutex::new(Vec::new()),
        refuse,
    })
}

#[tokio::test(start_paused = true)]
async fn a_proxy_behind_reply_recipient_answers_loses_and_refuses() {
    let bus = virtual_bus();
    let fake = proxy(&bus, false);
    let remote: ReplyRecipient<Add, u64> = ReplyRecipient::new(fake.clone());
    assert_eq!(remote.id().to_string(), "#3@node4");

    // Answered: the reply comes through.
    let asker = tokio::spawn({
        let remote = remote.clone();
        async move { remote.ask(Add(5)).await }
    });
    tokio::task::yield_now().await;
    let (n, reply) = fake.sent.lock().unwrap().pop().unwrap();
    reply.send(n * 10).unwrap();
    assert_eq!(asker.await.unwrap().unwrap(), 50);

    // Lost after it left: a typed error at once, naming the node.
    let asker = tokio::spawn({
        let remote = remote.clone();
        async move { remote.ask(Add(6)).await }
    });
    tokio::task::yield_now().await;
    let (_, reply) = fake.sent.lock().unwrap().pop().unwrap();
    assert!(!reply.is_closed());
    reply.lost(NodeId::new(4), "link dropped");
    match asker.await.unwrap() {
        Err(AskError::Lost { node, reason }) => {
            assert_eq!(node, NodeId::new(4));
            assert_eq!(reason, "link dropped");
        }
        other => panic!("expected Lost, got {other:?}"),
    }

    // A reply slot dropped unanswered: lost too, never a hang.
    let asker = tokio::spawn({
        let remote = remote.clone();
        async move { remote.ask(Add(7)).await }
    });
    tokio::task::yield_now().await;
    drop(fake.sent.lock().unwrap().pop());
    let err = asker.await.unwrap().unwrap_err();
    assert!(matches!(err, AskError::Lost { node, .. } if node == NodeId::new(4)));
    assert!(err.to_string().contains("node4"), "{err}");

    // The asker gave up: the proxy can see it, and `send` hands the reply back.
    let timed_out = remote.ask_timeout(Add(8), Duration::from_secs(5)).await;
    assert!(matches!(timed_out, Err(AskError::Timeout(_))));
    let (_, reply) = fake.sent.lock().unwrap().pop().unwrap();
    assert!(reply.is_closed());
    assert_eq!(reply.send(1), Err(1));

    // Refused before leaving: the request comes back.
    let refusing = ReplyRecipient::<Add, u64>::new(proxy(&bus, true));
    assert!(matches!(
        refusing.ask(Add(9)).await,
        Err(AskError::Closed(Add(9)))
    ));
    assert!(matches!(
        refusing.recipient().try_tell(Add(1)),
        Err(TrySendError::Closed(Add(1)))
    ));
}

/// A proxy that keeps each answer where its ask waits, by ticket
/// (`RequestSink::ask_placed`), as a link keeps it in its asks in flight.
struct PlacingProxy {
    node: NodeId,
    clock: Clock,
    /// What `ask_placed` does: place the ask, decline it, or refuse it.
    placing: Placing,
    /// `read_placed` answers at once (twice the request).
    at_once: bool,
    /// Asks placed and not yet taken.
    placed: Mutex<Vec<PlacedAsk>>,
    forgotten: Mutex<Vec<u64>>,
    sent: Mutex<Vec<(u64, ReplySender<u64>)>>,
    tickets: std::sync::atomic::AtomicU64,
}

/// An ask a [`PlacingProxy`] placed: its ticket, its request, the answer once it came, and
/// its asker's waker while it waits.
struct PlacedAsk {
    ticket: u64,
    n: u64,
    answer: Option<u64>,
    waker: Option<std::task::Waker>,
}

#[derive(Clone, Copy)]
enum Placing {
    Place,
    Decline,
    Close,
}

impl PlacingProxy {
    fn new(bus: &Bus, placing: Placing, at_once: bool) -> Arc<PlacingProxy> {
        Arc::new(PlacingProxy {
            node: NodeId::new(5),
            clock: bus.clock().clone(),
            placing,
            at_once,
            placed: Mutex::new(Vec::new()),
            forgotten: Mutex::new(Vec::new()),
            sent: Mutex::new(Vec::new()),
            tickets: std::sync::atomic::AtomicU64::new(100),
        })
    }

    /// Answers the oldest placed ask with `answer`, waking its asker.
    fn answer_first(&self, answer: impl FnOnce(u64) -> u64) {
        let waker = {
            let mut placed = self.placed.lock().unwrap();
            let entry = placed.first_mut().expect("an ask placed");
            entry.answer = Some(answer(entry.n));
            entry.waker.take()
        };
        waker.expect("the asker waits").wake();
    }
}

impl MessageSink<Add> for PlacingProxy {
    fn try_tell(&self, msg: Add) -> Result<(), TrySendError<Add>> {
        Err(TrySendError::Closed(msg))
    }

    fn tell(&self, msg: Add) -> BoxFuture<'_, Result<(), SendError<Add>>> {
        Box::pin(async move { Err(SendError(msg)) })
    }

    fn id(&self) -> ActorId {
        ActorId::new(self.node, 1)
    }

    fn is_alive(&self) -> bool {
        true
    }
}

impl RequestSink<Add, u64> for PlacingProxy {
    fn send_request(&self, Add(n): Add, reply: ReplySender<u64>) -> Queued<'_, Add> {
        self.sent.lock().unwrap().push((n, reply));
        Queued::Ready(Ok(()))
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }

    fn ask_placed(&self, msg: Add) -> mycelium::actors::Placed<Add> {
        use mycelium::actors::Placed;
        match self.placing {
            Placing::Place => {
                let ticket = self
                    .tickets
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.placed.lock().unwrap().push(PlacedAsk {
                    ticket,
                    n: msg.0,
                    answer: None,
                    waker: None,
                });
                Placed::Sent(ticket)
            }
            Placing::Decline => Placed::Declined(msg),
            Placing::Close => Placed::Closed(msg),
        }
    }

    fn read_placed(&self, ticket: u64) -> Option<Result<u64, AskError<Add>>> {
        if !self.at_once {
            return None;
        }
        let mut placed = self.placed.lock().unwrap();
        let at = placed.iter().position(|p| p.ticket == ticket)?;
        Some(Ok(2 * placed.remove(at).n))
    }

    fn poll_placed(
        &self,
        ticket: u64,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<u64, AskError<Add>>> {
        let mut placed = self.placed.lock().unwrap();
        let Some(at) = placed.iter().position(|p| p.ticket == ticket) else {
            return std::task::Poll::Ready(Err(AskError::Lost {
                node: self.node,
                reason: "no such ticket".into(),
            }));
        };
        match placed[at].answer {
            Some(answer) => {
                placed.remove(at);
                std::task::Poll::Ready(Ok(answer))
            }
            None => {
                placed[at].waker = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }

    fn forget_placed(&self, ticket: u64) {
        self.placed.lock().unwrap().retain(|p| p.ticket != ticket);
        self.forgotten.lock().unwrap().push(ticket);
    }
}

/// A proxy that keeps answers where its asks wait serves `ReplyRecipient::ask` without a
/// reply channel: an answer it has at once, one that comes later (the asker woken), a refusal
/// that hands the request back, a decline that sends it the usual way, and an asker that
/// gives up (its ticket forgotten, so the proxy can drop the ask).
#[tokio::test(start_paused = true)]
async fn a_proxy_that_keeps_answers_where_asks_wait_serves_reply_recipient() {
    let bus = virtual_bus();

    let at_once = PlacingProxy::new(&bus, Placing::Place, true);
    let remote: ReplyRecipient<Add, u64> = ReplyRecipient::new(at_once.clone());
    assert_eq!(remote.ask(Add(21)).await.unwrap(), 42);
    assert!(at_once.placed.lock().unwrap().is_empty());
    assert!(at_once.forgotten.lock().unwrap().is_empty());

    let later = PlacingProxy::new(&bus, Placing::Place, false);
    let remote: ReplyRecipient<Add, u64> = ReplyRecipient::new(later.clone());
    let asker = tokio::spawn({
        let remote = remote.clone();
        async move { remote.ask(Add(5)).await }
    });
    while later
        .placed
        .lock()
        .unwrap()
        .first()
        .is_none_or(|p| p.waker.is_none())
    {
        tokio::task::yield_now().await;
    }
    later.answer_first(|n| n + 1);
    assert_eq!(asker.await.unwrap().unwrap(), 6);
    assert!(later.placed.lock().unwrap().is_empty());
    assert!(later.forgotten.lock().unwrap().is_empty());

    // Given up before the answer came: the ticket is forgotten.
    let timed_out = remote.ask_timeout(Add(7), Duration::from_millis(10)).await;
    assert!(matches!(timed_out, Err(AskError::Timeout(_))));
    assert_eq!(*later.forgotten.lock().unwrap(), [101]);
    assert!(later.placed.lock().unwrap().is_empty());

    let closed = PlacingProxy::new(&bus, Placing::Close, true);
    let remote: ReplyRecipient<Add, u64> = ReplyRecipient::new(closed.clone());
    assert!(matches!(
        remote.ask(Add(3)).await,
        Err(AskError::Closed(Add(3)))
    ));

    let declined = PlacingProxy::new(&bus, Placing::Decline, true);
    let remote: ReplyRecipient<Add, u64> = ReplyRecipient::new(declined.clone());
    let asker = tokio::spawn({
        let remote = remote.clone();
        async move { remote.ask(Add(4)).await }
    });
    while declined.sent.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    let (n, reply) = declined.sent.lock().unwrap().pop().unwrap();
    reply.send(n * 3).unwrap();
    assert_eq!(asker.await.unwrap().unwrap(), 12);
}
