//! Loading a series from a CSV file of OHLC bars or ticks, as files come.
//!
//! The first line is a header naming the columns; names are matched without regard to case,
//! spaces around them or quotes, and a UTF-8 byte-order mark before it is ignored:
//!
//! | Columns | Rows |
//! | --- | --- |
//! | a time column, `open`, `high`, `low`, `close` (any order, other columns such as `volume` or `adj close` read past) | one bar per row |
//! | a time column and `price` (or `close` without `open`) | one tick per row |
//!
//! The time column is the one named `timestamp_ns`, `timestamp`, `time`, `datetime`,
//! `date`, `ts` or nothing at all (the index column of a pandas or backtesting.py export,
//! `,Open,High,Low,Close,Volume`); Yahoo's `Date,Open,High,Low,Close,Adj Close,Volume` works
//! as it is (the strategy trades `Close`), and so does yfinance's three-line header
//! (`Price,Close,High,Low,Open,Volume`, `Ticker,...`, `Date,...`); a header that names a
//! price column twice (yfinance's download of several tickers), or the time column's name
//! twice, is refused. Times are:
//!
//! - ISO-8601 dates (`2024-01-31`) or date-times (`2024-01-31 09:30`, `2024-01-31T09:30:00`,
//!   with an optional fraction of a second and an optional `Z` or `+hh:mm`/`-hhmm` offset;
//!   without an offset, UTC); when every row has the same offset, the statistics take days
//!   and weekends in that local time ([`Series::with_utc_offset`]), as pandas does with a
//!   fixed-offset index; when offsets change (daylight saving), in UTC, with a warning, or
//! - ISO-8601 basic dates (`20240131`): an eight-digit number that is a valid date, when no
//!   epoch unit is given and no earlier row was read as an epoch number, or
//! - numbers since the Unix epoch: in nanoseconds under `timestamp_ns`, otherwise in the unit
//!   given ([`LoadOptions::epoch_unit`]) or detected from the size of the first one (below
//!   10^11 seconds, 10^14 milliseconds, 10^17 microseconds, else nanoseconds).
//!
//! Times lie from 1970-01-01 to 2262-04-11 UTC. Rows must be in time order without duplicates. Prices are finite and > 0; for a bar
//! `low <= open, close <= high`. A volume, when present, is empty or a finite number >= 0.
//! Blank lines are skipped, `\r\n` and `\r` line ends are accepted, and rows whose prices are all
//! missing (`null` or empty, as Yahoo and pandas write them) are skipped with a warning.
//! Separate `date` and `time` columns (`2024.01.02,09:30`) are read as one time.
//! A file without a header whose rows start with a time and four numbers (Binance klines) is
//! read as time, open, high, low, close, volume and more, with a warning.
//! Any other problem stops the load with its 1-based line number and what to do about it.
//! A last row without a line end that is shorter than the row before (fewer columns or
//! fewer digits) may be a cut download: it is flagged in [`Loaded::warnings`].
//!
//! The times are read in `data/times.rs`. A flight-recorder journal is read as market data
//! by [`load_journal`] (`data/journal.rs`).

use std::fmt;
use std::path::Path;

use crate::Series;

mod journal;
mod times;

pub use journal::{is_journal, load_journal, JournalData, JournalDataError};
/// The journal's names a [`JournalData`] is written with.
pub use mycelium_journal::{ActorAddr, Kind as RecordKind};

use times::parse_time;

/// Why a CSV file could not be loaded: the file, the 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// The file name as given.
    pub file: String,
    /// 1-based line number (0 when the file could not be read at all).
    pub line: usize,
    /// What is wrong, and what to do.
    pub what: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file, self.what),
            line => write!(f, "{}:{line}: {}", self.file, self.what),
        }
    }
}

impl std::error::Error for DataError {}

/// The two row formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    /// A time and a price per row.
    Ticks,
    /// A time, open, high, low and close per row.
    Bars,
}

impl fmt::Display for DataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataFormat::Ticks => "ticks",
            DataFormat::Bars => "bars",
        })
    }
}

/// The unit of numeric timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochUnit {
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

impl EpochUnit {
    /// `s`, `ms`, `us` (or `µs`) or `ns`.
    pub fn parse(s: &str) -> Option<EpochUnit> {
        Some(match s {
            "s" => EpochUnit::Seconds,
            "ms" => EpochUnit::Millis,
            "us" | "µs" => EpochUnit::Micros,
            "ns" => EpochUnit::Nanos,
            _ => return None,
        })
    }

    /// Nanoseconds per unit.
    pub fn nanos(self) -> u64 {
        match self {
            EpochUnit::Seconds => 1_000_000_000,
            EpochUnit::Millis => 1_000_000,
            EpochUnit::Micros => 1_000,
            EpochUnit::Nanos => 1,
        }
    }

    /// The unit a number of this size most likely has (dates from 1973 to 5138).
    pub fn detect(value: f64) -> EpochUnit {
        let v = value.abs();
        if v < 1e11 {
            EpochUnit::Seconds
        } else if v < 1e14 {
            EpochUnit::Millis
        } else if v < 1e17 {
            EpochUnit::Micros
        } else {
            EpochUnit::Nanos
        }
    }
}

/// How to read a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The unit of numeric timestamps (default: nanoseconds under `timestamp_ns`, else
    /// detected from the first row).
    pub epoch_unit: Option<EpochUnit>,
}

/// A loaded file.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The series (closes, and opens for bars).
    pub series: Series,
    /// Bars or ticks.
    pub format: DataFormat,
    /// Things worth a look that did not stop the load, each with its line.
    pub warnings: Vec<String>,
}

/// Loads a CSV file of bars or ticks with default options (see the [module docs](self)).
pub fn load_csv(path: impl AsRef<Path>) -> Result<(Series, DataFormat), DataError> {
    load(path, &LoadOptions::default()).map(|l| (l.series, l.format))
}

/// Loads a CSV file of bars or ticks.
pub fn load(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Loaded, DataError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DataError {
        file: name.clone(),
        line: 0,
        what: format!("cannot read the file: {e}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        DataError {
            file: name.clone(),
            line,
            what: "the file is not UTF-8 text: save it as UTF-8 CSV".into(),
        }
    })?;
    parse(&name, &text, options)
}

/// Parses CSV text of bars or ticks with default options; `file` names it in errors.
pub fn parse_csv(file: &str, text: &str) -> Result<(Series, DataFormat), DataError> {
    parse(file, text, &LoadOptions::default()).map(|l| (l.series, l.format))
}

const TIME_NAMES: &[&str] = &[
    "timestamp_ns",
    "timestamp",
    "time",
    "datetime",
    "date",
    "ts",
    "",
];

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s)
        .trim()
}

fn is_missing(s: &str) -> bool {
    s.is_empty() || s.eq_ignore_ascii_case("null")
}

/// Digits after the decimal point (or the length, for a field without one).
fn precision(s: &str) -> usize {
    match s.find('.') {
        Some(i) => s.len() - i - 1,
        None => s.len(),
    }
}

/// Parses CSV text of bars or ticks; `file` names it in errors.
pub fn parse(file: &str, text: &str, options: &LoadOptions) -> Result<Loaded, DataError> {
    let err = |line: usize, what: String| DataError {
        file: file.to_string(),
        line,
        what,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Classic Mac line ends, `\r` alone (Excel's "CSV (Macintosh)"), in a file without `\n`.
    let cr_only = !text.contains('\n') && text.contains('\r');
    let ends_with_newline = text.ends_with(if cr_only { '\r' } else { '\n' });
    let split: Box<dyn Iterator<Item = &str>> = if cr_only {
        Box::new(text.split('\r'))
    } else {
        Box::new(text.lines())
    };
    let mut lines = split
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .peekable();
    let (header_line, header) = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() => continue,
            Some(found) => break found,
            None => {
                return Err(err(
                    1,
                    "the file is empty: expected a header such as `Date,Open,High,Low,Close` \
                     or `timestamp_ns,price`"
                        .into(),
                ))
            }
        }
    };
    let mut names: Vec<String> = header
        .split(',')
        .map(|c| unquote(c).to_ascii_lowercase())
        .collect();
    // No header at all, as Binance writes klines: a time then open, high, low, close (and
    // volume and more), all numbers. The first line is then a row.
    let headerless = names.len() >= 5
        && parse_time(&names[0], &mut options.epoch_unit.clone()).is_ok()
        && names[1..5].iter().all(|v| v.parse::<f64>().is_ok());
    let mut pending_first = None;
    if headerless {
        pending_first = Some((header_line, header));
        names = ["time", "open", "high", "low", "close", "volume"]
            .iter()
            .map(|s| s.to_string())
            .chain((6..names.len()).map(|i| format!("column {}", i + 1)))
            .take(names.len())
            .collect();
    }
    // Semicolons (spreadsheets set to a decimal comma) or tabs: one column named after all.
    if names.len() == 1 {
        if let Some((sep, name)) = [(';', "semicolons"), ('\t', "tabs")]
            .into_iter()
            .find(|(c, _)| header.contains(*c))
        {
            return Err(err(
                header_line,
                format!(
                    "the header `{header}` separates its columns with {name}, not commas: save \
                     the file as comma-separated CSV (with `.` as the decimal point), e.g. with \
                     `tr '{}' ','` when no value holds a comma",
                    sep.escape_default()
                ),
            ));
        }
    }
    let find = |n: &str| names.iter().position(|c| c == n);
    // A `date` and a `time` column (`2024.01.02,09:30`, as MetaTrader exports) make one time.
    let time_of_day = match (find("date"), find("time")) {
        (Some(d), Some(t)) => Some((d, t)),
        _ => None,
    };
    let time = match time_of_day {
        Some((d, _)) => Some(d),
        None => TIME_NAMES.iter().find_map(|n| find(n)),
    };
    let (open, high, low, close, price) = (
        find("open"),
        find("high"),
        find("low"),
        find("close"),
        find("price"),
    );
    let volume = find("volume");
    // yfinance writes `Price,Close,High,Low,Open,Volume`, then a `Ticker,...` and a `Date,...`
    // line, then the rows with the dates in the first column.
    let yfinance = time.is_none()
        && names[0] == "price"
        && [open, high, low, close].iter().all(Option::is_some);
    let time = if yfinance { Some(0) } else { time };
    let Some(time) = time else {
        return Err(err(
            header_line,
            format!(
                "no time column in the header `{header}`: name it `Date`, `Time`, `Timestamp` or \
                 `timestamp_ns` (or leave the first column unnamed, as pandas does)"
            ),
        ));
    };
    let price = if yfinance { None } else { price };
    let (format, price_cols) = match (open, high, low, close, price) {
        (Some(o), Some(h), Some(l), Some(c), _) => (DataFormat::Bars, vec![o, h, l, c]),
        (_, _, _, _, Some(p)) => (DataFormat::Ticks, vec![p]),
        (None, _, _, Some(c), None) => (DataFormat::Ticks, vec![c]),
        _ => {
            return Err(err(
                header_line,
                format!(
                    "the header `{header}` has neither bar columns (open, high, low, close) nor \
                     a `price` column: name the columns, e.g. `Date,Open,High,Low,Close,Volume` \
                     or `timestamp_ns,price`"
                ),
            ))
        }
    };
    // Two columns of the time's name (a join of two files?): reading the first could pair
    // each row's prices with the wrong time without a word. (Unnamed columns are left alone:
    // a pandas index comes first, and a trailing comma leaves another unnamed column.)
    let time_cols = std::iter::once(time).chain(time_of_day.map(|(_, t)| t));
    if let Some(twice) = time_cols
        .filter(|&c| !names[c].is_empty())
        .find(|&c| names.iter().filter(|n| **n == names[c]).count() > 1)
    {
        return Err(err(
            header_line,
            format!(
                "the header `{header}` has more than one `{}` column: keep the one that holds \
                 the rows' times",
                names[twice]
            ),
        ));
    }
    // yfinance writes one `Close` (and `High`, ...) per ticker when it downloads several:
    // reading the first would be a backtest of one ticker without a word.
    if let Some(&twice) = price_cols
        .iter()
        .find(|&&c| names.iter().filter(|n| **n == names[c]).count() > 1)
    {
        return Err(err(
            header_line,
            format!(
                "the header `{header}` has more than one `{}` column (a download of several \
                 tickers?): keep the columns of one instrument, one file per instrument",
                names[twice]
            ),
        ));
    }
    let columns = names.len();
    let ns_column = names[time] == "timestamp_ns";
    let mut unit = if ns_column {
        Some(EpochUnit::Nanos)
    } else {
        options.epoch_unit
    };
    let mut ts: Vec<u64> = Vec::new();
    let mut opens: Vec<f64> = Vec::new();
    let mut closes: Vec<f64> = Vec::new();
    let (mut highs, mut lows, mut volumes): (Vec<f64>, Vec<f64>, Vec<f64>) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut warnings = Vec::new();
    let mut skipped: Option<(usize, usize)> = None;
    let mut utc_offset = 0i32;
    let mut mixed_offsets = false;
    let mut prev_line = 0usize;
    let mut prev_time = String::new();
    let mut prev_fields: Vec<String> = Vec::new();
    if headerless {
        warnings.push(format!(
            "{file}:{header_line}: no header: reading the columns as {} (as Binance writes \
             klines); add a header line to name them",
            names.iter().take(6).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    while let Some((n, line)) = pending_first.take().or_else(|| lines.next()) {
        if line.trim().is_empty() {
            continue;
        }
        let is_last = !ends_with_newline && lines.peek().is_none();
        let fields: Vec<&str> = line.split(',').map(unquote).collect();
        if fields.len() != columns {
            let cut = if is_last && fields.len() < columns {
                ": the file does not end with a line end, so its last line was probably cut \
                 short (an interrupted download?): download it again or remove the line"
            } else {
                ": every row needs a value for each column of the header (commas inside \
                 values are not supported)"
            };
            return Err(err(
                n,
                format!(
                    "{} columns, expected {columns} ({}){cut}",
                    fields.len(),
                    names.join(",")
                ),
            ));
        }
        if yfinance
            && ts.is_empty()
            && ["ticker", "date", "datetime"].contains(&fields[0].to_ascii_lowercase().as_str())
        {
            continue;
        }
        if price_cols.iter().all(|&c| is_missing(fields[c])) {
            skipped = Some(match skipped {
                Some((first, count)) => (first, count + 1),
                None => (n, 1),
            });
            continue;
        }
        let joined;
        let time_text = match time_of_day {
            Some((d, t)) => {
                joined = format!("{} {}", fields[d], fields[t]);
                joined.as_str()
            }
            None => fields[time],
        };
        let (t, written) = parse_time(time_text, &mut unit).map_err(|what| {
            err(
                n,
                format!("{} `{time_text}`: {what}", names_or(&names[time])),
            )
        })?;
        if let Some(&prev) = ts.last() {
            if t == prev {
                return Err(err(
                    n,
                    format!(
                        "time `{time_text}` is the same as on line {prev_line}: duplicate rows at \
                         lines {prev_line} and {n}; remove one of them"
                    ),
                ));
            }
            if t < prev {
                return Err(err(
                    n,
                    format!(
                        "time `{time_text}` is before the time on line {prev_line} \
                         (`{prev_time}`): rows must be in time order; sort the file by time, \
                         oldest first"
                    ),
                ));
            }
        }
        let number = |i: usize| -> Result<f64, DataError> {
            let what = names_or(&names[i]);
            let v: f64 = fields[i]
                .parse()
                .map_err(|_| err(n, format!("{what} `{}` is not a number", fields[i])))?;
            if !v.is_finite() {
                return Err(err(
                    n,
                    format!("{what} is {}: it must be finite", fields[i]),
                ));
            }
            Ok(v)
        };
        let price = |i: usize| -> Result<f64, DataError> {
            let v = number(i)?;
            if v <= 0.0 {
                return Err(err(
                    n,
                    format!("{} is {v}: it must be greater than 0", names_or(&names[i])),
                ));
            }
            Ok(v)
        };
        let (o, h, l, c) = match format {
            DataFormat::Ticks => {
                let p = price(price_cols[0])?;
                (p, p, p, p)
            }
            DataFormat::Bars => {
                let (o, h, l, c) = (
                    price(price_cols[0])?,
                    price(price_cols[1])?,
                    price(price_cols[2])?,
                    price(price_cols[3])?,
                );
                if l > o.min(c).min(h) || h < o.max(c) {
                    return Err(err(
                        n,
                        format!(
                            "inconsistent bar: open {o}, high {h}, low {l}, close {c} (need low \
                             <= open, close <= high): fix or remove the row"
                        ),
                    ));
                }
                (o, h, l, c)
            }
        };
        if let Some(v) = volume {
            let x = if fields[v].is_empty() {
                0.0
            } else {
                number(v)?
            };
            if x < 0.0 {
                return Err(err(n, format!("volume is {x}: it must be 0 or more")));
            }
            volumes.push(x);
        }
        if is_last && !prev_fields.is_empty() {
            // Decimals: fewer digits after the point; whole numbers (a volume): two digits
            // fewer or more; times: a shorter text.
            let shorter = (0..columns).find(|&i| {
                let (now, before) = (fields[i], prev_fields[i].as_str());
                if i == time {
                    return now.len() < before.len();
                }
                if now.parse::<f64>().is_err() || before.parse::<f64>().is_err() {
                    return false;
                }
                match (now.contains('.'), before.contains('.')) {
                    (true, true) => precision(now) < precision(before),
                    (false, false) => now.len() + 1 < before.len(),
                    (false, true) => true,
                    (true, false) => false,
                }
            });
            if let Some(i) = shorter {
                warnings.push(format!(
                    "{file}:{n}: the last line has no line end and its {} `{}` is shorter than \
                     on the line before (`{}`): the file may have been cut short; check its end",
                    names_or(&names[i]),
                    fields[i],
                    prev_fields[i]
                ));
            }
        }
        let written = written.unwrap_or(0);
        if ts.is_empty() {
            utc_offset = written;
        } else if written != utc_offset && !mixed_offsets {
            mixed_offsets = true;
            warnings.push(format!(
                "{file}:{n}: the times change their UTC offset here (daylight saving?): the days \
                 of the statistics are taken in UTC, as pandas does with `utc=True`"
            ));
        }
        ts.push(t);
        opens.push(o);
        highs.push(h);
        lows.push(l);
        closes.push(c);
        prev_line = n;
        prev_time = time_text.to_string();
        prev_fields = fields.iter().map(|s| s.to_string()).collect();
    }
    if let Some((first, count)) = skipped {
        warnings.push(format!(
            "{file}:{first}: skipped {count} row(s) without prices (null or empty), the first \
             on this line"
        ));
    }
    if ts.is_empty() {
        return Err(err(
            header_line + 1,
            format!("no data rows after the header: expected at least one {format} row"),
        ));
    }
    let series = match format {
        DataFormat::Bars => Series::bars(ts, opens, closes).and_then(|s| s.with_range(highs, lows)),
        DataFormat::Ticks => Series::new(ts, closes),
    }
    .and_then(|s| {
        if volume.is_some() {
            s.with_volume(volumes)
        } else {
            Ok(s)
        }
    })
    .map_err(|e| err(header_line, e.to_string()))?
    .with_utc_offset(if mixed_offsets { 0 } else { utc_offset });
    Ok(Loaded {
        series,
        format,
        warnings,
    })
}

fn names_or(name: &str) -> &str {
    if name.is_empty() {
        "the time (first column)"
    } else {
        name
    }
}
