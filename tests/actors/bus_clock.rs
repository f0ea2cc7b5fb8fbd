//! The bus clock: an ask's timeout, `Clock::within`, timers on the context, durations too
//! long to add, and a zero-delay timer, all on bus time.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::common::*;
use mycelium::prelude::*;

#[tokio::test(start_paused = true)]
async fn ask_timeout_follows_the_bus_clock() {
    let bus = virtual_bus(1);
    let p = bus.spawn::<Probe>(ProbeArgs::new("p", &Log::default()));
    p.tell(Hang).await.unwrap();
    let before = bus.now();
    match p.ask_timeout(Seen, Duration::from_secs(30)).await {
        Err(AskError::Timeout(d)) => assert_eq!(d, Duration::from_secs(30)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(bus.now() - before, Duration::from_secs(30));
}

/// `Clock::within`: what is ready at once, after a turn or before the time runs out is
/// returned; what is not is given up at the deadline, on bus time.
#[tokio::test(start_paused = true)]
async fn within_waits_no_longer_than_its_time_of_the_bus_clock() {
    let bus = virtual_bus(1);
    let clock = bus.clock();
    let second = Duration::from_secs(1);
    assert_eq!(clock.within(second, async { 1 }).await, Some(1));
    // Pending for one poll, woken at once: ready with no time passed.
    let mut polled = false;
    let after_a_turn = std::future::poll_fn(|cx| {
        if polled {
            return Poll::Ready(2);
        }
        polled = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    });
    assert_eq!(clock.within(second, after_a_turn).await, Some(2));
    assert_eq!(clock.now(), Duration::ZERO, "no time passed");
    let late = clock.sleep(Duration::from_millis(300));
    assert_eq!(
        clock
            .within(second, async {
                late.await;
                3
            })
            .await,
        Some(3)
    );
    assert_eq!(clock.now(), Duration::from_millis(300));
    let never = std::future::pending::<u8>();
    assert_eq!(clock.within(second, never).await, None);
    assert_eq!(
        clock.now(),
        Duration::from_millis(1_300),
        "one second after it began"
    );
    // A deadline past what bus time holds is no deadline: the wait ends with its future.
    let later = clock.sleep(Duration::from_secs(3_600));
    assert_eq!(
        clock
            .within(Duration::MAX, async {
                later.await;
                4
            })
            .await,
        Some(4)
    );
}

/// Timers on the context: one-shot and interval, on bus time, cancelled at restart and stop.
#[tokio::test(start_paused = true)]
async fn timers_follow_the_bus_clock() {
    #[derive(Clone)]
    struct Tick;
    struct Timed {
        ticks: Vec<Duration>,
    }
    impl Actor for Timed {
        type Args = ();
        async fn on_start(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            ctx.send_after(Tick, Duration::from_millis(500));
            ctx.send_interval(Tick, Duration::from_secs(2));
            Ok(Timed { ticks: vec![] })
        }
    }
    impl Handler<Tick> for Timed {
        type Reply = ();
        async fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
            self.ticks.push(ctx.now());
        }
    }
    struct Ticks;
    impl Handler<Ticks> for Timed {
        type Reply = Vec<Duration>;
        async fn handle(&mut self, _: Ticks, _ctx: &mut Context<Self>) -> Vec<Duration> {
            self.ticks.clone()
        }
    }
    let bus = virtual_bus(1);
    let t = bus.spawn::<Timed>(());
    bus.clock().sleep(Duration::from_millis(6_100)).await;
    let ms = Duration::from_millis;
    assert_eq!(
        t.ask(Ticks).await.unwrap(),
        [ms(500), ms(2000), ms(4000), ms(6000)]
    );
    t.stop();
    t.wait_for_stop().await;
    bus.clock().sleep(Duration::from_secs(10)).await;
    // The interval ended with the actor: nothing was dead-lettered.
    assert_eq!(bus.dead_letters().total(), 0);
}

/// Durations too long to add to the clock (`Duration::MAX`) are waits that do not end, not
/// panics: an interval, a wait until a bus time, and a shutdown's deadline.
#[tokio::test(start_paused = true)]
async fn durations_too_long_to_add_are_waits_that_do_not_end() {
    #[derive(Clone)]
    struct Tick;
    struct Forever(Option<mycelium::actors::TimerHandle>);
    impl Actor for Forever {
        type Args = ();
        async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
            Ok(Forever(None))
        }
    }
    struct Arm;
    impl Handler<Arm> for Forever {
        type Reply = ();
        async fn handle(&mut self, _: Arm, ctx: &mut Context<Self>) {
            self.0 = Some(ctx.send_interval(Tick, Duration::MAX));
        }
    }
    impl Handler<Tick> for Forever {
        type Reply = ();
        async fn handle(&mut self, _: Tick, _ctx: &mut Context<Self>) {
            panic!("a tick after Duration::MAX");
        }
    }
    struct TimerEnded;
    impl Handler<TimerEnded> for Forever {
        type Reply = bool;
        async fn handle(&mut self, _: TimerEnded, _ctx: &mut Context<Self>) -> bool {
            self.0.as_ref().is_some_and(|t| t.is_finished())
        }
    }
    let bus = virtual_bus(1);
    let f = bus.spawn::<Forever>(());
    // Armed once bus time has moved on: now + Duration::MAX cannot be added.
    bus.clock().sleep(Duration::from_secs(1)).await;
    f.ask(Arm).await.unwrap();
    let late = bus.clock().sleep_until(Duration::MAX);
    assert!(bus
        .clock()
        .timeout(Duration::from_secs(3600), late)
        .await
        .is_err());
    assert!(
        !f.ask(TimerEnded).await.unwrap(),
        "the interval's task lives on"
    );
    let report = bus.shutdown(Duration::MAX).await;
    assert_eq!((report.stopped.len(), report.killed.len()), (1, 0));
}

/// A zero-delay timer sends at once, at the bus time it was set: no timer tick (tokio rounds a
/// deadline up to its next millisecond, which on a virtual clock moved bus time forward).
#[tokio::test(start_paused = true)]
async fn a_zero_delay_timer_sends_at_the_time_it_was_set() {
    struct Tick;
    struct Arm;
    struct Timed {
        fired: Arc<tokio::sync::Notify>,
        at: Arc<std::sync::Mutex<Option<Duration>>>,
    }
    impl Actor for Timed {
        type Args = (
            Arc<tokio::sync::Notify>,
            Arc<std::sync::Mutex<Option<Duration>>>,
        );
        async fn on_start(
            (fired, at): Self::Args,
            _ctx: &mut Context<Self>,
        ) -> Result<Self, BoxError> {
            Ok(Timed { fired, at })
        }
    }
    impl Handler<Arm> for Timed {
        type Reply = Duration;
        async fn handle(&mut self, _: Arm, ctx: &mut Context<Self>) -> Duration {
            ctx.send_after(Tick, Duration::ZERO);
            ctx.now()
        }
    }
    impl Handler<Tick> for Timed {
        type Reply = ();
        async fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
            *self.at.lock().unwrap() = Some(ctx.now());
            self.fired.notify_one();
        }
    }
    let bus = virtual_bus(1);
    let fired = Arc::new(tokio::sync::Notify::new());
    let at = Arc::new(std::sync::Mutex::new(None));
    let t = bus.spawn::<Timed>((fired.clone(), at.clone()));
    // Off the millisecond grid (a sleep would round up to the next tick).
    tokio::time::advance(Duration::from_micros(1_500)).await;
    let armed = t.ask(Arm).await.unwrap();
    fired.notified().await;
    assert_eq!(armed, Duration::from_micros(1_500));
    assert_eq!(*at.lock().unwrap(), Some(armed));
}
