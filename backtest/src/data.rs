//! Loading a series from a CSV file of ticks or OHLC bars.
//!
//! The first line is a header naming the columns, which picks the format:
//!
//! | Header | Rows |
//! | --- | --- |
//! | `timestamp_ns,price` or `timestamp_ns,price,volume` | one tick per row |
//! | `timestamp_ns,open,high,low,close` (optionally `,volume`) | one bar per row, replayed as one tick at its close |
//!
//! `timestamp_ns` is an unsigned integer (nanoseconds since any epoch), strictly increasing
//! from row to row. Prices are decimal numbers, finite and greater than 0; for a bar `low` is
//! at most `open`, `close` and `high`, and `high` at least all of them. `volume`, when
//! present, is a finite number ≥ 0 (read and checked, not used by the reference strategy).
//! Blank lines are skipped; `\r\n` line ends are accepted. Any other row is rejected with its
//! 1-based line number.

use std::fmt;
use std::path::Path;

use crate::Series;

/// Why a CSV file could not be loaded: the file, the 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// The file name as given.
    pub file: String,
    /// 1-based line number (0 when the file could not be read at all).
    pub line: usize,
    /// What is wrong, and what was expected.
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
    /// `timestamp_ns,price[,volume]`.
    Ticks,
    /// `timestamp_ns,open,high,low,close[,volume]`.
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

const TICK_COLUMNS: &[&str] = &["timestamp_ns", "price", "volume"];
const BAR_COLUMNS: &[&str] = &["timestamp_ns", "open", "high", "low", "close", "volume"];

/// Loads a CSV file of ticks or bars (see the [module docs](self) for the columns).
pub fn load_csv(path: impl AsRef<Path>) -> Result<(Series, DataFormat), DataError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| DataError {
        file: name.clone(),
        line: 0,
        what: format!("cannot read the file: {e}"),
    })?;
    parse_csv(&name, &text)
}

/// Parses CSV text of ticks or bars; `file` names it in errors.
pub fn parse_csv(file: &str, text: &str) -> Result<(Series, DataFormat), DataError> {
    let err = |line: usize, what: String| DataError {
        file: file.to_string(),
        line,
        what,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let (header_line, header) = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() => continue,
            Some(found) => break found,
            None => {
                return Err(err(
                    1,
                    format!(
                        "the file is empty: expected a header `{}` or `{}`",
                        TICK_COLUMNS.join(","),
                        BAR_COLUMNS.join(",")
                    ),
                ))
            }
        }
    };
    let names: Vec<String> = header
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let (format, columns) = if names == TICK_COLUMNS[..2] || names == TICK_COLUMNS {
        (DataFormat::Ticks, names.len())
    } else if names == BAR_COLUMNS[..5] || names == BAR_COLUMNS {
        (DataFormat::Bars, names.len())
    } else {
        return Err(err(
            header_line,
            format!(
                "unknown header `{header}`: expected `{}` (ticks) or `{}` (bars), `volume` optional",
                TICK_COLUMNS[..2].join(","),
                BAR_COLUMNS[..5].join(",")
            ),
        ));
    };
    let mut ts: Vec<u64> = Vec::new();
    let mut prices: Vec<f64> = Vec::new();
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns {
            return Err(err(
                n,
                format!(
                    "{} columns, expected {columns} ({})",
                    fields.len(),
                    names.join(",")
                ),
            ));
        }
        let t: u64 = fields[0].parse().map_err(|_| {
            err(
                n,
                format!("timestamp_ns `{}` is not an unsigned integer", fields[0]),
            )
        })?;
        if let Some(&prev) = ts.last() {
            if t <= prev {
                return Err(err(
                    n,
                    format!("timestamp_ns {t} is not after the previous row's {prev}: timestamps must be strictly increasing"),
                ));
            }
        }
        let number = |i: usize| -> Result<f64, DataError> {
            let v: f64 = fields[i]
                .parse()
                .map_err(|_| err(n, format!("{} `{}` is not a number", names[i], fields[i])))?;
            if !v.is_finite() {
                return Err(err(
                    n,
                    format!("{} is {}: it must be finite", names[i], fields[i]),
                ));
            }
            Ok(v)
        };
        let price = |i: usize| -> Result<f64, DataError> {
            let v = number(i)?;
            if v <= 0.0 {
                return Err(err(
                    n,
                    format!("{} is {v}: it must be greater than 0", names[i]),
                ));
            }
            Ok(v)
        };
        let close = match format {
            DataFormat::Ticks => price(1)?,
            DataFormat::Bars => {
                let (open, high, low, close) = (price(1)?, price(2)?, price(3)?, price(4)?);
                if low > open.min(close).min(high) || high < open.max(close) {
                    return Err(err(
                        n,
                        format!("inconsistent bar: open {open}, high {high}, low {low}, close {close} (need low <= open, close <= high)"),
                    ));
                }
                close
            }
        };
        if names.last().map(String::as_str) == Some("volume") {
            let v = number(columns - 1)?;
            if v < 0.0 {
                return Err(err(n, format!("volume is {v}: it must be 0 or more")));
            }
        }
        ts.push(t);
        prices.push(close);
    }
    if ts.is_empty() {
        return Err(err(
            header_line + 1,
            format!("no data rows after the header: expected at least one {format} row"),
        ));
    }
    let series = Series::new(ts, prices).map_err(|e| err(header_line, e.to_string()))?;
    Ok((series, format))
}
