//! The sweep runner: failures of single grid points are reported, the others complete.

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::{Actor, BoxError, Context, Handler};
use mycelium_backtest::pipeline::{self, Config, Params};
use mycelium_backtest::{run_seed, RunFailure, Series, Sweep};

#[test]
fn a_panicking_and_an_erroring_point_are_reported_and_the_others_complete() {
    let report = Sweep::new(0u32..20)
        .workers(2)
        .progress(false)
        .run(|&n, run| async move {
            run.bus.clock().sleep(Duration::from_secs(60)).await;
            match n {
                7 => panic!("point {n} blew up"),
                13 => Err(format!("point {n} refused").into()),
                _ => Ok(n * 2),
            }
        });
    assert_eq!(report.runs.len(), 20);
    let failures: Vec<_> = report
        .failures()
        .map(|(run, why)| (run.index, run.params, why.clone()))
        .collect();
    assert_eq!(
        failures,
        vec![
            (7, 7, RunFailure::Panicked("point 7 blew up".into())),
            (13, 13, RunFailure::Failed("point 13 refused".into())),
        ]
    );
    let ok: Vec<u32> = report.successes().map(|(_, r)| *r).collect();
    assert_eq!(ok.len(), 18);
    assert!(report.successes().all(|(p, r)| *r == p * 2));
}

#[test]
fn invalid_parameters_fail_their_point_only() {
    let series = Arc::new(Series::synthetic(1, 5_000));
    let grid = vec![
        Params {
            fast: 10,
            slow: 100,
            band_bps: 0,
        },
        Params {
            fast: 100,
            slow: 10,
            band_bps: 0,
        },
        Params {
            fast: 20,
            slow: 200,
            band_bps: 0,
        },
    ];
    let report = Sweep::new(grid).workers(2).progress(false).run(|&p, run| {
        let series = series.clone();
        async move { pipeline::run(&run.bus, series, p, Config::default()).await }
    });
    let failed: Vec<_> = report
        .failures()
        .map(|(r, why)| (r.index, why.to_string()))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, 1);
    assert!(failed[0].1.contains("fast=100 slow=10"), "{}", failed[0].1);
    assert_eq!(report.successes().count(), 2);
}

/// An actor that always fails to start: its supervisor gives up, the bus fails, and the
/// grid point reports why instead of hanging.
struct Broken;
impl Actor for Broken {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Err("no market data".into())
    }
}
impl Handler<()> for Broken {
    type Reply = ();
    async fn handle(&mut self, _: (), _ctx: &mut Context<Self>) {}
}

#[test]
fn a_point_whose_supervisor_gives_up_is_reported() {
    use mycelium_supervisor::{Backoff, ChildSpec, RestartStrategy, Supervisor};
    let report = Sweep::new([0u8, 1])
        .workers(1)
        .progress(false)
        .run(|&n, run| async move {
            if n == 1 {
                return Ok("fine");
            }
            Supervisor::builder(RestartStrategy::OneForOne)
                .intensity(2, Duration::from_secs(60))
                .backoff(Backoff::exponential(
                    Duration::from_millis(10),
                    2.0,
                    Duration::from_secs(1),
                ))
                .child(ChildSpec::new::<Broken>("broken", ()))
                .spawn(&run.bus)
                .await?;
            Err(run.bus.wait_stopped().await.to_string().into())
        });
    let (run, why) = report.failures().next().expect("point 0 fails");
    assert_eq!(run.index, 0);
    assert!(
        matches!(why, RunFailure::Failed(r) if r.contains("stopped")),
        "{why}"
    );
    assert_eq!(report.successes().count(), 1);
}

#[test]
fn each_point_gets_its_own_seed_and_bus() {
    let report = Sweep::new(0..6)
        .workers(2)
        .seed(99)
        .progress(false)
        .run(|_, run| async move {
            Ok::<_, BoxError>((
                run.index,
                run.seed,
                run.bus.seed(),
                run.bus.actor_count(),
                run.bus.clock().is_virtual(),
            ))
        });
    for r in &report.runs {
        let (index, seed, bus_seed, actors, virtual_time) = *r.result.as_ref().unwrap();
        assert_eq!(index, r.index);
        assert_eq!(seed, run_seed(99, r.index));
        assert_eq!(bus_seed, seed);
        assert_eq!(actors, 0, "a fresh bus");
        assert!(virtual_time);
    }
}

#[test]
fn a_stuck_point_times_out_on_the_virtual_clock_and_the_others_complete() {
    let report = Sweep::new([0u8, 1, 2])
        .workers(2)
        .progress(false)
        .time_limit(Duration::from_secs(3600))
        .run(|&n, run| async move {
            if n == 1 {
                // Waits for something that never comes: nothing is due, so the virtual
                // clock jumps straight to the limit.
                std::future::pending::<()>().await;
            }
            run.bus.clock().sleep(Duration::from_secs(60)).await;
            Ok(n)
        });
    let failures: Vec<_> = report
        .failures()
        .map(|(r, why)| (r.index, why.clone()))
        .collect();
    assert_eq!(
        failures,
        vec![(1, RunFailure::TimedOut(Duration::from_secs(3600)))]
    );
    assert_eq!(
        report.successes().map(|(_, r)| *r).collect::<Vec<_>>(),
        [0, 2]
    );
}
