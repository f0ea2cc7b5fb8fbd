//! The callbacks of a stopped actor are released even while refs to it are kept.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Bus, SpawnOptions, StopReason};
use mycelium_foreign::{spawn, Foreign, ForeignAskError, ForeignMessage, ForeignRef};

use crate::logging::msg;
use crate::runtime;

/// Tells `released` when the callbacks are dropped.
struct Releasing {
    _released: tokio::sync::oneshot::Sender<()>,
}

impl Foreign for Releasing {
    type Args = ();
    type State = ();

    fn start(&self, _args: &(), _me: &ForeignRef<Self>) -> Result<(), String> {
        Ok(())
    }

    fn handle(&self, _: &mut (), msg: ForeignMessage) -> Result<Option<ForeignMessage>, String> {
        Ok(Some(msg))
    }

    fn stop(&self, _: (), _reason: &StopReason) {}
}

#[test]
fn refs_kept_after_the_stop_do_not_keep_the_callbacks() {
    runtime().block_on(async {
        let bus = Bus::new();
        let (released, on_release) = tokio::sync::oneshot::channel();
        let foreign = Arc::new(Releasing {
            _released: released,
        });
        let actor = spawn(&bus, foreign, (), SpawnOptions::new()).await.unwrap();
        actor.export(&bus, "kept", &[900]).unwrap();
        assert_eq!(actor.ask(msg(b"a"), None).await.unwrap().body, b"a");
        let kept = actor.clone();
        actor.stop();
        actor.wait_for_stop().await;
        drop(actor);
        // Still a ref here and one in the export table: the callbacks go all the same.
        tokio::time::timeout(Duration::from_secs(30), on_release)
            .await
            .expect("the callbacks were released")
            .unwrap_err();
        assert!(kept.gate().is_none());
        assert!(matches!(
            kept.ask(msg(b"b"), None).await,
            Err(ForeignAskError::Stopped { .. })
        ));
        bus.shutdown(Duration::from_secs(10)).await;
    });
}
