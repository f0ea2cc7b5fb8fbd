//! Mail to hibernating actors: handled in order across naps, and none lost when mail from
//! two threads races the naps.

use std::time::Duration;

use crate::common::*;
use crate::hibernating;
use mycelium::prelude::*;

#[tokio::test(start_paused = true)]
async fn a_hibernating_actor_keeps_the_order_of_its_mail_across_naps() {
    let bus = virtual_bus(1);
    let log = Log::default();
    let h = hibernating(&bus, "h", &log);
    for n in 0..5 {
        h.tell(Record(n)).await.unwrap();
    }
    assert_eq!(h.ask(Seen).await.unwrap(), [0, 1, 2, 3, 4]);
    // Mail arriving one message at a time, each after a nap.
    for n in 5..8 {
        h.tell(Record(n)).await.unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(h.ask(Seen).await.unwrap(), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert!(h.is_alive());
}

/// On two worker threads, mail from two senders races the actors' naps (a sleeper
/// registered as the mail arrives, a sleeper woken while its actor is taken back): every
/// message is handled once, in each sender's order. Twenty rounds on fresh buses: a sleeper
/// that checked for mail before registering, without the mailbox's lock, lost a wake-up in
/// about two rounds of three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_mail_and_naps_on_two_threads_lose_nothing() {
    for _ in 0..20 {
        mail_races_naps().await;
    }
}

async fn mail_races_naps() {
    let bus = Bus::new();
    let log = Log::default();
    let actors: Vec<ActorRef<Probe>> = (0..16).map(|_| hibernating(&bus, "h", &log)).collect();
    let senders: Vec<_> = (0..2u64)
        .map(|s| {
            let actors = actors.clone();
            tokio::spawn(async move {
                for n in 0..300u64 {
                    for a in &actors {
                        a.tell(Record(s * 1000 + n)).await.unwrap();
                    }
                    if n % 7 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    // A bound, not a wait: a lost wake-up would leave a send or an ask waiting forever.
    let bound = Duration::from_secs(60);
    for s in senders {
        tokio::time::timeout(bound, s)
            .await
            .expect("the senders finish")
            .unwrap();
    }
    for a in &actors {
        let seen = tokio::time::timeout(bound, a.ask(Seen))
            .await
            .expect("a lost wake-up left mail unhandled")
            .unwrap();
        assert_eq!(seen.len(), 600);
        for s in 0..2u64 {
            let mine: Vec<u64> = seen.iter().copied().filter(|v| v / 1000 == s).collect();
            assert_eq!(mine, (0..300).map(|n| s * 1000 + n).collect::<Vec<_>>());
        }
    }
    bus.shutdown(Duration::from_secs(5)).await;
    assert_eq!(bus.actor_count(), 0);
}
