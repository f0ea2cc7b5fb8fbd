//! The backtest: a moving-average crossover strategy written as actors, run over a grid of
//! 1,000 parameter points on a million ticks, one isolated virtual-time bus per point, on
//! every core. Prints the best runs and the throughput; writes results.csv and the best
//! run's equity curve as a PNG.
//!
//! ```sh
//! cargo run --release --example backtest                       # the full run
//! cargo run --release --example backtest -- --grid small --ticks 100000
//! cargo run --release --example backtest -- --data prices.csv --out /tmp/bt
//! cargo run --release --example backtest -- --help
//! ```

mod cli;

/// `println!` that ignores a closed stdout (`| head`): the results files are still written.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! say_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

use std::fs;
use std::io::BufWriter;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use mycelium_backtest::pipeline::{self, Config, Params, RunResult};
use mycelium_backtest::{load_csv, plot, results, Series, Sweep, SweepReport};

use cli::Options;

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            say_inline!("{}", cli::HELP);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: Options) -> Result<ExitCode, String> {
    // A strategy that panics is reported by the sweep with its parameters; keep the
    // default panic output for everything else.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let sweep_thread = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("sweep-"));
        if !sweep_thread {
            default_hook(info);
        }
    }));

    let started = Instant::now();
    let series = match &o.data {
        Some(path) => {
            let (series, format) = load_csv(path).map_err(|e| e.to_string())?;
            say!(
                "data: {} ({format}), {} rows",
                path.display(),
                thousands(series.len() as u64)
            );
            series
        }
        None => {
            let series = Series::synthetic(o.seed, o.ticks);
            say!(
                "data: synthetic, {} ticks (seed {}), generated in {:.0?}",
                thousands(series.len() as u64),
                o.seed,
                started.elapsed()
            );
            series
        }
    };
    let span_days = series.offset_ns(series.len() - 1) as f64 / 8.64e13;
    let series = Arc::new(series);
    let grid = match o.grid.as_str() {
        "small" => pipeline::small_grid(),
        _ => pipeline::default_grid(),
    };
    let config = Config {
        batch: o.batch,
        bar_ticks: o.bar,
        fee_bps: o.fee_bps,
        risk_limit: o.risk_limit,
        crash_once_at: o.crash_at,
        ..Config::default()
    };
    let mut sweep = Sweep::new(grid).seed(o.seed);
    if let Some(w) = o.workers {
        sweep = sweep.workers(w);
    }
    if !o.progress {
        sweep = sweep.progress(false);
    }
    let workers = o.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    say!(
        "grid: {} points, {:.1} days of market time each, on {workers} worker(s)",
        sweep.len(),
        span_days
    );
    let report = sweep.run(|&params, run| {
        let (series, config) = (series.clone(), config.clone());
        async move { pipeline::run(&run.bus, series, params, config).await }
    });

    print_failures(&report);
    let ok: Vec<(&Params, &RunResult)> = report.successes().collect();
    let events: u64 = ok.iter().map(|(_, r)| r.ticks).sum();
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    let mut ranked = ok.clone();
    ranked.sort_by(|a, b| b.1.sharpe.total_cmp(&a.1.sharpe).then(a.0.cmp(b.0)));
    print_table(&ranked[..o.top.min(ranked.len())]);
    say!(
        "throughput: {} events/s ({} ticks replayed), {:.1} runs/s, {} runs in {:.2} s on {} worker(s)",
        thousands((events as f64 / secs) as u64),
        thousands(events),
        report.runs_per_sec(),
        report.runs.len(),
        secs,
        report.workers
    );

    fs::create_dir_all(&o.out)
        .map_err(|e| format!("cannot create the output folder {}: {e}", o.out.display()))?;
    let csv_path = o.out.join("results.csv");
    let file = fs::File::create(&csv_path)
        .map_err(|e| format!("cannot write {}: {e}", csv_path.display()))?;
    results::write_csv(&report, BufWriter::new(file))
        .map_err(|e| format!("cannot write {}: {e}", csv_path.display()))?;
    say!(
        "results: {} ({} rows)",
        csv_path.display(),
        report.runs.len()
    );
    if let Some((best, result)) = ranked.first() {
        let png_path = o.out.join("best_equity.png");
        let file = fs::File::create(&png_path)
            .map_err(|e| format!("cannot write {}: {e}", png_path.display()))?;
        plot::equity_png(&result.equity, 1000, 400, BufWriter::new(file))
            .map_err(|e| format!("cannot write {}: {e}", png_path.display()))?;
        // Run the best point again, alone, keeping its fills: the same trace, in detail.
        let index = report.runs.iter().position(|r| r.params == **best);
        let detail = index.and_then(|i| {
            sweep.rerun(i, |&params, run| {
                let series = series.clone();
                let config = Config {
                    keep_fills: true,
                    ..config.clone()
                };
                async move { pipeline::run(&run.bus, series, params, config).await }
            })
        });
        let trades_path = o.out.join("best_trades.csv");
        match detail.map(|d| d.result) {
            Some(Ok(d)) => {
                write_trades(&trades_path, &series, &d)?;
                let same = if d.trace_hash == result.trace_hash {
                    "the same trace"
                } else {
                    "A DIFFERENT TRACE (not deterministic)"
                };
                say!(
                    "best run {best}: {}, {} ({} fills; run again alone: {same})",
                    png_path.display(),
                    trades_path.display(),
                    d.fills.len()
                );
            }
            Some(Err(e)) => eprintln!("the best point failed when run again: {e}"),
            None => {}
        }
    }
    Ok(if ok.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The fills of one run: tick index, its timestamp, price, signed quantity, fee.
fn write_trades(path: &std::path::Path, series: &Series, run: &RunResult) -> Result<(), String> {
    use std::io::Write as _;
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut out = BufWriter::new(fs::File::create(path).map_err(fail)?);
    writeln!(out, "tick,timestamp_ns,price,qty,fee").map_err(fail)?;
    for f in &run.fills {
        writeln!(
            out,
            "{},{},{:.6},{},{:.6}",
            f.tick,
            series.timestamps()[f.tick],
            f.price,
            f.qty,
            f.fee
        )
        .map_err(fail)?;
    }
    out.flush().map_err(fail)
}

fn print_failures(report: &SweepReport<Params, RunResult>) {
    let failures: Vec<_> = report.failures().collect();
    if failures.is_empty() {
        return;
    }
    say!("{} grid point(s) failed:", failures.len());
    for (run, why) in failures.iter().take(10) {
        say!("  #{} {}: {why}", run.index, run.params);
    }
    if failures.len() > 10 {
        say!("  ... and {} more (see results.csv)", failures.len() - 10);
    }
}

fn print_table(rows: &[(&Params, &RunResult)]) {
    say!(
        "{:>5} {:>5} {:>5} {:>12} {:>8} {:>8} {:>7} {:>16}",
        "fast",
        "slow",
        "band",
        "pnl",
        "sharpe",
        "max dd",
        "trades",
        "trace"
    );
    for (p, r) in rows {
        say!(
            "{:>5} {:>5} {:>5} {:>12.2} {:>8.2} {:>7.1}% {:>7} {:016x}",
            p.fast,
            p.slow,
            p.band_bps,
            r.pnl,
            r.sharpe,
            r.max_drawdown * 100.0,
            r.trades,
            r.trace_hash
        );
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
