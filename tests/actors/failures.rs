//! Failures of unsupervised actors: in a handler, while starting, and before a handler's
//! future exists.

use crate::common::*;
use mycelium::actors::{Failure, OnFailure, StopReason};
use mycelium::prelude::*;

#[tokio::test(start_paused = true)]
async fn unsupervised_failures_stop_the_actor_unless_it_continues() {
    quiet_panics();
    struct Tough(u32);
    impl Actor for Tough {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Tough(0))
        }
        async fn on_failure(&mut self, _ctx: &mut Context<Self>, _f: &Failure) -> OnFailure {
            self.0 += 1;
            OnFailure::Continue
        }
    }
    impl Handler<Crash> for Tough {
        type Reply = ();
        async fn handle(&mut self, _: Crash, _ctx: &mut Context<Self>) {
            panic!("crash requested");
        }
    }
    impl Handler<Seen> for Tough {
        type Reply = u32;
        async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) -> u32 {
            self.0
        }
    }
    let bus = virtual_bus(1);
    let t = bus.spawn::<Tough>(());
    t.tell(Crash).await.unwrap();
    t.tell(Crash).await.unwrap();
    assert_eq!(
        t.ask(Seen).await.unwrap(),
        2,
        "state kept across failures it chose to survive"
    );

    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &Log::default()));
    p.tell(Crash).await.unwrap();
    match p.wait_for_stop().await {
        StopReason::Failed(f) => assert_eq!(
            f.to_string(),
            "panicked while handling `Crash`: crash requested"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn start_failure_of_an_unsupervised_actor() {
    struct NoStart;
    impl Actor for NoStart {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Err("missing config".into())
        }
    }
    impl Handler<Seen> for NoStart {
        type Reply = ();
        async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) {}
    }
    let bus = virtual_bus(1);
    let a = bus.spawn::<NoStart>(());
    let reply = a.ask(Seen).await;
    match a.wait_for_stop().await {
        StopReason::Failed(f) => assert_eq!(
            f.to_string(),
            "returned an error while starting: missing config"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        reply,
        Err(AskError::Stopped(_)) | Err(AskError::Closed(_))
    ));
}

/// A handler, a start hook or a failure hook declared as a plain `fn` returning a future may
/// run code, and panic, before its future exists: that panic is the actor's failure like any
/// other, not the end of its task (which a supervisor would see as a kill).
#[tokio::test(start_paused = true)]
async fn a_panic_before_a_handlers_future_exists_is_a_failure() {
    quiet_panics();
    struct Early(u32);
    impl Actor for Early {
        type Args = bool;
        #[allow(unreachable_code)]
        fn on_start(
            panics: bool,
            _ctx: &mut Context<Self>,
        ) -> impl std::future::Future<Output = Result<Self, BoxError>> + Send {
            if panics {
                panic!("no start");
            }
            async { Ok(Early(0)) }
        }
        #[allow(unreachable_code)]
        fn on_failure(
            &mut self,
            _ctx: &mut Context<Self>,
            _f: &Failure,
        ) -> impl std::future::Future<Output = OnFailure> + Send {
            self.0 += 1;
            if self.0 > 1 {
                panic!("the hook gives up");
            }
            async { OnFailure::Continue }
        }
    }
    impl Handler<Crash> for Early {
        type Reply = ();
        #[allow(unreachable_code)]
        fn handle(
            &mut self,
            _: Crash,
            _ctx: &mut Context<Self>,
        ) -> impl std::future::Future<Output = ()> + Send {
            panic!("crash before the future");
            async {}
        }
    }
    impl Handler<Seen> for Early {
        type Reply = u32;
        async fn handle(&mut self, _: Seen, _ctx: &mut Context<Self>) -> u32 {
            self.0
        }
    }
    let bus = virtual_bus(1);
    let dead = bus.dead_letters().total();
    let a = bus.spawn::<Early>(false);
    a.tell(Crash).await.unwrap();
    assert_eq!(a.ask(Seen).await.unwrap(), 1, "the failure hook ran");
    assert!(
        bus.dead_letters().total() > dead,
        "the failed message is a dead letter"
    );
    // The hook panics before its future exists the second time: the actor stops, failed.
    a.tell(Crash).await.unwrap();
    match a.wait_for_stop().await {
        StopReason::Failed(f) => assert_eq!(
            f.to_string(),
            "panicked while handling `Crash`: crash before the future"
        ),
        other => panic!("{other:?}"),
    }

    let b = bus.spawn::<Early>(true);
    match b.wait_for_stop().await {
        StopReason::Failed(f) => assert_eq!(f.to_string(), "panicked while starting: no start"),
        other => panic!("{other:?}"),
    }
}
