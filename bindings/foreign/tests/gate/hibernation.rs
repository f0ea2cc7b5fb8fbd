//! Hibernating foreign actors: no task while asleep, direct calls all the same, and a restart
//! in place after a failed one.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mycelium_actors::{Bus, SpawnOptions};
use mycelium_foreign::{spawn, Direct};

use crate::logging::{handle, logging, msg, supervised_model};
use crate::runtime;

/// Tasks alive on the current runtime.
fn tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[test]
fn a_hibernating_foreign_actor_holds_no_task_takes_direct_calls_and_restarts_in_place() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, _entered, _release) = logging();
        // Ten unsupervised ones, and one under a supervisor.
        let mut idle = Vec::new();
        for _ in 0..10 {
            let actor = spawn(&bus, foreign.clone(), (), SpawnOptions::new().hibernate())
                .await
                .unwrap();
            assert_eq!(actor.ask(msg(b"a"), None).await.unwrap().body, b"a");
            idle.push(actor);
        }
        let (_tree, model) = supervised_model(&bus, &foreign, true).await;
        // The state lives behind the gate, not in a task: direct calls go on while it sleeps.
        assert!(matches!(handle(&model, b"a"), Direct::Done(Some(_))));
        assert_eq!(model.ask(msg(b"b"), None).await.unwrap().body, b"a,b");
        // Asleep, the eleven hold no task: the bus's driver and the supervisor are all that
        // may be left (the supervisor has a task only once it has had mail, which depends on
        // timing). The last to answer may still be on its way back to sleep on another
        // worker: the condition is polled, within a bound reached only when the test fails.
        let start = std::time::Instant::now();
        let mut asleep = false;
        while start.elapsed() < Duration::from_secs(20) {
            if tasks() <= 2 {
                asleep = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(asleep, "{} tasks alive", tasks());
        // A failed direct call fails the sleeping actor, which restarts with a fresh state.
        assert!(matches!(handle(&model, b"boom"), Direct::Failed(_)));
        let reply = model.ask(msg(b"c"), None).await.unwrap();
        assert_eq!(reply.body, b"c");
        assert_eq!(foreign.starts.load(Ordering::SeqCst), 12);
        for actor in &idle {
            assert_eq!(actor.ask(msg(b"b"), None).await.unwrap().body, b"a,b");
        }
        bus.shutdown(Duration::from_secs(10)).await;
    });
}
