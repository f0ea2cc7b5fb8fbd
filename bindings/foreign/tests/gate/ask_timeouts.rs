//! An ask that times out waiting for room in a full mailbox is never queued nor counted.

use std::time::Duration;

use mycelium_actors::{Bus, SpawnOptions};
use mycelium_foreign::{spawn, Direct, ForeignAskError, QUEUE_ROOM};

use crate::logging::{handle, logging, msg};
use crate::runtime;

#[test]
fn an_ask_that_times_out_waiting_for_room_leaves_no_count_behind() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (foreign, entered, release) = logging();
        let options = SpawnOptions::new().mailbox(mycelium_actors::MailboxConfig::Bounded(1));
        let actor = spawn(&bus, foreign.clone(), (), options).await.unwrap();
        actor.try_tell(msg(b"wait")).unwrap();
        tokio::task::spawn_blocking(move || entered.recv().unwrap())
            .await
            .unwrap();
        // The actor's task takes messages from its mailbox ahead of the host thread, up to
        // QUEUE_ROOM: fill that queue, the one the task holds while it waits for room there,
        // and the mailbox's one place.
        let queued = QUEUE_ROOM + 2;
        for _ in 0..queued {
            actor.tell(msg(b"queued")).await.unwrap();
        }
        // The mailbox is full: the ask gives up while it waits for room.
        assert!(matches!(
            actor.ask(msg(b"x"), Some(Duration::from_millis(10))).await,
            Err(ForeignAskError::Timeout(_))
        ));
        release.send(()).unwrap();
        // Answered once those before it are done; the timed-out ask was never queued.
        let reply = actor.ask(msg(b"last"), None).await.unwrap();
        let expected = format!("wait,{}last", "queued,".repeat(queued));
        assert_eq!(String::from_utf8(reply.body).unwrap(), expected);
        assert_eq!(actor.gate().unwrap().pending(), 0);
        assert!(matches!(handle(&actor, b"y"), Direct::Done(Some(_))));
        bus.shutdown(Duration::from_secs(10)).await;
    });
}
