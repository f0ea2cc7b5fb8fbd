//! The backtest: a moving-average crossover strategy written as actors, run over a grid of
//! parameter points (1,000 on a million synthetic ticks by default, or your bars with
//! `--data`), one isolated virtual-time bus per point, on every core. Prints the best runs
//! and the throughput; writes results.csv, report.html, the best run's equity curve as a
//! PNG and its fills.
//!
//! ```sh
//! cargo run --release --example backtest                       # the full run
//! cargo run --release --example backtest -- --grid small --ticks 100000
//! cargo run --release --example backtest -- --data SPY.csv --fast 5:50:5 --slow 20:200:10
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mycelium_backtest::data::{self, DataFormat, LoadOptions};
use mycelium_backtest::pipeline::{self, Config, FillAt, InjectedFault, Params, RunResult, Sizing};
use mycelium_backtest::{plot, report, results, Series, Sweep, SweepReport};

use cli::Options;

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            say_inline!("{}", cli::HELP);
            say!("    results.csv columns: {}", results::CSV_HEADER);
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
    // A strategy that panics is reported by the sweep with its parameters, and the fault
    // that --crash-at injects is recovered by the supervisor: neither prints a panic
    // message. Everything else keeps the default panic output.
    let injected = Arc::new(AtomicU64::new(0));
    let default_hook = std::panic::take_hook();
    let seen = injected.clone();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<InjectedFault>().is_some() {
            seen.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let sweep_thread = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("sweep-"));
        if !sweep_thread {
            default_hook(info);
        }
    }));

    let started = Instant::now();
    let (series, format) = match &o.data {
        Some(path) => {
            let loaded = if o.data_is_journal || data::is_journal(path) {
                data::load_journal(path, &o.journal).map_err(|e| e.to_string())?
            } else {
                data::load(
                    path,
                    &LoadOptions {
                        epoch_unit: o.epoch_unit,
                    },
                )
                .map_err(|e| e.to_string())?
            };
            for w in &loaded.warnings {
                say!("warning: {w}");
            }
            let s = &loaded.series;
            say!(
                "data: {} ({}), {} rows from {} to {}",
                path.display(),
                loaded.format,
                thousands(s.len() as u64),
                report::date_time(s.timestamps()[0]),
                report::date_time(s.timestamps()[s.len() - 1])
            );
            (loaded.series, loaded.format)
        }
        None => {
            let series = Series::synthetic(o.seed, o.ticks);
            say!(
                "data: synthetic, {} ticks (seed {}), generated in {:.0?}",
                thousands(series.len() as u64),
                o.seed,
                started.elapsed()
            );
            (series, DataFormat::Ticks)
        }
    };
    let span_days = series.offset_ns(series.len() - 1) as f64 / 8.64e13;
    let series = Arc::new(series);
    let grid = build_grid(&o)?;
    if grid.is_empty() {
        return Err("the grid is empty: every point has fast >= slow".into());
    }
    let config = Config {
        batch: o.batch,
        mark_every: o.bar,
        cash: o.cash,
        size: o.size,
        commission_bps: o.commission_bps,
        commission_per_trade: o.commission,
        fill: o.fill,
        risk_limit: o.risk_limit,
        crash_once_at: o.crash_at,
        keep_fills: false,
    };
    config.validate().map_err(|e| e.to_string())?;
    // Before the sweep, not after: an output folder that cannot be made would otherwise
    // throw a whole sweep's results away.
    fs::create_dir_all(&o.out)
        .map_err(|e| format!("cannot create the output folder {}: {e}", o.out.display()))?;
    let mut sweep = Sweep::new(grid.clone()).seed(o.seed);
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
    let unit = if format == DataFormat::Bars {
        "bar"
    } else {
        "tick"
    };
    say!(
        "account: cash {}, size {}, commission {} bps + {} per fill, fills at {} ({}), marks every {} {unit}(s), risk limit {}",
        o.cash,
        match o.size {
            Sizing::Units(n) => format!("{n} units"),
            Sizing::Equity(f) if f >= 1.0 => "all cash".to_string(),
            Sizing::Equity(f) => format!("{:.0}% of cash", f * 100.0),
        },
        o.commission_bps,
        o.commission,
        o.fill,
        match (o.fill, format) {
            (FillAt::NextOpen, DataFormat::Ticks) => "the next tick's price",
            (FillAt::NextOpen, _) => "the next bar's open",
            (FillAt::NextClose, _) => "the next bar's close",
            (FillAt::SameClose, _) => "the deciding bar's close",
        },
        o.bar,
        o.risk_limit
            .map(|l| format!("{:.1}% drawdown", l * 100.0))
            .unwrap_or_else(|| "none".into())
    );
    let too_long = grid
        .iter()
        .filter(|p| p.slow as usize >= series.len())
        .count();
    if too_long > 0 {
        say!(
            "warning: {too_long} grid point(s) have a slow window of {} rows or more, as long as the data: they cannot trade",
            series.len()
        );
    }
    let report = sweep.run(|&params, run| {
        let (series, config) = (series.clone(), config.clone());
        async move { pipeline::run(&run.bus, series, params, config).await }
    });

    print_failures(&report);
    let ok: Vec<(&Params, &RunResult)> = report.successes().collect();
    let events: u64 = ok.iter().map(|(_, r)| r.ticks).sum();
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    let metric = Metric::parse(&o.metric);
    let ranked = rank(&ok, metric);
    let traded = ranked.iter().filter(|(_, r)| r.stats.fills > 0).count();
    let no_trades = ok.len() - traded;
    if no_trades > 0 {
        say!(
            "warning: {no_trades} of {} run(s) made no trade at all; they are ranked last{}",
            ok.len(),
            if traded == 0 {
                " - and that is every run: no run is better than another"
            } else {
                ""
            }
        );
    }
    let canceled = ok.iter().filter(|(_, r)| r.canceled > 0).count();
    if canceled > 0 {
        say!("warning: {canceled} run(s) had entries cancelled because the cash could not pay for them (see --size, --cash)");
    }
    let bankrupt = ok.iter().filter(|(_, r)| r.bankrupt_at.is_some()).count();
    let halted = ok.iter().filter(|(_, r)| r.halted_at.is_some()).count();
    if bankrupt + halted > 0 {
        say!("{bankrupt} run(s) went bankrupt, {halted} were halted by the risk limit");
    }
    say!("top runs by {}:", metric.label());
    print_table(&ranked[..o.top.min(ranked.len())]);
    let edges: Vec<String> = report::grid_edges(&ranked, &ok)
        .iter()
        .map(ToString::to_string)
        .collect();
    if !edges.is_empty() {
        say!("note: {}", edges.join("; "));
    }
    say!(
        "throughput: {} events/s ({} ticks replayed), {:.1} runs/s, {} runs in {:.2} s on {} worker(s)",
        thousands((events as f64 / secs) as u64),
        thousands(events),
        report.runs_per_sec(),
        report.runs.len(),
        secs,
        report.workers
    );

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
        let label = if result.stats.fills == 0 {
            "best run (it made NO trade)"
        } else if result.stats.trades == 0 {
            "best run (no closed trade: one position, still open at the end)"
        } else {
            "best run"
        };
        let png_path = o.out.join("best_equity.png");
        let file = fs::File::create(&png_path)
            .map_err(|e| format!("cannot write {}: {e}", png_path.display()))?;
        let title = format!("Equity of {best} ({:.2}% return)", result.stats.return_pct);
        plot::equity_chart_png(&result.equity, &title, 1000, 420, BufWriter::new(file))
            .map_err(|e| format!("cannot write {}: {e}", png_path.display()))?;
        // Run the best point again, alone, keeping its fills: the same trace, in detail,
        // and the equity at every mark for the report's drawdown chart.
        let index = report.runs.iter().position(|r| r.params == **best);
        let detail = index
            .and_then(|i| {
                sweep.rerun(i, |&params, run| {
                    let series = series.clone();
                    let config = Config {
                        keep_fills: true,
                        ..config.clone()
                    };
                    async move { pipeline::run(&run.bus, series, params, config).await }
                })
            })
            .map(|d| d.result);
        let marks = match &detail {
            Some(Ok(d)) => report::marked_equity(&series, &config, d),
            _ => None,
        };
        let html_path = o.out.join("report.html");
        let metric_of = |r: &RunResult| metric.value(r);
        let page = report::html(&report::Input {
            title: match &o.data {
                Some(p) => format!("Backtest of {}", p.display()),
                None => "Backtest of a synthetic series".to_string(),
            },
            metric: metric.label(),
            best: (*best, *result),
            ranked: &ranked[..ranked.len().min(o.top.max(10))],
            all: &ok,
            metric_of: &metric_of,
            settings: format!(
                "cash {}, commission {} bps + {} per fill, fills at {}, {} points",
                o.cash,
                o.commission_bps,
                o.commission,
                o.fill,
                report.runs.len()
            ),
            marks: marks.as_deref(),
        });
        fs::write(&html_path, page)
            .map_err(|e| format!("cannot write {}: {e}", html_path.display()))?;
        let trades_path = o.out.join("best_trades.csv");
        match detail {
            Some(Ok(d)) => {
                write_trades(&trades_path, &series, &d)?;
                let same = if d.trace_hash == result.trace_hash {
                    "the same trace"
                } else {
                    "A DIFFERENT TRACE (not deterministic)"
                };
                say!(
                    "{label} {best}: {}, {}, {} ({} fills; run again alone: {same})",
                    html_path.display(),
                    png_path.display(),
                    trades_path.display(),
                    d.fills.len()
                );
            }
            Some(Err(e)) => eprintln!("the best point failed when run again: {e}"),
            None => {}
        }
    }
    if let Some(at) = o.crash_at {
        let n = injected.load(Ordering::Relaxed);
        if n > 0 {
            say!("fault injected at tick {at}: {n} pipeline(s) crashed once and were restarted by their supervisor; results as without the fault");
        } else {
            say!("fault injection at tick {at}: no run reached that tick");
        }
    }
    Ok(if ok.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The grid: --fast/--slow/--band ranges, a grid file, or a built-in grid.
fn build_grid(o: &Options) -> Result<Vec<Params>, String> {
    if let (Some(fast), Some(slow)) = (&o.fast, &o.slow) {
        let band = o.band.clone().unwrap_or_else(|| vec![0]);
        return Ok(pipeline::grid(fast, slow, &band)
            .into_iter()
            .filter(|p| p.fast < p.slow)
            .collect());
    }
    match o.grid.as_str() {
        "small" => Ok(pipeline::small_grid()),
        "default" => Ok(pipeline::default_grid()),
        path => {
            let text = fs::read_to_string(path).map_err(|e| {
                format!(
                    "--grid {path}: not `default` or `small`, and cannot read it as a file: {e}"
                )
            })?;
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let f: Vec<&str> = line.split(',').map(str::trim).collect();
                let nums: Option<Vec<u32>> = f.iter().map(|x| x.parse().ok()).collect();
                match (nums, f.len()) {
                    (Some(n), 2 | 3) => {
                        let p = Params {
                            fast: n[0],
                            slow: n[1],
                            band_bps: n.get(2).copied().unwrap_or(0),
                        };
                        p.validate().map_err(|e| format!("{path}:{}: {e}", i + 1))?;
                        out.push(p);
                    }
                    _ if out.is_empty() && i == 0 => {} // a header
                    _ => {
                        return Err(format!(
                        "{path}:{}: expected `fast,slow` or `fast,slow,band_bps` (whole numbers)",
                        i + 1
                    ))
                    }
                }
            }
            Ok(out)
        }
    }
}

#[derive(Clone, Copy)]
enum Metric {
    Sharpe,
    Sortino,
    Return,
    Drawdown,
    WinRate,
    Exposure,
    Trades,
}

impl Metric {
    fn parse(s: &str) -> Metric {
        match s {
            "sortino" => Metric::Sortino,
            "return" => Metric::Return,
            "drawdown" => Metric::Drawdown,
            "win-rate" => Metric::WinRate,
            "exposure" => Metric::Exposure,
            "trades" => Metric::Trades,
            _ => Metric::Sharpe,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Metric::Sharpe => "Sharpe Ratio",
            Metric::Sortino => "Sortino Ratio",
            Metric::Return => "Return [%]",
            Metric::Drawdown => "Max. Drawdown [%]",
            Metric::WinRate => "Win Rate [%]",
            Metric::Exposure => "Exposure Time [%]",
            Metric::Trades => "# Trades",
        }
    }

    /// Higher is better for every one (the drawdown is <= 0).
    fn value(self, r: &RunResult) -> f64 {
        let s = &r.stats;
        match self {
            Metric::Sharpe => s.sharpe,
            Metric::Sortino => s.sortino,
            Metric::Return => s.return_pct,
            Metric::Drawdown => s.max_drawdown_pct,
            Metric::WinRate => s.win_rate_pct,
            Metric::Exposure => s.exposure_pct,
            Metric::Trades => s.trades as f64,
        }
    }
}

/// Best first: runs that traded before runs that never did, then the metric (NaN last), then
/// the parameters.
fn rank<'a>(
    ok: &[(&'a Params, &'a RunResult)],
    metric: Metric,
) -> Vec<(&'a Params, &'a RunResult)> {
    let mut ranked = ok.to_vec();
    let key = |r: &RunResult| {
        let v = metric.value(r);
        if v.is_nan() {
            f64::NEG_INFINITY
        } else {
            v
        }
    };
    ranked.sort_by(|a, b| {
        (b.1.stats.fills > 0)
            .cmp(&(a.1.stats.fills > 0))
            .then(key(b.1).total_cmp(&key(a.1)))
            .then(a.0.cmp(b.0))
    });
    ranked
}

/// The fills of one run: tick index, its timestamp, price, signed quantity, fee.
fn write_trades(path: &std::path::Path, series: &Series, run: &RunResult) -> Result<(), String> {
    use std::io::Write as _;
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut out = BufWriter::new(fs::File::create(path).map_err(fail)?);
    writeln!(out, "bar,timestamp_ns,price,qty,fee").map_err(fail)?;
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
        "{:>5} {:>5} {:>5} {:>10} {:>10} {:>9} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6}  {}",
        "fast",
        "slow",
        "band",
        "Return%",
        "B&H%",
        "MaxDD%",
        "Sharpe",
        "Sortino",
        "Trades",
        "Fills",
        "Win%",
        "Expo%",
        "notes"
    );
    for (p, r) in rows {
        let s = &r.stats;
        let mut notes = Vec::new();
        if s.fills == 0 {
            notes.push("no trade".to_string());
        } else if s.trades == 0 {
            notes.push("no closed trade".to_string());
        }
        if let Some(b) = r.bankrupt_at {
            notes.push(format!("bankrupt at bar {b}"));
        }
        if let Some(h) = r.halted_at {
            notes.push(format!("halted at bar {h}"));
        }
        say!(
            "{:>5} {:>5} {:>5} {:>10.2} {:>10.2} {:>9.2} {:>7.3} {:>7.3} {:>6} {:>6} {:>6.1} {:>6.1}  {}",
            p.fast,
            p.slow,
            p.band_bps,
            s.return_pct,
            s.buy_hold_return_pct,
            s.max_drawdown_pct,
            s.sharpe,
            s.sortino,
            s.trades,
            s.fills,
            s.win_rate_pct,
            s.exposure_pct,
            notes.join(", ")
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
