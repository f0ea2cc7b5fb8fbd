//! Peer restarts: the exact lost range reported, instance ids reused with fresh state, replies
//! to a predecessor never reaching its successor, and a connection the peer never installed.

use std::sync::Arc;

use crate::common::scenario::{self, body, index};
use crate::common::*;
use crate::tell_sink::Hold;

use mycelium_actors::Bus;
use mycelium_remote::frame::Kind;
use mycelium_remote::handshake::{authenticate, finish, Identity, Resume};
use mycelium_remote::reader::FrameReader;
use mycelium_remote::transport::{Listener, Stream};
use mycelium_remote::{LinkEvent, LinkEventKind, LossReason, Node};

/// The receiving process goes away while messages it received are not yet acknowledged, and
/// a new instance (new instance id) takes its place: the sender reports exactly the
/// unacknowledged ones as lost, with their types, and delivers later messages to the new
/// instance. Every message is delivered once or reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_restart_reports_the_exact_lost_range() {
    let dir = TempDir::new("restart");
    scenario::peer_restart(&dir.socket("a.sock")).await;
}

/// A peer process that comes back with the same instance id (`NodeBuilder::instance`) but
/// fresh state numbers its frames from 1 again: they are new messages, not resends of its
/// predecessor's, and every one of them is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_back_with_the_same_instance_id_and_fresh_state_is_delivered_everything() {
    let dir = TempDir::new("same-instance");
    let bus = Bus::new();
    let (rec, mut got) = Recorder::new(true);
    let (a, _) = node("a", &bus, rec, fast_config());
    let at = a.listen(&dir.socket("a.sock"), &["b"]).await.unwrap();
    let svc: Arc<str> = "sink".into();
    let b_node = |rec| {
        Node::builder("b", schema(), secret())
            .config(fast_config())
            .instance(77)
            .build(&bus, rec)
    };

    let (rec_b, _) = Recorder::new(true);
    let b1 = b_node(rec_b);
    let link = b1.connect("a", at.clone());
    for i in 0..5 {
        link.send(Kind::Tell, &svc, 5, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap();
    }
    assert_eq!(
        recv_n(&mut got, 5)
            .await
            .iter()
            .map(index)
            .collect::<Vec<_>>(),
        (0..5).collect::<Vec<_>>()
    );
    b1.close().await;
    drop(b1);

    let (rec_b, _) = Recorder::new(true);
    let b2 = b_node(rec_b);
    let link = b2.connect("a", at);
    for i in 100..108 {
        link.send(Kind::Tell, &svc, 5, |o| o.extend_from_slice(&body(i)))
            .await
            .unwrap();
    }
    assert_eq!(
        recv_n(&mut got, 8)
            .await
            .iter()
            .map(index)
            .collect::<Vec<_>>(),
        (100..108).collect::<Vec<_>>()
    );
    assert_eq!(a.link("b").unwrap().stats().duplicates, 0);
}

/// A service that answers an ask with its body; the ask whose body is `first` answers only
/// once the test releases it, having said that it got there.
struct SlowEcho {
    hold: std::sync::Mutex<Option<Hold>>,
}

impl mycelium_remote::Dispatch for SlowEcho {
    fn tell<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: &'a [u8],
    ) -> mycelium_actors::BoxFuture<'a, Result<(), mycelium_remote::DispatchError>> {
        Box::pin(async { Ok(()) })
    }
    fn ask<'a>(
        &'a self,
        _: &'a str,
        type_id: u16,
        body: &'a [u8],
    ) -> mycelium_actors::BoxFuture<
        'a,
        Result<mycelium_remote::ReplyFuture, mycelium_remote::DispatchError>,
    > {
        let hold = match body {
            b"first" => self.hold.lock().unwrap().take(),
            _ => None,
        };
        let body = body.to_vec();
        Box::pin(async move {
            Ok(Box::pin(async move {
                if let Some(Hold { entered, release }) = hold {
                    let _ = entered.send(());
                    let _ = release.await;
                }
                Ok((type_id, body))
            }) as mycelium_remote::ReplyFuture)
        })
    }
    fn publish<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: Option<u64>,
        _: &'a [u8],
    ) -> mycelium_actors::BoxFuture<'a, Result<(), mycelium_remote::DispatchError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The reply to an ask of a process that then restarted is not sent to its successor, whose
/// asks may carry the same correlation ids: the successor gets the answer to its own ask, and
/// no reply it did not ask for. (Before, the reply queued while the asker was away went to
/// the new process, which took it for the answer to its own first ask.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_restarted_peer_s_predecessor_never_reaches_the_new_process() {
    stale_reply(true).await;
}

/// As above, with the reply ready only once the new process is connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_ready_after_the_peer_restarted_never_reaches_the_new_process() {
    stale_reply(false).await;
}

/// `b` holds the reply to `a`'s first ask; `a` restarts and asks again. The held reply is
/// ready while `a` is away (`before_restart`) or once the new process is connected.
async fn stale_reply(before_restart: bool) {
    let dir = TempDir::new("stale-reply");
    let bus = Bus::new();
    let (entered_tx, entered) = tokio::sync::oneshot::channel();
    let (release, release_rx) = tokio::sync::oneshot::channel();
    let slow = Arc::new(SlowEcho {
        hold: std::sync::Mutex::new(Some(Hold {
            entered: entered_tx,
            release: release_rx,
        })),
    });
    let (b, mut b_events) = node("b", &bus, slow, fast_config());
    let at = b.listen(&dir.socket("b.sock"), &["a"]).await.unwrap();
    let svc: Arc<str> = "slow".into();

    let (sink, _) = Recorder::new(true);
    let (a1, _) = node("a", &bus, sink, fast_config());
    let link = a1.connect("b", at.clone());
    let first = {
        let (link, svc) = (link.clone(), svc.clone());
        tokio::spawn(async move { link.ask(&svc, 1, |o| o.extend_from_slice(b"first")).await })
    };
    tokio::time::timeout(BOUND, entered)
        .await
        .expect("the first ask reached b's handler")
        .unwrap();
    a1.close().await;
    drop(a1);
    let _ = tokio::time::timeout(BOUND, first).await.unwrap();
    b_events
        .wait("a's connection ended", |k| {
            matches!(k, LinkEventKind::Down { .. })
        })
        .await;
    let b_link = b.link("a").unwrap();
    let mut release = Some(release);
    if before_restart {
        // The handler answers while `a` is away: its reply is queued, unwritten.
        release.take().unwrap().send(()).unwrap();
        tokio::time::timeout(BOUND, async {
            while b_link.queued() == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("b queued the reply");
    }

    // A new process `a` asks at once, as its link comes up: its ask is in flight when
    // whatever b sends first arrives (or, should the link win the race, the old reply would
    // arrive as a late one: counted below).
    let (sink, _) = Recorder::new(true);
    let (a2, _) = node("a", &bus, sink, fast_config());
    let link = a2.connect("b", at);
    let ask = |body: &'static [u8]| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        link.try_ask_with(
            &svc,
            1,
            "ask",
            |o| o.extend_from_slice(body),
            Box::new(move |r| {
                let _ = tx.send(r.map(|(t, body)| (t, body.to_vec())));
            }),
        )
        .map_err(|(e, _)| e)
        .unwrap();
        async move {
            let (_, answer) = tokio::time::timeout(BOUND, rx)
                .await
                .expect("the ask was answered")
                .unwrap()
                .unwrap();
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    assert_eq!(
        ask(b"second").await,
        "second",
        "the new process got the answer to its predecessor's ask"
    );
    if let Some(release) = release.take() {
        // The handler answers now that the new process is connected.
        release.send(()).unwrap();
    }
    // Until b dropped the reply, or the new process received it.
    tokio::time::timeout(BOUND, async {
        while b_link.stats().stale_replies == 0 && link.stats().late_replies == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the reply to the predecessor was neither dropped nor received");
    // b writes in order: had it sent the first reply, it would have arrived before this one.
    assert_eq!(ask(b"third").await, "third");
    assert_eq!(
        link.stats().late_replies,
        0,
        "a reply meant for the predecessor reached the new process"
    );
    assert_eq!(b_link.stats().stale_replies, 1);
    a2.shutdown();
    b.shutdown();
}

/// The peer's handshake can end between the two verdicts: this side received the peer's and
/// installed the connection, the peer never received this side's and never installed it.
/// What this side wrote on that connection reached no one, and the peer (the same process)
/// says on the next connection that it never heard from this node: everything is sent
/// again, and nothing is reported lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_peer_never_installed_loses_nothing() {
    let (up, seen) = cut_before_the_peer_installs(5).await;
    assert!(
        matches!(up.kind, LinkEventKind::Up { resent: 1, .. }),
        "{up:?}"
    );
    assert_no_loss(&seen);
}

/// The same, but the peer came back as a new process under the same instance id
/// (`NodeBuilder::instance`): its predecessor may have handled what was written, so it is
/// reported lost, not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_back_under_the_same_instance_id_is_a_new_peer() {
    let (up, seen) = cut_before_the_peer_installs(6).await;
    assert!(
        matches!(up.kind, LinkEventKind::Up { resent: 0, .. }),
        "{up:?}"
    );
    let lost: Vec<_> = seen
        .iter()
        .filter_map(|e| match &e.kind {
            LinkEventKind::Loss(r) => Some((r.reason, r.first_seq, r.last_seq)),
            _ => None,
        })
        .collect();
    assert_eq!(lost, [(LossReason::PeerRestarted, 1, 1)]);
}

/// Node `b` links to a bare handshake as `a` (instance 5, incarnation 5), which never
/// installs a connection and so knows no incarnation of `b`. `b` writes a tell on the first
/// connection, which then breaks; the second is with incarnation `again` of `a` and carries
/// tell 1 when `b` sends it again. Returns `b`'s second `Up` event and every event it saw.
async fn cut_before_the_peer_installs(again: u64) -> (LinkEvent, Vec<LinkEvent>) {
    let dir = TempDir::new("never-installed");
    let at = dir.socket("a.sock");
    let listener = Listener::bind(&at).await.unwrap();
    let accept = |incarnation| {
        let listener = &listener;
        async move {
            let a = Identity {
                node: "a".into(),
                instance: 5,
                incarnation,
                schema: schema(),
                secret: secret(),
                max_frame: mycelium_remote::frame::DEFAULT_MAX_BODY,
            };
            let (mut stream, addr) = listener.accept().await.unwrap();
            let mut reader = FrameReader::new(4096);
            authenticate(&mut stream, &mut reader, &a, &addr, None, &|n| n == "b")
                .await
                .unwrap();
            let mine = Resume {
                known_incarnation: 0,
                received: 0,
                first_seq: 1,
            };
            finish(&mut stream, &mut reader, &addr, mine).await.unwrap();
            reader.set_max_body(mycelium_remote::frame::DEFAULT_MAX_BODY);
            (stream, reader)
        }
    };
    let (rec, _) = Recorder::new(true);
    let (b, mut b_events) = node("b", &Bus::new(), rec, fast_config());
    let link = b.connect("a", at.clone());
    let first = accept(5).await;
    b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    link.try_send(Kind::Tell, &"svc".into(), 1, |o| o.push(42))
        .unwrap();
    assert_eq!(next_tell(first).await, (1, vec![42]), "written");
    let second = accept(again).await;
    let up = b_events
        .wait("up", |k| matches!(k, LinkEventKind::Up { .. }))
        .await;
    if again == 5 {
        assert_eq!(next_tell(second).await, (1, vec![42]), "sent again");
    }
    let seen = b_events.drain().to_vec();
    b.close().await;
    (up, seen)
}

/// Reads frames until a tell: its sequence number and body.
async fn next_tell((mut stream, mut reader): (Stream, FrameReader)) -> (u64, Vec<u8>) {
    loop {
        let f = tokio::time::timeout(BOUND, reader.read_frame(&mut stream))
            .await
            .expect("a frame in time")
            .expect("a frame");
        if f.kind == Kind::Tell {
            return (f.seq, f.payload.to_vec());
        }
    }
}
