//! Direct calls: on the caller's thread with the actor's state, never ahead of a queued
//! message nor beside a handler, failing the actor when they fail, and refused once it stops,
//! on virtual time, or on a killed incarnation's state.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use mycelium_actors::{Bus, SpawnOptions};
use mycelium_foreign::{spawn, Direct, ForeignAskError, ForeignRef};

use crate::logging::{handle, logging, msg, supervised_model};
use crate::runtime;

#[test]
fn a_direct_call_runs_on_the_calling_thread_with_the_actors_state() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, _entered, _release) = logging();
        let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
            .await
            .unwrap();
        assert!(actor.gate().is_some());
        match handle(&actor, b"a") {
            Direct::Done(Some(reply)) => assert_eq!(reply.body, b"a"),
            other => panic!("expected a direct reply, got {other:?}"),
        }
        assert_eq!(
            foreign.threads.lock().unwrap().as_slice(),
            &[std::thread::current().id()]
        );
        // The mailbox path sees the same state.
        let reply = actor.ask(msg(b"b"), None).await.unwrap();
        assert_eq!(reply.body, b"a,b");
        assert_eq!(actor.gate().unwrap().pending(), 0);
        // A ref without the gate never calls directly.
        let plain = ForeignRef::from_actor_ref(actor.actor_ref().clone());
        assert!(matches!(handle(&plain, b"c"), Direct::Busy));
        bus.shutdown(Duration::from_secs(10)).await;
    });
}

#[test]
fn a_direct_call_never_overtakes_a_queued_message_nor_runs_beside_a_handler() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, entered, release) = logging();
        let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
            .await
            .unwrap();
        actor.try_tell(msg(b"wait")).unwrap();
        actor.try_tell(msg(b"queued")).unwrap();
        // Counted at once: busy even before the first handler starts.
        assert!(matches!(handle(&actor, b"x"), Direct::Busy));
        tokio::task::spawn_blocking(move || entered.recv().unwrap())
            .await
            .unwrap();
        assert!(matches!(handle(&actor, b"x"), Direct::Busy));
        release.send(()).unwrap();
        // The ask goes behind both: the log shows them in order, and no "x".
        let reply = actor.ask(msg(b"last"), None).await.unwrap();
        assert_eq!(reply.body, b"wait,queued,last");
        assert_eq!(actor.gate().unwrap().pending(), 0);
        assert!(matches!(handle(&actor, b"y"), Direct::Done(Some(_))));
        bus.shutdown(Duration::from_secs(10)).await;
    });
}

#[test]
fn a_failed_direct_call_fails_the_actor_which_restarts_in_place() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, _entered, _release) = logging();
        let (_tree, model) = supervised_model(&bus, &foreign, false).await;
        assert!(matches!(handle(&model, b"a"), Direct::Done(Some(_))));
        match handle(&model, b"boom") {
            Direct::Failed(ForeignAskError::Failed { failure }) => assert_eq!(
                failure.to_string(),
                "raised while handling `type id 900`: boom in a direct call"
            ),
            other => panic!("expected a failure, got {other:?}"),
        }
        // No direct call on the failed state: until the new incarnation is in, a call is
        // refused; once it is (the backoff is a millisecond, so a loaded machine may get
        // there first), the call runs on its state, whose log starts empty.
        let after = match handle(&model, b"b") {
            Direct::Busy => &b"c"[..],
            Direct::Done(Some(reply)) => {
                assert_eq!(reply.body, b"b", "a direct call ran on the failed state");
                &b"b,c"[..]
            }
            other => panic!("expected busy or a call on the new state, got {other:?}"),
        };
        let reply = model.ask(msg(b"c"), None).await.unwrap();
        assert_eq!(reply.body, after);
        assert_eq!(foreign.starts.load(Ordering::SeqCst), 2);
        let letters = bus.dead_letters().drain();
        assert_eq!(letters.len(), 1);
        assert!(letters[0]
            .reason
            .to_string()
            .contains("boom in a direct call"));
        // A panic in the call is a failure too.
        match model.try_direct(900, |_, _| -> Result<(), String> {
            panic!("a panic in a call")
        }) {
            Direct::Failed(ForeignAskError::Failed { failure }) => {
                assert!(failure.to_string().contains("a panic in a call"))
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        let reply = model.ask(msg(b"d"), None).await.unwrap();
        assert_eq!(reply.body, b"d");
        assert_eq!(foreign.starts.load(Ordering::SeqCst), 3);
        bus.shutdown(Duration::from_secs(10)).await;
    });
}

#[test]
fn no_direct_call_after_a_stop_nor_on_virtual_time() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, _entered, _release) = logging();
        let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
            .await
            .unwrap();
        actor.stop();
        assert!(matches!(handle(&actor, b"a"), Direct::Busy));
        actor.wait_for_stop().await;
        assert!(matches!(handle(&actor, b"a"), Direct::Busy));
        bus.shutdown(Duration::from_secs(10)).await;
    });
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(async {
            let bus = Bus::builder().virtual_time().build().unwrap();
            let (foreign, _entered, _release) = logging();
            let actor = spawn(&bus, foreign, (), SpawnOptions::new()).await.unwrap();
            assert!(matches!(handle(&actor, b"a"), Direct::Busy));
            assert_eq!(actor.ask(msg(b"b"), None).await.unwrap().body, b"b");
        });
}

/// A kill closes the actor's mailbox and marks it stopped before its state leaves the gate
/// (the state is abandoned on the blocking pool, whose one thread is held busy here): a direct
/// call in between is refused, and does not run on the killed incarnation's state.
#[test]
fn no_direct_call_on_a_killed_actors_state_before_it_is_abandoned() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let bus = Bus::new();
            let (foreign, _entered, _release) = logging();
            let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new())
                .await
                .unwrap();
            assert!(matches!(handle(&actor, b"a"), Direct::Done(_)));
            let (occupied, is_occupied) = tokio::sync::oneshot::channel();
            let (free, freed) = mpsc::channel::<()>();
            let blocker = tokio::task::spawn_blocking(move || {
                let _ = occupied.send(());
                let _ = freed.recv();
            });
            is_occupied.await.unwrap();
            actor.actor_ref().kill();
            actor.wait_for_stop().await;
            assert!(
                matches!(handle(&actor, b"b"), Direct::Busy),
                "a direct call ran on a killed actor's state"
            );
            assert!(
                foreign.abandoned.lock().unwrap().is_empty(),
                "the state was still in the gate"
            );
            free.send(()).unwrap();
            blocker.await.unwrap();
            bus.shutdown(Duration::from_secs(10)).await;
        });
}
