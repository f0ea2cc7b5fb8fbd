//! Shards: a sweep split into subsets of its grid that run anywhere (other threads, other
//! processes, other hosts) and merge back into the report of the whole sweep, in grid order.
//!
//! A grid point's result depends only on its parameters, the shared data, the run settings
//! and its bus seed, which [`run_seed`](crate::run_seed) derives from the sweep seed and the
//! point's index in the grid. A shard therefore gives the same results wherever it runs, and
//! merging the shards of a grid gives the same report, row for row, as one process running
//! the whole grid. [`encode_series`] and [`decode_series`] carry a [`Series`] between
//! processes bit for bit.
//!
//! A shard's results travel as rows of the results CSV (`results::write_row`, what
//! `results::write_csv` writes per row), not as Arrow record batches: the output to reproduce
//! is that CSV, so one formatter on every worker makes the merged file byte-identical by
//! construction (floats as Rust's shortest round-trip text), where Arrow would carry `f64`s
//! that something would still have to print exactly as Rust does. A row is about 250 bytes,
//! small next to the run that made it.

use std::collections::BTreeSet;
use std::ops::Range;
use std::time::Duration;

use crate::{Series, SeriesError, SweepReport};

/// A subset of a sweep's grid: indices into the grid, run in the order given
/// ([`Sweep::run_shard`](crate::Sweep::run_shard)).
///
/// ```
/// use mycelium_backtest::Shard;
///
/// let shards = Shard::split(10, 4);
/// assert_eq!(shards.len(), 3);
/// assert_eq!(shards[2].indices(), &[8, 9]);
/// assert_eq!(Shard::range(3..5), Shard::new([3, 4]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    indices: Vec<usize>,
}

/// Why a shard cannot run on a grid. Nothing of it ran.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// The shard names no grid point.
    #[error("the shard is empty: give at least one grid index")]
    Empty,
    /// An index is outside the grid.
    #[error("grid index {index} is unknown: the grid has {len} point(s), indices 0..{len}; build the shards from this grid's length")]
    UnknownIndex {
        /// The index given.
        index: usize,
        /// The number of grid points.
        len: usize,
    },
    /// An index is named twice.
    #[error("grid index {index} is in the shard twice: give each index once")]
    Duplicate {
        /// The index given twice.
        index: usize,
    },
}

/// Why shard reports do not merge into the report of a whole grid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// No shard holds this grid point.
    #[error("no shard holds grid index {index} (of {len}): run the missing shard and merge again")]
    Missing {
        /// The first missing index.
        index: usize,
        /// The number of grid points.
        len: usize,
    },
    /// Two shards (or one shard twice) hold this grid point.
    #[error("grid index {index} is in more than one shard: merge each shard once")]
    Duplicate {
        /// The index found twice.
        index: usize,
    },
    /// A shard holds a point outside the grid.
    #[error("grid index {index} is outside the grid of {len} point(s): these shards are of another grid")]
    OutOfRange {
        /// The index found.
        index: usize,
        /// The number of grid points.
        len: usize,
    },
}

impl Shard {
    /// A shard of these grid indices, run in this order.
    pub fn new(indices: impl IntoIterator<Item = usize>) -> Shard {
        Shard {
            indices: indices.into_iter().collect(),
        }
    }

    /// A shard of the contiguous indices `range`.
    pub fn range(range: Range<usize>) -> Shard {
        Shard::new(range)
    }

    /// A grid of `len` points cut into contiguous shards of `size` points (the last one
    /// shorter); `size` 0 counts as 1. No shard for an empty grid.
    pub fn split(len: usize, size: usize) -> Vec<Shard> {
        let size = size.max(1);
        (0..len)
            .step_by(size)
            .map(|start| Shard::range(start..(start + size).min(len)))
            .collect()
    }

    /// The grid indices, in run order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// Number of grid points in the shard.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True for a shard of no point.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Checks the shard against a grid of `len` points: not empty, every index in the grid,
    /// none twice.
    pub fn check(&self, len: usize) -> Result<(), ShardError> {
        if self.indices.is_empty() {
            return Err(ShardError::Empty);
        }
        let mut seen = BTreeSet::new();
        for &index in &self.indices {
            if index >= len {
                return Err(ShardError::UnknownIndex { index, len });
            }
            if !seen.insert(index) {
                return Err(ShardError::Duplicate { index });
            }
        }
        Ok(())
    }
}

impl<P, R> SweepReport<P, R> {
    /// The report of a whole grid of `len` points from the reports of its shards, in any
    /// order: one outcome per grid point, in grid order. Its `elapsed` is the sum of the
    /// shards' (the compute time spent, not the wall time of a parallel run) and its
    /// `workers` the most any shard used.
    ///
    /// # Errors
    ///
    /// [`MergeError`] if a grid point is in no shard, in two, or outside the grid.
    pub fn merge(
        len: usize,
        parts: impl IntoIterator<Item = SweepReport<P, R>>,
    ) -> Result<SweepReport<P, R>, MergeError> {
        let mut slots: Vec<Option<crate::RunOutcome<P, R>>> = (0..len).map(|_| None).collect();
        let mut elapsed = Duration::ZERO;
        let mut workers = 0;
        for part in parts {
            elapsed += part.elapsed;
            workers = workers.max(part.workers);
            for run in part.runs {
                let index = run.index;
                match slots.get_mut(index) {
                    None => return Err(MergeError::OutOfRange { index, len }),
                    Some(Some(_)) => return Err(MergeError::Duplicate { index }),
                    Some(slot) => *slot = Some(run),
                }
            }
        }
        let mut runs = Vec::with_capacity(len);
        for (index, slot) in slots.into_iter().enumerate() {
            runs.push(slot.ok_or(MergeError::Missing { index, len })?);
        }
        Ok(SweepReport {
            runs,
            elapsed,
            workers,
        })
    }
}

/// Why bytes do not decode into a [`Series`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not start as [`encode_series`] starts them.
    #[error("not an encoded series (bad magic or version): encode it with encode_series of this version")]
    Format,
    /// The bytes are not as long as their header says (cut short, or with a tail).
    #[error("the encoded series has {got} bytes where its header announces {want}: it was cut or altered on the way")]
    Length {
        /// Bytes given.
        got: usize,
        /// Bytes the header announces.
        want: usize,
    },
    /// The columns decode but do not make a valid series.
    #[error("the encoded series is invalid: {0}")]
    Invalid(#[from] SeriesError),
}

const MAGIC: &[u8; 8] = b"MYCSER01";

/// A series as bytes, every value bit for bit (little-endian): timestamps, prices, bar opens
/// if it has its own, highs and lows and volumes if it has them, and the UTC offset of its
/// local time. [`decode_series`] reads it back equal.
///
/// ```
/// use mycelium_backtest::{decode_series, encode_series, Series};
///
/// let s = Series::synthetic(3, 500);
/// assert_eq!(decode_series(&encode_series(&s)).unwrap(), s);
/// ```
pub fn encode_series(series: &Series) -> Vec<u8> {
    let n = series.len();
    let bars = series.has_opens();
    let range = series.has_range();
    let volumes = series.volumes();
    let flags = u8::from(bars) | u8::from(range) << 1 | u8::from(volumes.is_some()) << 2;
    let columns = 2 + usize::from(bars) + 2 * usize::from(range) + usize::from(volumes.is_some());
    let mut out = Vec::with_capacity(25 + n * 8 * columns);
    out.extend_from_slice(MAGIC);
    out.push(flags);
    out.extend_from_slice(&series.utc_offset_ns().to_le_bytes());
    out.extend_from_slice(&(n as u64).to_le_bytes());
    for t in series.timestamps() {
        out.extend_from_slice(&t.to_le_bytes());
    }
    let mut floats = |column: &mut dyn Iterator<Item = f64>| {
        for p in column {
            out.extend_from_slice(&p.to_bits().to_le_bytes());
        }
    };
    floats(&mut series.prices().iter().copied());
    if bars {
        floats(&mut series.opens().iter().copied());
    }
    if range {
        floats(&mut (0..n).map(|i| series.high(i)));
        floats(&mut (0..n).map(|i| series.low(i)));
    }
    if let Some(v) = volumes {
        floats(&mut v.iter().copied());
    }
    out
}

/// Reads back a series written by [`encode_series`], checked like [`Series::new`].
///
/// # Errors
///
/// [`DecodeError`] for bytes that are not an encoded series, are cut short, or hold columns
/// that are not a valid series.
pub fn decode_series(bytes: &[u8]) -> Result<Series, DecodeError> {
    const HEAD: usize = 8 + 1 + 8 + 8;
    if bytes.len() < HEAD || &bytes[..8] != MAGIC || bytes[8] > 7 {
        return Err(DecodeError::Format);
    }
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let (bars, range, volume) = (bytes[8] & 1 != 0, bytes[8] & 2 != 0, bytes[8] & 4 != 0);
    if range && !bars {
        return Err(DecodeError::Format);
    }
    let offset_ns = word(9) as i64;
    let n = word(17);
    let columns = 2 + u64::from(bars) + 2 * u64::from(range) + u64::from(volume);
    let want = n
        .checked_mul(8 * columns)
        .and_then(|b| b.checked_add(HEAD as u64))
        .and_then(|b| usize::try_from(b).ok());
    let n = n as usize;
    match want {
        Some(want) if bytes.len() == want => {}
        Some(want) => {
            return Err(DecodeError::Length {
                got: bytes.len(),
                want,
            })
        }
        None => return Err(DecodeError::Format),
    }
    let column = |k: usize| (0..n).map(move |i| word(HEAD + (k * n + i) * 8));
    let floats = |k: usize| -> Vec<f64> { column(k).map(f64::from_bits).collect() };
    let ts: Vec<u64> = column(0).collect();
    let mut series = if bars {
        Series::bars(ts, floats(2), floats(1))?
    } else {
        Series::new(ts, floats(1))?
    };
    let mut next = 2 + usize::from(bars);
    if range {
        series = series.with_range(floats(next), floats(next + 1))?;
        next += 2;
    }
    if volume {
        series = series.with_volume(floats(next))?;
    }
    if offset_ns % 1_000_000_000 != 0 {
        return Err(DecodeError::Format);
    }
    let secs = i32::try_from(offset_ns / 1_000_000_000).map_err(|_| DecodeError::Format)?;
    Ok(series.with_utc_offset(secs))
}
