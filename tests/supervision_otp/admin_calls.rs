//! Admin calls on a supervisor: which_children, count_children, stop, restart and delete a
//! child, and the calls a stopped supervisor or a pool refuses.

use std::time::Duration;

use crate::common::*;
use crate::events;
use mycelium::prelude::*;
use mycelium::supervisor::{Backoff, ChildState, Pool, Restart, SpecError, SupervisorError};

#[tokio::test(start_paused = true)]
async fn which_children_and_count_children() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let mid = Supervisor::builder(RestartStrategy::OneForOne);
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::supervisor("mid", mid))
        .child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    tree.stop_child("b").await.unwrap();
    let children = tree.which_children().await.unwrap();
    let names: Vec<_> = children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "mid", "b"]);
    match &children[0].state {
        ChildState::Running(r) => {
            assert_eq!(Some(r.id()), tree.child::<Probe>("a").map(|a| a.id()));
            assert!(r.actor::<Probe>().is_some());
        }
        s => panic!("{s:?}"),
    }
    assert!(children[1].supervisor);
    assert_eq!(children[2].state, ChildState::Stopped);
    let count = tree.count_children().await.unwrap();
    assert_eq!(
        (count.specs, count.active, count.supervisors, count.workers),
        (3, 2, 1, 2)
    );
}

/// stop_child is a kill switch through group restarts; restart_child starts it again and
/// records no restart; delete_child only when stopped; typed errors.
#[tokio::test(start_paused = true)]
async fn stop_restart_delete_child() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForAll)
        .intensity(1, Duration::from_secs(60))
        .backoff(Backoff::none())
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    log.take();
    tree.stop_child("b").await.unwrap();
    tree.stop_child("b").await.unwrap();
    assert_eq!(
        tree.stop_child("zz").await,
        Err(SupervisorError::NotFound("zz".into()))
    );
    tree.child::<Probe>("a").unwrap().tell(Crash).await.unwrap();
    next_event(&mut events, is_restarted).await;
    assert_eq!(
        log.take(),
        ["stop b", "stop a", "start a"],
        "b stays stopped"
    );
    assert_eq!(
        tree.restart_child("a").await,
        Err(SupervisorError::Running("a".into()))
    );
    assert_eq!(
        tree.delete_child("a").await,
        Err(SupervisorError::Running("a".into()))
    );
    tree.restart_child("b").await.unwrap();
    assert_eq!(log.take(), ["start b"]);
    // The intensity allows one restart: restart_child recorded none, so a crash still
    // restarts rather than giving up... which would be the second restart. Check the count
    // through which_children instead.
    assert!(tree.child::<Probe>("b").unwrap().ask(Seen).await.is_ok());
    tree.stop_child("b").await.unwrap();
    tree.delete_child("b").await.unwrap();
    assert_eq!(
        tree.delete_child("b").await,
        Err(SupervisorError::NotFound("b".into()))
    );
    assert_eq!(tree.which_children().await.unwrap().len(), 1);
}

/// Calls on a stopped supervisor say so; a pool takes no declared children.
#[tokio::test(start_paused = true)]
async fn calls_on_a_stopped_supervisor_and_a_pool_with_children_are_refused() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    tree.stop().await;
    assert_eq!(tree.which_children().await, Err(SupervisorError::Stopped));
    assert_eq!(tree.count_children().await, Err(SupervisorError::Stopped));
    assert_eq!(tree.stop_child("a").await, Err(SupervisorError::Stopped));
    assert!(matches!(
        tree.add_child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
            .await,
        Err(SupervisorError::Stopped)
    ));
    let pool = Pool::<Probe>::builder("p")
        .into_supervisor()
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)));
    assert_eq!(pool.validate(), Err(SpecError::PoolWithChildren));
    // A significant child added at run time is checked like a declared one.
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .spawn(&bus)
        .await
        .unwrap();
    assert_eq!(
        tree.add_child(
            ChildSpec::new::<Probe>("s", ProbeArgs::new("s", &log))
                .restart(Restart::Transient)
                .significant(true)
        )
        .await,
        Err(SupervisorError::InvalidSpec(
            SpecError::SignificantWithoutAutoShutdown("s".into())
        ))
    );
}

/// A child waiting for its restart is listed with the ref it keeps when it restarts in place
/// (the ref it runs with again), and with none once its task is gone (killed: the restart
/// spawns it anew).
#[tokio::test(start_paused = true)]
async fn which_children_lists_the_ref_a_restarting_child_keeps() {
    use mycelium::supervisor::SupervisionEvent;

    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let (observer, mut events) = events();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .backoff(Backoff::exponential(
            Duration::from_millis(100),
            1.0,
            Duration::from_millis(100),
        ))
        .on_event(observer)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    let a = tree.child::<Probe>("a").unwrap();
    let ended = |e: &SupervisionEvent| {
        matches!(
            e,
            SupervisionEvent::Failed { .. } | SupervisionEvent::Exited { .. }
        )
    };
    a.tell(Crash).await.unwrap();
    next_event(&mut events, ended).await;
    match &tree.which_children().await.unwrap()[0].state {
        ChildState::Restarting { child: Some(r), .. } => {
            assert_eq!(r.id(), a.id());
            assert_eq!(r.actor::<Probe>().map(|r| r.id()), Some(a.id()));
        }
        s => panic!("{s:?}"),
    }
    next_event(&mut events, is_restarted).await;
    match &tree.which_children().await.unwrap()[0].state {
        ChildState::Running(r) => assert_eq!(r.id(), a.id(), "restarted in place"),
        s => panic!("{s:?}"),
    }
    a.kill();
    next_event(&mut events, ended).await;
    match &tree.which_children().await.unwrap()[0].state {
        ChildState::Restarting { child: None, .. } => {}
        s => panic!("{s:?}"),
    }
}

/// `wait_restarts` returns once the supervisor has finished that many restarts (of one
/// child, or of any), and fails once the supervisor stops first.
#[tokio::test(start_paused = true)]
async fn wait_restarts_waits_for_a_count_of_restarts() {
    quiet_panics();
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .intensity(10, Duration::from_secs(1))
        .backoff(Backoff::exponential(
            Duration::from_millis(100),
            1.0,
            Duration::from_millis(100),
        ))
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    tree.wait_restarts(0, Some("a")).await.unwrap();
    let two_of_a = tokio::spawn({
        let tree = tree.clone();
        async move { tree.wait_restarts(2, Some("a")).await }
    });
    let a = tree.child::<Probe>("a").unwrap();
    a.tell(Crash).await.unwrap();
    tree.wait_restarts(1, None).await.unwrap();
    assert_eq!(bus.now(), Duration::from_millis(100), "after the backoff");
    assert_eq!(tree.children().len(), 2, "listed running again");
    assert!(!two_of_a.is_finished());
    a.tell(Crash).await.unwrap();
    two_of_a.await.unwrap().unwrap();
    tree.child::<Probe>("b").unwrap().tell(Crash).await.unwrap();
    tree.wait_restarts(1, Some("b")).await.unwrap();
    assert_eq!(
        (
            tree.restarts(None),
            tree.restarts(Some("a")),
            tree.restarts(Some("b"))
        ),
        (3, 2, 1)
    );
    // A child's count goes with its spec.
    tree.remove_child("b").await.unwrap();
    assert_eq!((tree.restarts(None), tree.restarts(Some("b"))), (3, 0));

    let four = tokio::spawn({
        let tree = tree.clone();
        async move { tree.wait_restarts(4, None).await }
    });
    tree.stop().await;
    assert_eq!(four.await.unwrap(), Err(SupervisorError::Stopped));
    assert_eq!(
        tree.wait_restarts(4, None).await,
        Err(SupervisorError::Stopped)
    );
}
