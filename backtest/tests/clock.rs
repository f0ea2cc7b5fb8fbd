//! The bus clock is driven by the data: each batch is published at its first tick's time,
//! and a year of hourly data runs on the virtual clock (the test would otherwise take a year).

use std::sync::Arc;
use std::time::Duration;

use mycelium_actors::SubscribeOptions;
use mycelium_backtest::pipeline::{self, topics, Config, Params, TickBatch};
use mycelium_backtest::{Series, Sweep};

/// Runs one backtest and records, for every batch, the bus time at which it was published
/// and the timestamp offset of its first tick.
fn publication_times(series: Series, config: Config) -> Vec<(Duration, Duration)> {
    let series = Arc::new(series);
    let params = Params {
        fast: 5,
        slow: 20,
        band_bps: 0,
    };
    let report = Sweep::new([params])
        .workers(1)
        .progress(false)
        .run(|&p, run| {
            let (series, config) = (series.clone(), config.clone());
            async move {
                let mut tape = run
                    .bus
                    .subscribe_stream::<TickBatch>(topics::TICKS, SubscribeOptions::new())?;
                let clock = run.bus.clock().clone();
                let backtest = pipeline::run(&run.bus, series.clone(), p, config);
                tokio::pin!(backtest);
                let mut seen = Vec::new();
                loop {
                    tokio::select! {
                        biased;
                        Some(batch) = tape.recv() => seen.push((
                            clock.now(),
                            Duration::from_nanos(series.offset_ns(batch.range.start)),
                        )),
                        result = &mut backtest => {
                            result?;
                            break;
                        }
                    }
                }
                Ok(seen)
            }
        });
    match &report.runs[0].result {
        Ok(seen) => seen.clone(),
        Err(e) => panic!("the run failed: {e}"),
    }
}

#[test]
fn each_batch_is_published_at_its_first_ticks_time() {
    // 20,000 ticks 30 to 90 s apart, 500 ticks a batch: 40 batches over about two weeks.
    let series = Series::synthetic(9, 20_000);
    let config = Config {
        batch: 500,
        ..Config::default()
    };
    let seen = publication_times(series, config);
    assert_eq!(seen.len(), 40);
    for (now, due) in &seen {
        // Tokio's timers have a resolution of 1 ms: a timer fires at the first millisecond
        // tick at or after its deadline.
        assert!(
            *now >= *due,
            "published at {now:?}, before its time {due:?}"
        );
        assert!(
            *now - *due <= Duration::from_millis(1),
            "{now:?} vs {due:?}"
        );
    }
}

#[test]
fn a_year_of_hourly_data_runs_on_the_virtual_clock() {
    const HOUR: u64 = 3_600_000_000_000;
    let n = 24 * 365;
    let ts: Vec<u64> = (0..n as u64).map(|i| i * HOUR).collect();
    let px: Vec<f64> = (0..n).map(|i| 100.0 + (i as f64 / 50.0).sin()).collect();
    let series = Series::new(ts, px).unwrap();
    let config = Config {
        batch: 24, // one batch a day
        mark_every: 24,
        risk_limit: Some(0.5),
        ..Config::default()
    };
    let seen = publication_times(series, config);
    assert_eq!(seen.len(), 365);
    let (last, due) = seen[364];
    assert_eq!(due, Duration::from_secs(364 * 24 * 3600));
    assert!(last >= due && last - due <= Duration::from_millis(1));
}
