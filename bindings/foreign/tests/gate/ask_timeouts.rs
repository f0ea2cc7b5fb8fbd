//! An ask that times out waiting for room in a full mailbox is never queued nor counted.

use std::time::Duration;

use mycelium_actors::{Bus, SpawnOptions};
use mycelium_foreign::{spawn, Direct, ForeignAskError};

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
        actor.try_tell(msg(b"queued")).unwrap();
        // The mailbox is full: the ask gives up while it waits for room.
        assert!(matches!(
            actor.ask(msg(b"x"), Some(Duration::from_millis(10))).await,
            Err(ForeignAskError::Timeout(_))
        ));
        release.send(()).unwrap();
        // Answered once the two before it are done; the timed-out ask was never queued.
        let reply = actor.ask(msg(b"last"), None).await.unwrap();
        assert_eq!(reply.body, b"wait,queued,last");
        assert_eq!(actor.gate().unwrap().pending(), 0);
        assert!(matches!(handle(&actor, b"y"), Direct::Done(Some(_))));
        bus.shutdown(Duration::from_secs(10)).await;
    });
}
