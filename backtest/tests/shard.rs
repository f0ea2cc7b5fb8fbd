//! Shards: any subset of a grid runs alone and merges back into the whole sweep's report,
//! row for row and byte for byte in `results.csv`.

use std::sync::Arc;

use mycelium_backtest::pipeline::{self, Config, Params, RunResult};
use mycelium_backtest::{
    decode_series, encode_series, results, DecodeError, MergeError, Run, Series, Shard, ShardError,
    Sweep, SweepReport,
};

fn csv(report: &SweepReport<Params, RunResult>) -> Vec<u8> {
    let mut out = Vec::new();
    results::write_csv(report, &mut out).unwrap();
    out
}

fn sweep(grid: Vec<Params>, workers: usize) -> Sweep<Params> {
    Sweep::new(grid).seed(11).workers(workers).progress(false)
}

type RunFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<RunResult, mycelium_actors::BoxError>>>,
>;

fn build(series: &Arc<Series>) -> impl Fn(&Params, Run) -> RunFuture + Sync + '_ {
    move |&params: &Params, run: Run| {
        let series = series.clone();
        Box::pin(async move { pipeline::run(&run.bus, series, params, Config::default()).await })
    }
}

#[test]
fn shards_in_any_order_merge_into_the_bytes_of_the_whole_sweep() {
    let series = Arc::new(Series::synthetic(5, 6_000));
    // Point 3 fails (fast >= slow): a failed point is a row like the others.
    let grid = vec![
        Params {
            fast: 5,
            slow: 50,
            band_bps: 0,
        },
        Params {
            fast: 5,
            slow: 50,
            band_bps: 10,
        },
        Params {
            fast: 10,
            slow: 200,
            band_bps: 0,
        },
        Params {
            fast: 300,
            slow: 200,
            band_bps: 0,
        },
        Params {
            fast: 20,
            slow: 400,
            band_bps: 5,
        },
        Params {
            fast: 2,
            slow: 30,
            band_bps: 0,
        },
        Params {
            fast: 7,
            slow: 70,
            band_bps: 2,
        },
    ];
    let whole = sweep(grid.clone(), 2).run(build(&series));
    assert_eq!(whole.failures().count(), 1);
    let s = sweep(grid.clone(), 1);
    // Uneven shards, not contiguous, run out of order, each on its own sweep value.
    let shards = [Shard::new([6, 0]), Shard::range(2..5), Shard::new([5, 1])];
    let mut parts = Vec::new();
    for shard in shards.iter().rev() {
        let part = s.run_shard(shard, build(&series)).unwrap();
        assert_eq!(
            part.runs.iter().map(|r| r.index).collect::<Vec<_>>(),
            shard.indices(),
            "a shard's outcomes come in the shard's order, with their grid indices"
        );
        parts.push(part);
    }
    let merged = SweepReport::merge(grid.len(), parts).unwrap();
    assert_eq!(
        String::from_utf8(csv(&merged)).unwrap(),
        String::from_utf8(csv(&whole)).unwrap()
    );
    // Rows written one by one after the header are the same bytes too.
    let mut rows = format!("{}\n", results::CSV_HEADER).into_bytes();
    for run in &merged.runs {
        results::write_row(run, &mut rows).unwrap();
    }
    assert_eq!(rows, csv(&whole));
}

#[test]
fn split_covers_the_grid_once_in_order() {
    let shards = Shard::split(10, 3);
    let all: Vec<usize> = shards.iter().flat_map(|s| s.indices().to_vec()).collect();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    assert_eq!(
        shards.iter().map(Shard::len).collect::<Vec<_>>(),
        [3, 3, 3, 1]
    );
    assert!(Shard::split(0, 3).is_empty());
    assert_eq!(Shard::split(2, 0).len(), 2, "size 0 counts as 1");
}

#[test]
fn a_bad_shard_is_refused_before_anything_runs() {
    let s = Sweep::new(vec![1u32, 2, 3]).progress(false);
    let ran = std::sync::atomic::AtomicUsize::new(0);
    let work = |_: &u32, _: Run| {
        ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async { Ok(()) }
    };
    let err = s.run_shard(&Shard::new([0, 3]), work).unwrap_err();
    assert_eq!(err, ShardError::UnknownIndex { index: 3, len: 3 });
    assert!(err.to_string().contains("indices 0..3"), "{err}");
    assert_eq!(
        s.run_shard(&Shard::new([1, 2, 1]), work).unwrap_err(),
        ShardError::Duplicate { index: 1 }
    );
    assert_eq!(
        s.run_shard(&Shard::new([]), work).unwrap_err(),
        ShardError::Empty
    );
    assert_eq!(ran.load(std::sync::atomic::Ordering::Relaxed), 0);
    // A shard of an empty grid names an unknown index.
    let empty = Sweep::new(Vec::<u32>::new()).progress(false);
    assert_eq!(
        empty.run_shard(&Shard::new([0]), work).unwrap_err(),
        ShardError::UnknownIndex { index: 0, len: 0 }
    );
}

#[test]
fn merge_refuses_missing_doubled_and_foreign_points() {
    let s = Sweep::new(vec![1u32, 2, 3]).progress(false);
    let work = |&n: &u32, _: Run| async move { Ok(n) };
    let part = |idx: &[usize]| s.run_shard(&Shard::new(idx.iter().copied()), work).unwrap();
    assert_eq!(
        SweepReport::merge(3, [part(&[0]), part(&[2])]).unwrap_err(),
        MergeError::Missing { index: 1, len: 3 }
    );
    assert_eq!(
        SweepReport::merge(3, [part(&[0, 1]), part(&[1, 2])]).unwrap_err(),
        MergeError::Duplicate { index: 1 }
    );
    assert_eq!(
        SweepReport::merge(2, [part(&[0, 1, 2])]).unwrap_err(),
        MergeError::OutOfRange { index: 2, len: 2 }
    );
    let merged = SweepReport::merge(3, [part(&[2]), part(&[1, 0])]).unwrap();
    assert_eq!(
        merged.runs.iter().map(|r| r.index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(
        merged.successes().map(|(_, v)| *v).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[test]
fn a_series_crosses_as_bytes_bit_for_bit() {
    let ticks = Series::synthetic(9, 1_000);
    assert_eq!(decode_series(&encode_series(&ticks)).unwrap(), ticks);
    let bars = Series::bars(vec![10, 20, 30], vec![1.0, 2.5, 3.0], vec![1.5, 2.0, 3.25])
        .unwrap()
        .with_utc_offset(-5 * 3600);
    let back = decode_series(&encode_series(&bars)).unwrap();
    assert_eq!(back, bars);
    assert!(back.has_opens());
    assert_eq!(back.utc_offset_ns(), -5 * 3600 * 1_000_000_000);
    // Highs, lows and volumes too: stops and limits trigger on them wherever the run is.
    let full = bars
        .with_range(vec![1.6, 2.6, 3.5], vec![0.9, 1.9, 2.9])
        .unwrap()
        .with_volume(vec![100.0, 0.0, 7.5])
        .unwrap();
    let back = decode_series(&encode_series(&full)).unwrap();
    assert_eq!(back, full);
    assert_eq!((back.high(1), back.low(1)), (2.6, 1.9));
    assert_eq!(back.volumes(), Some(&[100.0, 0.0, 7.5][..]));
}

#[test]
fn bad_series_bytes_are_refused() {
    let good = encode_series(&Series::synthetic(1, 10));
    assert_eq!(
        decode_series(b"not a series").unwrap_err(),
        DecodeError::Format
    );
    assert_eq!(decode_series(&[]).unwrap_err(), DecodeError::Format);
    let cut = decode_series(&good[..good.len() - 3]).unwrap_err();
    assert!(matches!(cut, DecodeError::Length { .. }), "{cut:?}");
    let mut tail = good.clone();
    tail.push(0);
    assert!(matches!(
        decode_series(&tail).unwrap_err(),
        DecodeError::Length { .. }
    ));
    // A price of 0 decodes but is not a valid series.
    let mut zero = good.clone();
    let at = zero.len() - 8;
    zero[at..].copy_from_slice(&0f64.to_bits().to_le_bytes());
    assert!(matches!(
        decode_series(&zero).unwrap_err(),
        DecodeError::Invalid(_)
    ));
    // A huge announced length is refused without allocating it.
    let mut huge = good;
    huge[17..25].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(decode_series(&huge).is_err());
}
