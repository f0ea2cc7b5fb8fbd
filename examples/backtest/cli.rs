//! Command-line options of the backtest example.

use std::path::PathBuf;

pub const HELP: &str = "\
Backtests a moving-average crossover strategy, written as Mycelium actors (replayer,
strategy, simulated exchange, portfolio with a risk limit, under a one_for_all supervisor),
over a parameter grid: one isolated bus on virtual time per grid point, in parallel.

USAGE:
    cargo run --release --example backtest -- [OPTIONS]

OPTIONS:
    --data FILE       CSV of ticks or OHLC bars (default: a seeded synthetic series)
    --ticks N         length of the synthetic series (default 1000000)
    --grid NAME       `default` (1000 points) or `small` (18 points)
    --workers N       worker threads (default: available cores)
    --seed N          seed of the synthetic series and of every run's bus (default 42)
    --out DIR         where the results files go (default ./results)
    --top N           rows of the results table (default 10)
    --batch N         ticks per market-data batch (default 4096)
    --bar N           ticks per bar for the equity curve and Sharpe (default 1000)
    --fee-bps X       fee in basis points of traded notional (default 1)
    --risk-limit X    drawdown fraction that halts a strategy (default 0.5)
    --crash-at TICK   fault injection: each strategy panics once on this tick; the
                      supervisor restarts the pipeline and results are unchanged
    --no-progress     never show the progress bar (it hides itself when stderr is not a
                      terminal)
    -h, --help        this text

DATA FILES:
    A header row picks the format (names case-insensitive, `volume` optional):
      timestamp_ns,price[,volume]                  one tick per row
      timestamp_ns,open,high,low,close[,volume]    one bar per row, replayed at its close
    timestamp_ns: unsigned integer nanoseconds, strictly increasing. Prices: finite, > 0;
    for bars low <= open, close <= high. volume: finite, >= 0. Blank lines are skipped.
    A malformed row stops the program with the file, the line number and what is wrong.

OUTPUT:
    A table of the best runs by Sharpe ratio, the throughput (ticks replayed per second of
    wall time over all runs, runs per second), results.csv with every run's parameters,
    metrics and trace hash (deterministic: two runs with the same options write the same
    bytes), best_equity.png, the equity curve of the best run, and best_trades.csv, its
    fills (tick,timestamp_ns,price,qty,fee) from running that point again alone, which also
    checks that it gives the same trace.
";

#[derive(Debug)]
pub struct Options {
    pub data: Option<PathBuf>,
    pub ticks: usize,
    pub grid: String,
    pub workers: Option<usize>,
    pub seed: u64,
    pub out: PathBuf,
    pub top: usize,
    pub batch: usize,
    pub bar: usize,
    pub fee_bps: f64,
    pub risk_limit: f64,
    pub crash_at: Option<usize>,
    pub progress: bool,
}

impl Options {
    /// Parses `args` (without the program name). `Ok(None)` means help was asked for.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
        let mut o = Options {
            data: None,
            ticks: 1_000_000,
            grid: "default".into(),
            workers: None,
            seed: 42,
            out: PathBuf::from("results"),
            top: 10,
            batch: 4096,
            bar: 1000,
            fee_bps: 1.0,
            risk_limit: 0.5,
            crash_at: None,
            progress: true,
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value (see --help)"))
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--data" => o.data = Some(PathBuf::from(value("--data")?)),
                "--ticks" => o.ticks = number("--ticks", &value("--ticks")?, 2)?,
                "--grid" => {
                    o.grid = value("--grid")?;
                    if o.grid != "default" && o.grid != "small" {
                        return Err(format!("--grid {}: expected `default` or `small`", o.grid));
                    }
                }
                "--workers" => o.workers = Some(number("--workers", &value("--workers")?, 1)?),
                "--seed" => o.seed = number("--seed", &value("--seed")?, 0)? as u64,
                "--out" => o.out = PathBuf::from(value("--out")?),
                "--top" => o.top = number("--top", &value("--top")?, 0)?,
                "--batch" => o.batch = number("--batch", &value("--batch")?, 1)?,
                "--bar" => o.bar = number("--bar", &value("--bar")?, 1)?,
                "--fee-bps" => o.fee_bps = float("--fee-bps", &value("--fee-bps")?)?,
                "--risk-limit" => o.risk_limit = float("--risk-limit", &value("--risk-limit")?)?,
                "--crash-at" => o.crash_at = Some(number("--crash-at", &value("--crash-at")?, 0)?),
                "--no-progress" => o.progress = false,
                other => return Err(format!("unknown option `{other}` (see --help)")),
            }
        }
        Ok(Some(o))
    }
}

fn number(name: &str, v: &str, min: usize) -> Result<usize, String> {
    let n: usize = v
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{name} {v}: expected a whole number"))?;
    if n < min {
        return Err(format!("{name} {v}: must be at least {min}"));
    }
    Ok(n)
}

fn float(name: &str, v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{name} {v}: expected a number >= 0")),
    }
}
