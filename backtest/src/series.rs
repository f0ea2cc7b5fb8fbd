//! `Series`: a read-only price series shared by every run of a sweep.

use std::sync::OnceLock;

use mycelium_actors::DetRng;

use crate::metrics::Annualisation;

/// A price series held as a struct of arrays: timestamps in nanoseconds since the Unix
/// epoch (strictly increasing), prices (the closes, finite, > 0) and, for bars, opens. Built
/// once and shared between buses by `Arc`, never copied per run.
///
/// ```
/// use mycelium_backtest::Series;
///
/// let s = Series::synthetic(7, 1_000);
/// assert_eq!(s.len(), 1_000);
/// assert_eq!(s, Series::synthetic(7, 1_000)); // same seed, same series
/// assert!(s.timestamps().windows(2).all(|w| w[0] < w[1]));
/// ```
#[derive(Clone, Debug)]
pub struct Series {
    ts: Vec<u64>,
    price: Vec<f64>,
    /// Bar opens, for bar data (`None` for ticks: a tick's open is its price).
    open: Option<Vec<f64>>,
    /// Bar highs and lows, for bar data that has them (`None`: a bar's range is its open
    /// and close, a tick's its price).
    range: Option<(Vec<f64>, Vec<f64>)>,
    /// Bar (or tick) volumes, when the data has them.
    volume: Option<Vec<f64>>,
    /// The UTC offset of the data's local time (from its timestamps' `+hh:mm`), for the
    /// calendar of daily returns.
    utc_offset_ns: i64,
    /// Computed once, on first use, for every run that shares the series.
    annual: OnceLock<Annualisation>,
    /// The same: the price range and end of each block of ticks, for the account's marks.
    blocks: OnceLock<PriceBlocks>,
}

/// The lowest and the highest price of each whole block of ticks of a series, and the time
/// of its last tick, at two sizes: [`PriceBlocks::COARSE`] and [`PriceBlocks::FINE`] ticks
/// (blocks start at tick 0; a last, shorter block has none).
///
/// Why: an open position's account is marked at every tick, and its equity,
/// `cash + (close * position - base)`, is monotonic in the close (each rounded operation
/// is), so a block's two extreme prices bound the equity of every tick in it. When the
/// bounds show neither a new peak nor a drawdown past the one to look at, and the block ends
/// before the period does, the marks pass the block over: the same results, bit for bit,
/// without reading its ticks. The fine blocks serve where a coarse one cannot be passed over
/// whole and where the marks start between two coarse blocks.
#[derive(Clone, Debug)]
pub(crate) struct PriceBlocks {
    coarse: Vec<Block>,
    fine: Vec<Block>,
}

/// One block of [`PriceBlocks`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Block {
    /// The lowest price.
    pub lo: f64,
    /// The highest price.
    pub hi: f64,
    /// The time of the last tick.
    pub end: u64,
}

impl PriceBlocks {
    /// Ticks per coarse block.
    pub(crate) const COARSE: usize = 64;
    /// Ticks per fine block (a coarse block holds a whole number of them).
    pub(crate) const FINE: usize = 8;

    fn of(ts: &[u64], price: &[f64]) -> PriceBlocks {
        let fine: Vec<Block> = price
            .chunks_exact(Self::FINE)
            .zip(ts.chunks_exact(Self::FINE))
            .map(|(p, t)| Block {
                lo: p.iter().fold(f64::INFINITY, |lo, &x| lo.min(x)),
                hi: p.iter().fold(f64::NEG_INFINITY, |hi, &x| hi.max(x)),
                end: t[Self::FINE - 1],
            })
            .collect();
        // Each coarse block is the fine blocks it holds.
        let coarse = fine
            .chunks_exact(Self::COARSE / Self::FINE)
            .map(|f| Block {
                lo: f.iter().fold(f64::INFINITY, |lo, b| lo.min(b.lo)),
                hi: f.iter().fold(f64::NEG_INFINITY, |hi, b| hi.max(b.hi)),
                end: f[f.len() - 1].end,
            })
            .collect();
        PriceBlocks { coarse, fine }
    }

    /// Coarse block `b` (ticks `b * COARSE..(b + 1) * COARSE`), if the series has it whole.
    #[inline]
    pub(crate) fn coarse(&self, b: usize) -> Option<&Block> {
        self.coarse.get(b)
    }

    /// Fine block `b` (ticks `b * FINE..(b + 1) * FINE`), if the series has it whole.
    #[inline]
    pub(crate) fn fine(&self, b: usize) -> Option<&Block> {
        self.fine.get(b)
    }
}

impl PartialEq for Series {
    fn eq(&self, other: &Series) -> bool {
        self.ts == other.ts
            && self.price == other.price
            && self.open == other.open
            && self.range == other.range
            && self.volume == other.volume
            && self.utc_offset_ns == other.utc_offset_ns
    }
}

/// Why a series could not be built from columns.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesError {
    /// The two columns differ in length.
    #[error("{timestamps} timestamps but {prices} prices: the columns must be the same length")]
    LengthMismatch {
        /// Timestamps given.
        timestamps: usize,
        /// Prices given.
        prices: usize,
    },
    /// A timestamp is not after the one before it.
    #[error("tick {index}: timestamp {ts} is not after the previous one ({prev})")]
    NotIncreasing {
        /// 0-based index of the tick.
        index: usize,
        /// Its timestamp.
        ts: u64,
        /// The one before.
        prev: u64,
    },
    /// A price is not finite or not positive.
    #[error("tick {index}: price {price} must be finite and greater than 0")]
    BadPrice {
        /// 0-based index of the tick.
        index: usize,
        /// The price.
        price: f64,
    },
    /// A bar's high or low is not finite, or does not contain its open and close.
    #[error(
        "bar {index}: high {high} and low {low} must be finite, > 0 and contain the open and close"
    )]
    BadRange {
        /// 0-based index of the bar.
        index: usize,
        /// Its high.
        high: f64,
        /// Its low.
        low: f64,
    },
    /// No ticks at all.
    #[error("a series needs at least one tick")]
    Empty,
}

impl Series {
    /// A series from its columns, checked: same lengths, timestamps strictly increasing,
    /// prices finite and positive, at least one tick.
    pub fn new(ts: Vec<u64>, price: Vec<f64>) -> Result<Series, SeriesError> {
        if ts.len() != price.len() {
            return Err(SeriesError::LengthMismatch {
                timestamps: ts.len(),
                prices: price.len(),
            });
        }
        if ts.is_empty() {
            return Err(SeriesError::Empty);
        }
        for i in 1..ts.len() {
            if ts[i] <= ts[i - 1] {
                return Err(SeriesError::NotIncreasing {
                    index: i,
                    ts: ts[i],
                    prev: ts[i - 1],
                });
            }
        }
        if let Some(index) = price.iter().position(|p| !(p.is_finite() && *p > 0.0)) {
            return Err(SeriesError::BadPrice {
                index,
                price: price[index],
            });
        }
        Ok(Series {
            ts,
            price,
            open: None,
            range: None,
            volume: None,
            utc_offset_ns: 0,
            annual: OnceLock::new(),
            blocks: OnceLock::new(),
        })
    }

    /// A series of bars from its columns: timestamps, opens and closes, checked like
    /// [`Series::new`] (the opens too: same length, finite, > 0). Orders can then fill at a
    /// bar's open (see [`pipeline::FillAt`](crate::pipeline::FillAt)).
    pub fn bars(ts: Vec<u64>, open: Vec<f64>, close: Vec<f64>) -> Result<Series, SeriesError> {
        if open.len() != close.len() {
            return Err(SeriesError::LengthMismatch {
                timestamps: open.len(),
                prices: close.len(),
            });
        }
        if let Some(index) = open.iter().position(|p| !(p.is_finite() && *p > 0.0)) {
            return Err(SeriesError::BadPrice {
                index,
                price: open[index],
            });
        }
        let mut s = Series::new(ts, close)?;
        s.open = Some(open);
        Ok(s)
    }

    /// The same bars with their highs and lows, checked: one per bar, finite, and
    /// `low <= min(open, close)`, `max(open, close) <= high`. Stop and limit orders, stop
    /// losses and take profits trigger on a bar's range.
    pub fn with_range(mut self, high: Vec<f64>, low: Vec<f64>) -> Result<Series, SeriesError> {
        for column in [&high, &low] {
            if column.len() != self.len() {
                return Err(SeriesError::LengthMismatch {
                    timestamps: self.len(),
                    prices: column.len(),
                });
            }
        }
        let opens = self.opens();
        for i in 0..self.len() {
            let (o, c, h, l) = (opens[i], self.price[i], high[i], low[i]);
            if !(l.is_finite() && h.is_finite() && l > 0.0 && l <= o.min(c) && h >= o.max(c)) {
                return Err(SeriesError::BadRange {
                    index: i,
                    high: h,
                    low: l,
                });
            }
        }
        self.range = Some((high, low));
        self.blocks = OnceLock::new();
        Ok(self)
    }

    /// The same series with a volume per row (finite, >= 0).
    pub fn with_volume(mut self, volume: Vec<f64>) -> Result<Series, SeriesError> {
        if volume.len() != self.len() {
            return Err(SeriesError::LengthMismatch {
                timestamps: self.len(),
                prices: volume.len(),
            });
        }
        if let Some(index) = volume.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(SeriesError::BadPrice {
                index,
                price: volume[index],
            });
        }
        self.volume = Some(volume);
        Ok(self)
    }

    /// The high of bar `i`: the data's, or the larger of its open and close (a tick's price).
    pub fn high(&self, i: usize) -> f64 {
        match &self.range {
            Some((h, _)) => h[i],
            None => self.opens()[i].max(self.price[i]),
        }
    }

    /// The low of bar `i`: the data's, or the smaller of its open and close.
    pub fn low(&self, i: usize) -> f64 {
        match &self.range {
            Some((_, l)) => l[i],
            None => self.opens()[i].min(self.price[i]),
        }
    }

    /// Whether the bars have highs and lows of their own ([`Series::with_range`]).
    pub fn has_range(&self) -> bool {
        self.range.is_some()
    }

    /// The volumes, when the data has them.
    pub fn volumes(&self) -> Option<&[f64]> {
        self.volume.as_deref()
    }

    /// A seeded synthetic series of `len` ticks (at least one): a random walk whose drift
    /// itself wanders (a slowly mean-reverting trend), so trend-following and
    /// mean-reverting rules both find something to trade. Ticks are 30 to 90 s apart (a
    /// million of them span about two years), starting at 2024-01-01T00:00:00Z; prices start
    /// at 100 with a volatility of about 0.04% a tick (~30% a year). Pure integer and `+ - * /`
    /// arithmetic on a [`DetRng`]: the same seed gives the same series, bit for bit.
    pub fn synthetic(seed: u64, len: usize) -> Series {
        const START_NS: u64 = 1_704_067_200_000_000_000;
        let len = len.max(1);
        let mut rng = DetRng::derive(seed, 0x5E81E5);
        let mut ts = Vec::with_capacity(len);
        let mut price = Vec::with_capacity(len);
        let mut t = START_NS;
        let mut p = 100.0f64;
        let mut drift = 0.0f64;
        for _ in 0..len {
            ts.push(t);
            price.push(p);
            t += 1_000_000_000 * (30 + rng.next_u64() % 61);
            // Irwin-Hall: the sum of four uniforms, centred, is close enough to a normal draw
            // and needs no transcendental function (whose last bit may differ by platform).
            let z = |rng: &mut DetRng| {
                (rng.next_f64() + rng.next_f64() + rng.next_f64() + rng.next_f64() - 2.0) * 1.732
            };
            drift = 0.999_95 * drift + 0.000_000_02 * z(&mut rng);
            let step = drift + 0.000_4 * z(&mut rng);
            p *= 1.0 + step;
            // Keep the walk in a sane band so a long series never reaches zero.
            p = p.clamp(1.0, 10_000.0);
        }
        Series {
            ts,
            price,
            open: None,
            range: None,
            volume: None,
            utc_offset_ns: 0,
            annual: OnceLock::new(),
            blocks: OnceLock::new(),
        }
    }

    /// Number of ticks.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Always false: a series has at least one tick.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Timestamps, nanoseconds, strictly increasing.
    pub fn timestamps(&self) -> &[u64] {
        &self.ts
    }

    /// Prices (the close of each bar), finite and positive.
    pub fn prices(&self) -> &[f64] {
        &self.price
    }

    /// How returns over this series are annualised (see [`Annualisation::of`]), computed
    /// once.
    pub fn annualisation(&self) -> Annualisation {
        *self
            .annual
            .get_or_init(|| Annualisation::of_local(&self.ts, self.utc_offset_ns))
    }

    /// The price range and end of each block of ticks ([`PriceBlocks`]), computed once.
    pub(crate) fn price_blocks(&self) -> &PriceBlocks {
        self.blocks
            .get_or_init(|| PriceBlocks::of(&self.ts, &self.price))
    }

    /// The same series, whose local time is `offset_secs` ahead of UTC (negative: behind):
    /// days, weeks and weekends of the statistics are then those of that local time, as
    /// pandas groups a time-zone-aware index.
    pub fn with_utc_offset(mut self, offset_secs: i32) -> Series {
        self.utc_offset_ns = i64::from(offset_secs) * 1_000_000_000;
        self.annual = OnceLock::new();
        self
    }

    /// The offset set by [`Series::with_utc_offset`], in nanoseconds (0: UTC).
    pub fn utc_offset_ns(&self) -> i64 {
        self.utc_offset_ns
    }

    /// Opens of each bar; for ticks, the prices themselves.
    pub fn opens(&self) -> &[f64] {
        self.open.as_deref().unwrap_or(&self.price)
    }

    /// True when the series holds bars with their own opens.
    pub fn has_opens(&self) -> bool {
        self.open.is_some()
    }

    /// Time from the first tick to tick `index`, in nanoseconds: where the bus clock stands
    /// when the tick is replayed.
    pub fn offset_ns(&self, index: usize) -> u64 {
        self.ts[index] - self.ts[0]
    }

    /// Mean spacing between ticks in nanoseconds (1 for a single tick).
    pub fn mean_spacing_ns(&self) -> f64 {
        if self.len() < 2 {
            return 1.0;
        }
        self.offset_ns(self.len() - 1) as f64 / (self.len() - 1) as f64
    }
}
