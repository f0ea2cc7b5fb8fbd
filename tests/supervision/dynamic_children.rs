//! Children added to and removed from a running supervisor.

use crate::common::*;
use mycelium::prelude::*;

#[tokio::test(start_paused = true)]
async fn children_can_be_added_and_removed_at_run_time() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let tree = Supervisor::builder(RestartStrategy::RestForOne)
        .child(ChildSpec::new::<Probe>("a", ProbeArgs::new("a", &log)))
        .spawn(&bus)
        .await
        .unwrap();
    tree.add_child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
        .await
        .unwrap();
    assert!(matches!(
        tree.add_child(ChildSpec::new::<Probe>("b", ProbeArgs::new("b", &log)))
            .await,
        Err(mycelium::supervisor::SupervisorError::AlreadyPresent(_))
    ));
    assert_eq!(
        tree.children()
            .iter()
            .map(|c| c.0.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    tree.remove_child("a").await.unwrap();
    assert!(matches!(
        tree.remove_child("a").await,
        Err(mycelium::supervisor::SupervisorError::NotFound(_))
    ));
    assert_eq!(log.take(), ["start a", "start b", "stop a"]);
    tree.stop().await;
    assert_eq!(log.take(), ["stop b"]);
}
