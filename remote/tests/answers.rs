//! Replies without a hop through a task: an idle exported actor answers on the link's reader
//! task, its reply encoded straight into a frame; in spin mode an asker reads its own reply
//! off the connection. Both keep the link's order and its errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mycelium_actors::{Actor, AskError, BoxError, Bus, Context, Handler};
use mycelium_contracts::{CancelOrder, OrderAck};
use mycelium_remote::frame::{encode_frame, FrameSpec, Kind, DEFAULT_MAX_BODY};
use mycelium_remote::transport::Stream;
use mycelium_remote::{Link, LinkConfig, LinkEventKind, Mode, Node, RemoteActor, MIN_MAX_FRAME};
use tokio::io::AsyncWriteExt;

fn spinning() -> LinkConfig {
    LinkConfig {
        mode: Mode::Spin(Duration::from_millis(50)),
        ..fast_config()
    }
}

/// Runs `f` on a thread of its own, with a current-thread runtime: another process, as far
/// as the spinning asker of the test's thread can tell.
fn elsewhere<F>(f: impl FnOnce() -> F + Send + 'static) -> std::thread::JoinHandle<F::Output>
where
    F: std::future::Future + 'static,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f())
    })
}

/// A frame of `kind` (a reply or a tell to `seen`) with sequence number `seq`.
fn frame(kind: Kind, seq: u64, corr: u64, body: &[u8]) -> Vec<u8> {
    acking(kind, seq, corr, 0, body)
}

/// [`frame`], acknowledging the peer's frames up to `ack`.
fn acking(kind: Kind, seq: u64, corr: u64, ack: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let spec = FrameSpec {
        kind,
        type_id: 1,
        seq,
        ts_ns: 0,
        ack,
        corr,
        name: if kind == Kind::Tell { "seen" } else { "" },
        key: None,
    };
    encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |o| {
        o.extend_from_slice(body)
    })
    .unwrap();
    out
}

/// Node a (spinning, on the test's one thread) asks a peer made by hand (on a thread of its
/// own) twice. The peer answers the first ask, then, before the second is asked, sends
/// `ahead(corr)`, given the second ask's correlation id (a link numbers its asks on by one),
/// and (with `eof`) closes its end. The test's thread waits for that without letting the
/// runtime run, so a's reader task cannot read them: the second ask's asker finds them all
/// at its first look.
async fn second_ask_finds(ahead: fn(u64) -> Vec<u8>, eof: bool) -> Asked {
    let mut asked = before_the_second_ask(Box::new(ahead), eof).await;
    let svc: Arc<str> = "svc".into();
    asked.second = asked
        .link
        .ask(&svc, 1, |o| o.push(2))
        .await
        .map(|(_, body)| body);
    while let Ok(g) = asked.got_rx.try_recv() {
        asked.got.push(g);
    }
    asked
}

/// [`second_ask_finds`] up to the second ask, which the caller makes: the first ask is
/// answered and the peer has sent `ahead(corr)`.
async fn before_the_second_ask(ahead: Box<dyn FnOnce(u64) -> Vec<u8> + Send>, eof: bool) -> Asked {
    let dir = TempDir::new("asker-reads");
    let bus = Bus::new();
    let (rec, got_rx) = Recorder::new(true);
    let (a, mut events) = node("a", &bus, rec, spinning());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let (sent, sent_rx) = std::sync::mpsc::channel::<()>();
    let (done, done_rx) = std::sync::mpsc::channel::<()>();
    let peer = elsewhere(move || async move {
        let (mut stream, mut reader) = authenticated_peer(&at).await;
        let corr = loop {
            let f = reader.read_frame(&mut stream).await.expect("a's ask");
            if f.kind == Kind::Ask {
                break f.corr;
            }
        };
        let mut bytes = frame(Kind::Reply, 1, corr, b"first");
        stream.write_all(&bytes).await.unwrap();
        // Once the first answer is in: read with it, a reply to the second ask would come
        // before that ask and be dropped as late.
        go_rx.recv().expect("the first ask answered");
        bytes = ahead(corr + 1);
        stream.write_all(&bytes).await.unwrap();
        if eof {
            stream.shutdown().await.unwrap();
        }
        let _ = sent.send(());
        // Held open until the test is done.
        let _ = done_rx.recv();
    });
    events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let link = a.link("b").expect("a's link to b");
    let svc: Arc<str> = "svc".into();
    let (_, first) = link
        .ask(&svc, 1, |o| o.push(1))
        .await
        .expect("first answer");
    assert_eq!(first, b"first");
    // Blocks this thread: a's reader task does not run until the second ask is asked.
    go.send(()).expect("the peer waits");
    sent_rx.recv().expect("the peer sent its frames");
    Asked {
        second: Ok(Vec::new()),
        link,
        events,
        got: Vec::new(),
        got_rx,
        node: a,
        peer: Some((done, peer)),
        _dir: dir,
    }
}

/// What [`second_ask_finds`] saw; the node shuts down and the peer's thread ends when it is
/// dropped.
struct Asked {
    second: Result<Vec<u8>, mycelium_remote::RemoteAskError>,
    link: Link,
    events: Events,
    got: Vec<Got>,
    got_rx: tokio::sync::mpsc::UnboundedReceiver<Got>,
    node: Node,
    _dir: TempDir,
    /// Ends the peer's thread, which closes its end.
    peer: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl Drop for Asked {
    fn drop(&mut self) {
        self.node.shutdown();
        if let Some((done, peer)) = self.peer.take() {
            let _ = done.send(());
            let _ = peer.join();
        }
    }
}

/// The asker of the second ask reads its reply itself (no hop through the reader task).
#[tokio::test]
async fn an_asker_in_spin_mode_reads_its_reply_itself() {
    let asked = second_ask_finds(|corr| frame(Kind::Reply, 2, corr, b"second"), false).await;
    assert_eq!(asked.second.as_deref().expect("second answer"), b"second");
    let stats = asked.link.stats();
    assert!(stats.asker_reads >= 1, "{stats:?}");
}

/// A tell that came before the reply: the asker leaves it, and the reply after it, to the
/// reader task, which delivers the tell first. So when the ask returns, the tell is already
/// with a's dispatcher.
#[tokio::test]
async fn an_asker_reading_its_reply_leaves_a_tell_before_it_to_the_reader() {
    let asked = second_ask_finds(
        |corr| {
            let mut bytes = frame(Kind::Tell, 2, 0, b"before");
            bytes.extend_from_slice(&frame(Kind::Reply, 3, corr, b"second"));
            bytes
        },
        false,
    )
    .await;
    assert_eq!(asked.second.as_deref().expect("second answer"), b"second");
    let told: Vec<_> = asked
        .got
        .iter()
        .map(|g| (g.service.as_str(), &g.body[..]))
        .collect();
    assert_eq!(told, [("seen", &b"before"[..])]);
}

/// What comes after the reply an asker read, and is no frame it may take, is left to the
/// reader task, which closes the link with the reason.
async fn after_the_reply(after: fn(u64) -> Vec<u8>, eof: bool) -> String {
    let mut asked = second_ask_finds(after, eof).await;
    assert_eq!(asked.second.as_deref().expect("second answer"), b"second");
    let down = asked
        .events
        .wait("down", |k| matches!(k, LinkEventKind::Down { .. }))
        .await;
    match down.kind {
        LinkEventKind::Down { reason, .. } => reason,
        _ => unreachable!("waited for a down event"),
    }
}

#[tokio::test]
async fn bytes_that_are_no_frame_after_a_reply_an_asker_read_close_the_link() {
    let reason = after_the_reply(
        |corr| {
            let mut bytes = frame(Kind::Reply, 2, corr, b"second");
            bytes.extend_from_slice(&[0xff; 64]);
            bytes
        },
        false,
    )
    .await;
    assert!(reason.contains("malformed frame"), "{reason}");
}

#[tokio::test]
async fn a_reply_out_of_sequence_after_one_an_asker_read_closes_the_link() {
    let reason = after_the_reply(
        |corr| {
            let mut bytes = frame(Kind::Reply, 2, corr, b"second");
            bytes.extend_from_slice(&frame(Kind::Reply, 4, corr + 1, b"skipped a number"));
            bytes
        },
        false,
    )
    .await;
    assert!(
        reason.contains("out-of-sequence frame: seq 4 where 3 was expected"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_peer_that_closed_after_a_reply_an_asker_read_ends_the_connection() {
    let reason = after_the_reply(|corr| frame(Kind::Reply, 2, corr, b"second"), true).await;
    assert!(reason.contains("peer closed the connection"), "{reason}");
}

/// A reply frame with sequence number `seq` for ask `corr`, of type `type_id`.
fn reply_frame(seq: u64, corr: u64, type_id: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let spec = FrameSpec {
        type_id,
        seq,
        corr,
        ..FrameSpec::control(Kind::Reply)
    };
    encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |o| {
        o.extend_from_slice(body)
    })
    .unwrap();
    out
}

/// A typed ask (a `ReplyRecipient` of a `RemoteActor`) keeps its answer in its entry of the
/// link's asks in flight, with no reply channel. In spin mode its asker reads its reply
/// itself: as in [`second_ask_finds`], the peer (made by hand) sends the reply before the
/// asker looks. A reply of the type asked decodes; one of another type is a lost answer that
/// names both types. Either way the ask leaves the asks in flight.
#[tokio::test]
async fn a_typed_asker_in_spin_mode_reads_and_decodes_its_own_reply() {
    use mycelium_codec::WireMessage;
    let ack = OrderAck {
        client_order_id: 9,
        venue_order_id: "V9".into(),
        ts_ns: 3,
        venue_ts_ns: Some(4),
    };
    let mut ack_body = Vec::new();
    ack.encode_body(&mut ack_body);
    for type_id in [OrderAck::TYPE_ID, OrderAck::TYPE_ID + 1] {
        let body = ack_body.clone();
        let ahead = move |corr| reply_frame(2, corr, type_id, &body);
        let setup = before_the_second_ask(Box::new(ahead), false).await;
        let link = setup.link.clone();
        let reads_before = link.stats().asker_reads;
        let venue =
            RemoteActor::<CancelOrder, OrderAck>::new(link.clone(), "venue").reply_recipient();
        let asked = venue
            .ask(CancelOrder {
                client_order_id: 9,
                instrument: 1,
                ts_ns: 3,
            })
            .await;
        match asked {
            Ok(got) => {
                assert_eq!(type_id, OrderAck::TYPE_ID);
                assert_eq!(got, ack);
            }
            Err(AskError::Lost { reason, .. }) => {
                assert_ne!(type_id, OrderAck::TYPE_ID, "{reason}");
                assert!(
                    reason.contains(&format!("type id {type_id}")) && reason.contains("OrderAck"),
                    "{reason}"
                );
            }
            Err(e) => panic!("type id {type_id}: {e:?}"),
        }
        assert_eq!(
            link.stats().asker_reads,
            reads_before + 1,
            "{:?}",
            link.stats()
        );
        assert_eq!(link.asks_in_flight(), 0);
        // Shuts the node down and ends the peer's thread.
        drop(setup);
    }
}

/// A typed ask in flight when its connection ends fails at once with a lost answer, left in
/// its entry by the link, and leaves the asks in flight. As in [`second_ask_finds`], the peer
/// (made by hand) closes its end before the ask is asked: the spinning asker reads the end of
/// the stream itself, leaves it to the reader task, which ends the connection and fails the
/// ask where it waits.
#[tokio::test]
async fn a_typed_ask_in_flight_when_its_connection_ends_fails_at_once() {
    let setup = before_the_second_ask(Box::new(|_| Vec::new()), true).await;
    let link = setup.link.clone();
    let venue = RemoteActor::<CancelOrder, OrderAck>::new(link.clone(), "venue").reply_recipient();
    let cancel = CancelOrder {
        client_order_id: 5,
        instrument: 1,
        ts_ns: 0,
    };
    // A bound, not a wait: the ask ends as soon as the reader task runs.
    let asked = tokio::time::timeout(Duration::from_secs(30), venue.ask(cancel))
        .await
        .expect("the ask ended with its connection");
    match asked {
        Err(AskError::Lost { reason, .. }) => {
            assert!(
                reason.contains("went down while the ask was in flight"),
                "{reason}"
            )
        }
        other => panic!("expected a lost answer, got {other:?}"),
    }
    assert_eq!(link.asks_in_flight(), 0);
}

/// Typed asks whose replies the link's reader task reads (block mode) find them in their
/// entries, and take them out: none stays in flight.
#[tokio::test]
async fn typed_asks_answered_by_the_reader_task_leave_no_ask_in_flight() {
    let dir = TempDir::new("typed-in-place");
    let bus = Bus::new();
    let venue = bus.spawn::<Verbose>(3);
    bus.exports()
        .export_ask("venue", venue.reply_recipient::<CancelOrder>())
        .unwrap();
    let (b, _) = node("b", &bus, Arc::new(bus.exports()), fast_config());
    let at = b.listen(&dir.socket("b.sock"), &["a"]).await.unwrap();
    let (a, _) = node("a", &bus, Arc::new(bus.exports()), fast_config());
    let link = a.connect("b", at);
    let venue = RemoteActor::<CancelOrder, OrderAck>::new(link.clone(), "venue").reply_recipient();
    let mut asks = tokio::task::JoinSet::new();
    for id in 1..=50 {
        let venue = venue.clone();
        asks.spawn(async move {
            let cancel = CancelOrder {
                client_order_id: id,
                instrument: 1,
                ts_ns: 0,
            };
            (id, venue.ask(cancel).await)
        });
    }
    while let Some(asked) = asks.join_next().await {
        let (id, ack) = asked.expect("the asking task");
        let ack = ack.expect("answered");
        assert_eq!(
            (ack.client_order_id, ack.venue_order_id.as_str()),
            (id, "VVV")
        );
    }
    assert_eq!(link.asks_in_flight(), 0);
    a.shutdown();
    b.shutdown();
}

/// Answers every cancel with an order id of `len` bytes.
struct Verbose(usize);

impl Actor for Verbose {
    type Args = usize;
    async fn on_start(len: usize, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Verbose(len))
    }
}

impl Handler<CancelOrder> for Verbose {
    type Reply = OrderAck;
    async fn handle(&mut self, c: CancelOrder, _ctx: &mut Context<Self>) -> OrderAck {
        OrderAck {
            client_order_id: c.client_order_id,
            venue_order_id: "V".repeat(self.0),
            ts_ns: c.ts_ns,
            venue_ts_ns: None,
        }
    }
}

/// An idle exported actor answers on b's reader task and its reply is encoded straight into
/// a frame: a reply too large for the frames b sends comes back as a failure that says so,
/// and a reply that fits comes back whole, in both modes.
#[tokio::test]
async fn a_reply_made_on_the_readers_task_that_is_too_large_comes_back_as_a_failure() {
    for mode in [Mode::Block, Mode::Spin(Duration::from_millis(50))] {
        let dir = TempDir::new("reply-now");
        let bus = Bus::new();
        let venue = bus.spawn::<Verbose>(MIN_MAX_FRAME as usize);
        let small = bus.spawn::<Verbose>(100);
        bus.exports()
            .export_ask("venue", venue.reply_recipient::<CancelOrder>())
            .unwrap();
        bus.exports()
            .export_ask("small", small.reply_recipient::<CancelOrder>())
            .unwrap();
        let config = LinkConfig {
            mode,
            max_frame: MIN_MAX_FRAME,
            ..fast_config()
        };
        let (b, _) = node("b", &bus, Arc::new(bus.exports()), config.clone());
        let at = b.listen(&dir.socket("b.sock"), &["a"]).await.unwrap();
        let (a, _) = node("a", &bus, Arc::new(bus.exports()), config);
        let link = a.connect("b", at);
        let cancel = |id| CancelOrder {
            client_order_id: id,
            instrument: 1,
            ts_ns: 0,
        };
        let venue =
            RemoteActor::<CancelOrder, OrderAck>::new(link.clone(), "venue").reply_recipient();
        match venue.ask(cancel(1)).await {
            Err(AskError::Lost { reason, .. }) => {
                assert!(
                    reason.contains("exceeds the frame maximum"),
                    "{mode:?}: {reason}"
                )
            }
            other => panic!("{mode:?}: expected a failure, got {other:?}"),
        }
        let small = RemoteActor::<CancelOrder, OrderAck>::new(link, "small").reply_recipient();
        let ack = small.ask(cancel(2)).await.expect("a reply that fits");
        assert_eq!((ack.client_order_id, ack.venue_order_id.len()), (2, 100));
        a.shutdown();
        b.shutdown();
    }
}

/// While askers read every reply themselves, the link's reader task reads nothing of its
/// own: the link is live all the same, and its reader goes on spinning rather than park on
/// the transport each time its spin budget runs out (a park puts the socket back in the
/// runtime's reactor, which every crossing then pays for, and leaves the replies to the
/// reader task until it spins again).
///
/// Every reply is the asker's to read, whatever the machine's load: as in
/// [`second_ask_finds`], a peer made by hand sends the reply to the next ask while the test's
/// thread waits, so the reader task (on that thread) cannot run before the asker looks.
#[tokio::test]
async fn a_spinning_reader_whose_replies_askers_read_does_not_park() {
    use std::sync::atomic::{AtomicU64, Ordering};
    const BUDGET: Duration = Duration::from_millis(20);
    let dir = TempDir::new("asker-budget");
    let bus = Bus::new();
    let (rec, _got) = Recorder::new(true);
    let (a, mut events) = node(
        "a",
        &bus,
        rec,
        LinkConfig {
            mode: Mode::Spin(BUDGET),
            ..fast_config()
        },
    );
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    // The correlation id of the next ask to answer, sent by the test once the one before is
    // answered; the peer ends when the test drops its end.
    let (go, mut go_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (sent, sent_rx) = std::sync::mpsc::channel::<()>();
    let (first_corr, first_corr_rx) = tokio::sync::oneshot::channel::<u64>();
    let peer = elsewhere(move || async move {
        let (stream, mut reader) = authenticated_peer(&at).await;
        let Stream::Unix(stream) = stream else {
            unreachable!("a Unix socket")
        };
        let (mut rd, mut wr) = stream.into_split();
        // Everything a sends is read as it comes, so that its writes never wait for room:
        // the highest sequence number read is what the replies acknowledge.
        let read_up_to = Arc::new(AtomicU64::new(0));
        let drain = {
            let read_up_to = read_up_to.clone();
            tokio::spawn(async move {
                let mut first_corr = Some(first_corr);
                while let Ok(f) = reader.read_frame(&mut rd).await {
                    read_up_to.fetch_max(f.seq, Ordering::Release);
                    if f.kind == Kind::Ask {
                        if let Some(tx) = first_corr.take() {
                            let _ = tx.send(f.corr);
                        }
                    }
                }
            })
        };
        let mut seq = 0u64;
        while let Some(corr) = go_rx.recv().await {
            seq += 1;
            let ack = read_up_to.load(Ordering::Acquire);
            // Its body is the ask's number, as the ask's own body (the first ask's: none).
            let asked = if seq > 1 {
                (seq - 1).to_le_bytes().to_vec()
            } else {
                Vec::new()
            };
            let reply = acking(Kind::Reply, seq, corr, ack, &asked);
            wr.write_all(&reply).await.unwrap();
            let _ = sent.send(());
        }
        drain.abort();
    });
    events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    let link = a.link("b").expect("a's link to b");
    let svc: Arc<str> = "svc".into();
    // The first ask is answered once the peer has seen it: its reply is anyone's to read.
    let first = {
        let link = link.clone();
        let svc = svc.clone();
        tokio::spawn(async move { link.ask(&svc, 1, |o| o.push(0)).await })
    };
    let corr = first_corr_rx.await.expect("the peer saw the first ask");
    go.send(corr).unwrap();
    sent_rx.recv().expect("the peer sent the first reply");
    first.await.unwrap().expect("the first answer");
    let before = link.stats();
    // Ten budgets' worth of asks, one after another: a reader that counted only the bytes it
    // read itself would park about once a budget. Each wait between two answers longer than
    // half a budget (the peer's thread or this one kept off a CPU) could let a correct
    // reader's budget run out too: they are counted.
    let start = std::time::Instant::now();
    let mut last = start;
    let mut asks = 0u64;
    let mut long_waits = 0u64;
    while start.elapsed() < BUDGET * 10 && asks < 1_000_000 {
        asks += 1;
        go.send(corr + asks).unwrap();
        // Blocks this thread: a's reader task does not run until the asker has looked.
        sent_rx.recv().expect("the peer sent the reply");
        let (_, body) = link
            .ask(&svc, 1, |o| o.extend_from_slice(&asks.to_le_bytes()))
            .await
            .expect("an answer");
        assert_eq!(body, asks.to_le_bytes());
        // The reader task's turn, as an application's other work would give it one.
        tokio::task::yield_now().await;
        let now = std::time::Instant::now();
        if now.duration_since(last) > BUDGET / 2 {
            long_waits += 1;
        }
        last = now;
    }
    let after = link.stats();
    drop(go);
    a.shutdown();
    peer.join().expect("the peer's thread");
    let asker_reads = after.asker_reads - before.asker_reads;
    let parks = after.parks - before.parks;
    assert!(
        parks <= long_waits,
        "the reader parked while askers read its replies: {parks} parks, {long_waits} waits \
         over half a budget, {asks} asks; {after:?}"
    );
    // A parked reader holds the read side until bytes come: the reply that wakes it is the
    // reader's own.
    assert!(
        asks - asker_reads <= parks,
        "askers left {} replies to the reader task, which parked {parks} times: {after:?}, \
         {asks} asks",
        asks - asker_reads
    );
}
