//! Command-line options of the backtest example.

use std::path::PathBuf;

use mycelium_backtest::data::{ActorAddr, EpochUnit, JournalData, RecordKind as Kind};
use mycelium_backtest::pipeline::{FillAt, Sizing};

pub const HELP: &str = "\
Backtests a moving-average crossover strategy, written as Mycelium actors (replayer,
strategy, simulated exchange, portfolio, under a one_for_all supervisor), over a parameter
grid: one isolated bus on virtual time per grid point, in parallel.

USAGE:
    cargo run --release --example backtest -- [OPTIONS]

DATA:
    --data FILE         CSV of bars or ticks (default: a seeded synthetic tick series)
    --data DIR          a flight-recorder journal (also `journal:DIR`): the quotes (at
                        their mid) and trades a recorded market-data actor handled or
                        published, as ticks (see MARKET DATA FROM A JOURNAL)
    --md-actor N[@NODE] the journal's actor whose market data is read
    --md-kind K         handled or published: which of its records
    --md-instrument N   the instrument, when the quotes or trades carry several
    --md-type A,B       names of JSON market-data records (default Quote,Trade,Tick)
    --epoch-unit U      unit of numeric timestamps: s, ms, us or ns (default: detected
                        from their size)
    --ticks N           length of the synthetic series (default 1000000)
    --seed N            seed of the synthetic series and of every run's bus (default 42)

GRID (fast and slow windows in bars, band in basis points):
    --fast A:B:S        fast windows from A to B (inclusive) by S; also `A,B,C` or `A`
    --slow A:B:S        slow windows, same forms (needed with --fast)
    --band A:B:S        bands (default 0)
    --grid NAME|FILE    `default` (1000 points), `small` (18 points), or a file of
                        `fast,slow,band_bps` lines (a header line and # comments allowed)
                        Points with fast >= slow are left out of a --fast/--slow grid.

STRATEGY:
    Long when the fast simple moving average of the closes is above the slow one by more
    than the band (fast > slow * (1 + band)), short when below by more than the band,
    unchanged in between, flat until the first signal. Decides after each bar's close,
    from bar `slow` (0-based) on, as backtesting.py starts calling next(). A change of
    direction closes the whole position, then opens the new one.

CAPITAL AND FILLS (defaults are backtesting.py's):
    --cash X            starting cash (default 10000)
    --size all|F|N      units per entry: `all` the available cash (default), a fraction F
                        in (0, 1) of it, or N whole units; entries are whole units, and one
                        the cash cannot pay for (commission included) is cancelled
    --commission-bps X  commission in basis points of each fill's notional (default 0)
    --commission-per-trade X
                        fixed commission per fill, in cash (default 0); both apply to
                        entries and exits alike (backtesting.py's commission=(fixed,
                        relative) is --commission-per-trade fixed --commission-bps
                        relative*10000)
    --fill RULE         where an order decided on bar i fills: next-open (default: the
                        open of bar i+1; for ticks the next tick's price), next-close (the
                        close of bar i+1) or same-close (the close of bar i, backtesting.py's
                        trade_on_close)
    --risk-limit X      stop trading when equity falls more than X (a fraction, 0.2 = 20%)
                        below its running peak: checked at every mark; the position is then
                        closed by the fill rule and nothing more trades (default: none)
    --bar N             mark to market (and check bankruptcy and the risk limit) every N
                        rows (default 1: every bar, or every tick)
    Leverage 1: a short needs the same cash as a long. Equity reaching 0 at a mark is
    bankruptcy: the position is closed at that close and the run stops, equity 0.

RUN:
    --metric NAME       what ranks the runs and colours the heatmap: sharpe (default),
                        sortino, return, drawdown, win-rate, exposure or trades
    --workers N         worker threads (default: available cores)
    --batch N           rows per market-data message (default 4096; results do not
                        depend on it)
    --out DIR           where the results files go (default ./results)
    --top N             rows of the results table (default 10)
    --crash-at TICK     fault injection: each strategy panics once on this tick; the
                        supervisor restarts the pipeline and results are unchanged
    --no-progress       never show the progress bar (it hides itself when stderr is not a
                        terminal)
    -h, --help          this text

DATA FILES:
    A header row names the columns, in any case; a UTF-8 byte-order mark is ignored.
      bars:   a time column, open, high, low, close (volume, adj close and other columns
              are read past): backtesting.py/pandas exports (`,Open,High,Low,Close,Volume`,
              the time in the unnamed first column), Yahoo `Date,Open,High,Low,Close,Adj
              Close,Volume`, `timestamp_ns,open,high,low,close[,volume]`,
              yfinance's three header lines (`Price,Close,...`, `Ticker,...`, `Date,...`)
              headerless Binance klines (time, open, high, low, close, volume, ...), and
              separate Date and Time columns (`2024.01.02,09:30`, as MetaTrader writes)
      ticks:  a time column and price: `timestamp_ns,price[,volume]`, `time,price`
    Times: ISO-8601 dates (2024-01-31) or date-times (2024-01-31T09:30:00, a space or a
    T, optional fraction, Z or +hh:mm offset; without one, UTC; also 20240131 unless
    --epoch-unit is given), or numbers since the Unix epoch in s, ms, us or ns (detected
    from their size, or --epoch-unit). With one offset
    throughout, daily returns use that local time's days; with changing offsets, UTC's.
    Rows must be in time order without duplicates; `null` rows are skipped. Prices
    finite and > 0; low <= open, close <= high.
    A malformed row stops the program with the file, the line number and what to do.

MARKET DATA FROM A JOURNAL:
    Handled or published records of the contract messages Quote (price: the mid of bid
    and ask, time: ts_ns) and Trade (price, ts_ns), or JSON records of an --md-type name
    with a price (price, px, last, close, or bid and ask) and optionally ts_ns and
    instrument. One actor, one kind, one instrument: when the journal holds several, the
    program lists them and asks for --md-actor, --md-kind, --md-instrument. Quotes with an
    empty side are skipped; records at the same time keep the last price. A gap in the
    journal or a damaged record stops the program with what and where.

STATISTICS (named and defined as in backtesting.py; see the README):
    Return [%], Buy & Hold Return [%], Max. Drawdown [%] (<= 0), Return (Ann.) [%],
    Volatility (Ann.) [%], Sharpe Ratio and Sortino Ratio (from daily returns of equity,
    365 or 252 days a year), # Trades (closed round trips), # Fills, Win Rate [%],
    Exposure Time [%].

OUTPUT:
    A table of the best runs by the metric (runs without a trade are ranked last and
    marked), warnings (runs without trades, windows longer than the data, cancelled
    entries), the throughput, and in --out: results.csv (every run's parameters,
    statistics and trace hash; deterministic: the same options write the same bytes),
    report.html (one self-contained page: the best run's equity and drawdown, a heatmap
    of the metric over fast and slow, the top runs), best_equity.png, and
    best_trades.csv, the best run's fills (bar,timestamp_ns,price,qty,fee).
";

#[derive(Debug)]
pub struct Options {
    pub data: Option<PathBuf>,
    pub journal: JournalData,
    pub data_is_journal: bool,
    pub epoch_unit: Option<EpochUnit>,
    pub ticks: usize,
    pub grid: String,
    pub fast: Option<Vec<u32>>,
    pub slow: Option<Vec<u32>>,
    pub band: Option<Vec<u32>>,
    pub workers: Option<usize>,
    pub seed: u64,
    pub out: PathBuf,
    pub top: usize,
    pub batch: usize,
    pub bar: usize,
    pub cash: f64,
    pub size: Sizing,
    pub commission_bps: f64,
    pub commission: f64,
    pub fill: FillAt,
    pub risk_limit: Option<f64>,
    pub metric: String,
    pub crash_at: Option<usize>,
    pub progress: bool,
}

pub const METRICS: &[&str] = &[
    "sharpe", "sortino", "return", "drawdown", "win-rate", "exposure", "trades",
];

impl Options {
    /// Parses `args` (without the program name). `Ok(None)` means help was asked for.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
        let mut o = Options {
            data: None,
            journal: JournalData::default(),
            data_is_journal: false,
            epoch_unit: None,
            ticks: 1_000_000,
            grid: "default".into(),
            fast: None,
            slow: None,
            band: None,
            workers: None,
            seed: 42,
            out: PathBuf::from("results"),
            top: 10,
            batch: 4096,
            bar: 1,
            cash: 10_000.0,
            size: Sizing::Equity(1.0),
            commission_bps: 0.0,
            commission: 0.0,
            fill: FillAt::NextOpen,
            risk_limit: None,
            metric: "sharpe".into(),
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
                "--data" => {
                    let v = value("--data")?;
                    o.data = Some(PathBuf::from(v.strip_prefix("journal:").unwrap_or(&v)));
                    o.data_is_journal = v.starts_with("journal:");
                }
                "--md-actor" => {
                    let v = value("--md-actor")?;
                    let (id, node) = v.split_once('@').unwrap_or((&v, "0"));
                    match (id.parse(), node.parse()) {
                        (Ok(id), Ok(node)) => o.journal.actor = Some(ActorAddr { node, id }),
                        _ => return Err(format!("--md-actor {v}: expected N or N@NODE (numbers)")),
                    }
                }
                "--md-kind" => {
                    let v = value("--md-kind")?;
                    o.journal.kind = Some(match v.as_str() {
                        "handled" => Kind::Handled,
                        "published" => Kind::Published,
                        _ => return Err(format!("--md-kind {v}: expected handled or published")),
                    })
                }
                "--md-instrument" => {
                    let v = value("--md-instrument")?;
                    o.journal.instrument = Some(
                        v.parse()
                            .map_err(|_| format!("--md-instrument {v}: expected a number"))?,
                    )
                }
                "--md-type" => {
                    o.journal.types = value("--md-type")?
                        .split(',')
                        .map(|t| t.trim().to_string())
                        .filter(|t| !t.is_empty())
                        .collect()
                }
                "--epoch-unit" => {
                    let v = value("--epoch-unit")?;
                    o.epoch_unit = Some(
                        EpochUnit::parse(&v)
                            .ok_or_else(|| format!("--epoch-unit {v}: expected s, ms, us or ns"))?,
                    )
                }
                "--ticks" => o.ticks = number("--ticks", &value("--ticks")?, 2)?,
                "--grid" => o.grid = value("--grid")?,
                "--fast" => o.fast = Some(range("--fast", &value("--fast")?, 1)?),
                "--slow" => o.slow = Some(range("--slow", &value("--slow")?, 2)?),
                "--band" => o.band = Some(range("--band", &value("--band")?, 0)?),
                "--workers" => o.workers = Some(number("--workers", &value("--workers")?, 1)?),
                "--seed" => o.seed = number("--seed", &value("--seed")?, 0)? as u64,
                "--out" => o.out = PathBuf::from(value("--out")?),
                "--top" => o.top = number("--top", &value("--top")?, 0)?,
                "--batch" => o.batch = number("--batch", &value("--batch")?, 1)?,
                "--bar" => o.bar = number("--bar", &value("--bar")?, 1)?,
                "--cash" => {
                    o.cash = float("--cash", &value("--cash")?)?;
                    if o.cash <= 0.0 {
                        return Err("--cash must be greater than 0".into());
                    }
                }
                "--size" => o.size = size(&value("--size")?)?,
                "--commission-bps" => {
                    o.commission_bps = float("--commission-bps", &value("--commission-bps")?)?
                }
                "--commission-per-trade" => {
                    o.commission =
                        float("--commission-per-trade", &value("--commission-per-trade")?)?
                }
                "--commission" => {
                    return Err(
                        "--commission is ambiguous: give --commission-bps (a share of \
                                the notional, in basis points) or --commission-per-trade (cash \
                                per fill)"
                            .into(),
                    )
                }
                "--fill" => {
                    let v = value("--fill")?;
                    o.fill = match v.as_str() {
                        "next-open" => FillAt::NextOpen,
                        "next-close" => FillAt::NextClose,
                        "same-close" => FillAt::SameClose,
                        _ => {
                            return Err(format!(
                                "--fill {v}: expected next-open, next-close or same-close"
                            ))
                        }
                    }
                }
                "--risk-limit" => {
                    let v = float("--risk-limit", &value("--risk-limit")?)?;
                    if !(v > 0.0 && v <= 1.0) {
                        return Err(format!(
                            "--risk-limit {v}: give a fraction in (0, 1], e.g. 0.2 for 20%"
                        ));
                    }
                    o.risk_limit = Some(v);
                }
                "--metric" => {
                    o.metric = value("--metric")?;
                    if !METRICS.contains(&o.metric.as_str()) {
                        return Err(format!(
                            "--metric {}: expected one of {}",
                            o.metric,
                            METRICS.join(", ")
                        ));
                    }
                }
                "--crash-at" => o.crash_at = Some(number("--crash-at", &value("--crash-at")?, 0)?),
                "--no-progress" => o.progress = false,
                other => return Err(format!("unknown option `{other}` (see --help)")),
            }
        }
        if o.fast.is_some() != o.slow.is_some() {
            return Err("give both --fast and --slow (and optionally --band)".into());
        }
        if o.band.is_some() && o.fast.is_none() {
            return Err("--band needs --fast and --slow".into());
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
    match v.replace('_', "").parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{name} {v}: expected a number >= 0")),
    }
}

fn size(v: &str) -> Result<Sizing, String> {
    if v == "all" {
        return Ok(Sizing::Equity(1.0));
    }
    let x = float("--size", v)?;
    if x > 0.0 && x < 1.0 {
        Ok(Sizing::Equity(x))
    } else if x >= 1.0 && x.fract() == 0.0 && x < 1e15 {
        Ok(Sizing::Units(x as u64))
    } else {
        Err(format!(
            "--size {v}: expected `all`, a fraction in (0, 1) or a whole number of units"
        ))
    }
}

/// `A:B:S` (A to B inclusive by S), `A,B,C` or `A`; every value at least `min`.
pub fn range(name: &str, v: &str, min: u32) -> Result<Vec<u32>, String> {
    let one = |s: &str| -> Result<u32, String> {
        let n: u32 = s
            .trim()
            .parse()
            .map_err(|_| format!("{name} {v}: `{s}` is not a whole number (A:B:S, A,B,C or A)"))?;
        if n < min {
            return Err(format!("{name} {v}: {n} is below the minimum {min}"));
        }
        Ok(n)
    };
    let out: Vec<u32> = if v.contains(':') {
        let parts: Vec<&str> = v.split(':').collect();
        let (a, b, s) = match parts[..] {
            [a, b] => (one(a)?, one(b)?, 1),
            [a, b, s] => (one(a)?, one(b)?, {
                let s: u32 = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name} {v}: bad step"))?;
                s
            }),
            _ => return Err(format!("{name} {v}: expected A:B:S")),
        };
        if s == 0 || a > b {
            return Err(format!(
                "{name} {v}: need a step >= 1 and a start <= the end"
            ));
        }
        (a..=b).step_by(s as usize).collect()
    } else {
        v.split(',').map(one).collect::<Result<_, _>>()?
    };
    if out.is_empty() || out.len() > 100_000 {
        return Err(format!("{name} {v}: gives {} values", out.len()));
    }
    Ok(out)
}
