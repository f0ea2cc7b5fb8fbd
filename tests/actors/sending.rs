//! Sending to an actor: a full mailbox, batches, a stopped actor handing messages back and
//! dead-lettering its queue, system signals overtaking user messages, and recipients.

use std::future::Future;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll};

use crate::common::*;
use mycelium::actors::{
    DeadLetterReason, MailboxConfig, Recipient, SpawnOptions, StopReason, TrySendError,
};
use mycelium::prelude::*;
use tokio::sync::oneshot;

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut TaskContext::from_waker(std::task::Waker::noop()))
}

#[tokio::test(start_paused = true)]
async fn full_mailbox_hands_the_message_back_and_tell_waits_for_room() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus
        .spawn_with::<Probe>(
            ProbeArgs::new("p", &log),
            SpawnOptions::new().mailbox(MailboxConfig::Bounded(2)),
        )
        .unwrap();
    let (go, wait) = oneshot::channel();
    p.tell(Block(wait)).await.unwrap();
    // Let the actor take the Block message and sit in its handler (one turn of the
    // current-thread runtime).
    tokio::task::yield_now().await;
    assert!(p.try_tell(Record(0)).is_ok());
    assert!(p.try_tell(Record(1)).is_ok());
    match p.try_tell(Record(2)) {
        Err(TrySendError::Full(Record(2))) => {}
        other => panic!("expected Full(Record(2)), got {other:?}"),
    }
    // `tell` waits while the mailbox is full...
    let mut waiting = pin!(p.tell(Record(3)));
    assert!(poll_once(waiting.as_mut()).is_pending());
    // ...and completes once the actor makes room.
    go.send(()).unwrap();
    waiting.await.unwrap();
    let seen = p.ask(Seen).await.unwrap();
    assert_eq!(seen, [0, 1, 3]);
}

#[tokio::test(start_paused = true)]
async fn tell_many_keeps_order_behind_queued_messages_and_waits_for_room() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus
        .spawn_with::<Probe>(
            ProbeArgs::new("p", &log),
            SpawnOptions::new().mailbox(MailboxConfig::Bounded(2)),
        )
        .unwrap();
    let (go, wait) = oneshot::channel();
    p.tell(Block(wait)).await.unwrap();
    tokio::task::yield_now().await; // the actor sits in the Block handler
    p.try_tell(Record(0)).unwrap();
    // More than the mailbox holds: the batch waits for room, in order.
    let mut batch = pin!(p.tell_many((1..=5).map(Record)));
    assert!(poll_once(batch.as_mut()).is_pending());
    go.send(()).unwrap();
    batch.await.unwrap();
    p.tell(Record(6)).await.unwrap();
    assert_eq!(p.ask(Seen).await.unwrap(), [0, 1, 2, 3, 4, 5, 6]);
}

#[tokio::test(start_paused = true)]
async fn tell_many_to_a_stopped_actor_hands_the_messages_back() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &log));
    p.stop();
    p.wait_for_stop().await;
    match p.tell_many([Record(1), Record(2)]).await {
        Err(SendError(back)) => assert_eq!(back.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]),
        other => panic!("expected SendError, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn stopped_actor_hands_messages_back_and_dead_letters_the_queue() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &log));
    let (go, wait) = oneshot::channel();
    p.tell(Block(wait)).await.unwrap();
    p.tell(Record(7)).await.unwrap();
    let asker = {
        let p = p.clone();
        tokio::spawn(async move { p.ask(Seen).await })
    };
    tokio::task::yield_now().await;
    p.stop(); // overtakes the queued Record(7) and Seen
    go.send(()).unwrap();
    assert_eq!(p.wait_for_stop().await, StopReason::Normal);
    assert_eq!(log.take(), ["start p", "stop p"]);

    match asker.await.unwrap() {
        Err(AskError::Stopped(StopReason::Normal)) => {}
        other => panic!("expected Stopped, got {other:?}"),
    }
    let mut letters = bus.dead_letters().drain();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters[0].message_type, "Record");
    assert_eq!(letters[0].downcast::<Record>().map(|r| r.0), Some(7));
    assert_eq!(letters[1].message_type, "Seen");
    assert!(matches!(
        letters[0].reason,
        DeadLetterReason::ActorStopped(StopReason::Normal)
    ));

    match p.try_tell(Record(8)) {
        Err(TrySendError::Closed(Record(8))) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
    match p.tell(Record(9)).await {
        Err(SendError(Record(9))) => {}
        other => panic!("expected SendError, got {other:?}"),
    }
    match p.ask(Seen).await {
        Err(AskError::Closed(Seen)) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn system_signals_overtake_user_messages() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &log));
    let (go, wait) = oneshot::channel();
    p.tell(Block(wait)).await.unwrap();
    tokio::task::yield_now().await; // the actor is now inside the Block handler
    for n in 0..5 {
        p.tell(Record(n)).await.unwrap();
    }
    p.stop();
    go.send(()).unwrap();
    p.wait_for_stop().await;
    // None of the five queued records was handled.
    assert_eq!(bus.dead_letters().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn recipient_needs_only_the_message_type() {
    let bus = virtual_bus(1);
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &Log::default()));
    let r: Recipient<Record> = p.recipient();
    assert_eq!(r.id(), p.id());
    r.tell(Record(1)).await.unwrap();
    r.try_tell(Record(2)).unwrap();
    assert_eq!(p.ask(Seen).await.unwrap(), [1, 2]);
    p.stop();
    p.wait_for_stop().await;
    assert!(!r.is_alive());
    assert!(matches!(r.tell(Record(3)).await, Err(SendError(Record(3)))));
}
