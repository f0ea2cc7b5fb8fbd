//! A journal whose retention limit deleted its oldest segments keeps what it can replay: an
//! actor started since replays as any other, and one whose start was deleted is refused with
//! an error that says why, not replayed from the middle of its history.

use std::sync::Arc;

use mycelium_actors::{Bus, SpawnOptions};
use mycelium_journal::{
    JournalOptions, JournalReader, JournalSchema, JournalWriter, Recording, Replay, ReplayError,
    ReplayMode, ReplaySet,
};

#[path = "common/sum.rs"]
mod sum;
use sum::Sum;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_actor_whose_start_retention_deleted_is_refused_and_one_started_since_replays() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::new(JournalSchema::none())
        .segment_bytes(2000)
        .retain_bytes(6000);
    let journal = JournalWriter::open(dir.path(), options).unwrap();
    let recording = Arc::new(Recording::new(journal.clone()).serde::<u64>());
    let bus = Bus::builder().virtual_time().build().unwrap();
    let record = || SpawnOptions::new().record(recording.clone());
    let old = bus.spawn_with::<Sum>((), record()).unwrap();
    for n in 0..300 {
        old.ask(n).await.unwrap();
    }
    let new = bus.spawn_with::<Sum>((), record()).unwrap();
    for n in 0..5 {
        new.ask(n).await.unwrap();
        old.ask(n).await.unwrap();
    }
    let stats = journal.close().unwrap();
    assert!(stats.deleted > 0, "{stats:?}");
    let (old, new) = (old.id().local(), new.id().local());

    let journal = JournalReader::open(dir.path()).unwrap();
    let first = journal
        .deleted_before()
        .expect("older records were deleted");
    assert!(first > 0);

    let bus = Bus::builder().virtual_time().build().unwrap();
    let refused = Replay::<Sum>::new(())
        .serde::<u64>()
        .run(&journal, old, &bus, ReplayMode::Compare)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ReplayError::StartDeleted { actor, first_seq, .. } if *actor == old && *first_seq == first),
        "{refused}"
    );
    let message = refused.to_string();
    assert!(message.contains("retention"), "{message}");
    assert!(!message.contains("  "), "{message}");
    assert!(message.contains(&format!("#{new}")), "{message}");

    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Sum>::new(())
        .serde::<u64>()
        .run(&journal, new, &bus, ReplayMode::Compare)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(report.inputs, 5);

    let bus = Bus::builder().virtual_time().build().unwrap();
    let mut set = ReplaySet::new(&journal).unwrap();
    assert_eq!(set.recorded_actors(), vec![(new, "Sum".to_owned())]);
    let refused = set.spawn::<Sum>(&bus, old, ()).map(|_| ()).unwrap_err();
    assert!(
        matches!(refused, ReplayError::StartDeleted { .. }),
        "{refused}"
    );
    let sum = set.spawn::<Sum>(&bus, new, ()).unwrap();
    set.serde::<Sum, u64>(&sum);
    let report = set.run(ReplayMode::Compare).await.unwrap();
    assert!(report.is_same(), "{report}");
}
