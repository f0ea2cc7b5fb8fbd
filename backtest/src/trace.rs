//! `Trace`: a stable hash of everything a run did, to compare runs byte for byte.

use std::fmt;

/// A running FNV-1a (64-bit) hash of a run's events: fills, halts, final metrics. FNV-1a is
/// fixed by its definition, unlike `std`'s `DefaultHasher`, whose output may change between
/// Rust releases; two runs with equal traces have equal hashes on every build.
///
/// ```
/// use mycelium_backtest::Trace;
/// let mut a = Trace::new();
/// a.record("fill", &[1u64.to_le_bytes(), 2.5f64.to_bits().to_le_bytes()]);
/// let mut b = Trace::new();
/// b.record("fill", &[1u64.to_le_bytes(), 2.5f64.to_bits().to_le_bytes()]);
/// assert_eq!(a.hash(), b.hash());
/// assert_eq!(a.events(), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Trace {
    state: u64,
    events: u64,
}

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Trace {
            state: OFFSET,
            events: 0,
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state ^= u64::from(b);
            self.state = self.state.wrapping_mul(PRIME);
        }
    }

    /// Records one event: a kind and its fields, each as 8 little-endian bytes (write floats
    /// with `to_bits`, so the hash sees every bit).
    pub fn record(&mut self, kind: &str, fields: &[[u8; 8]]) {
        self.bytes(kind.as_bytes());
        self.bytes(&[0xff]);
        for f in fields {
            self.bytes(f);
        }
        self.events += 1;
    }

    /// The hash of everything recorded so far.
    pub fn hash(&self) -> u64 {
        self.state
    }

    /// How many events were recorded.
    pub fn events(&self) -> u64 {
        self.events
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Trace({:016x}, {} events)", self.state, self.events)
    }
}

/// FNV-1a of arbitrary bytes, e.g. a results file.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut t = Trace::new();
    t.bytes(bytes);
    t.state
}
