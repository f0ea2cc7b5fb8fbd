//! Market data from a flight-recorder journal: a recorded live run backtested through the
//! same pipeline as a CSV file.
//!
//! **What counts as market data.** A record of kind `handled` or `published` whose message
//! is a quote or a trade:
//!
//! - the contract messages `Quote` (type id 100: the price is the mid, `(bid_px + ask_px) / 2`)
//!   and `Trade` (type id 110: its `price`), each with its own `ts_ns` as the time and its
//!   `instrument`;
//! - a JSON record (an in-process type recorded with `Recording::serde`) named in
//!   [`JournalData::types`] (by default `Quote`, `Trade` and `Tick`) whose payload is an
//!   object with a price (`price`, `px`, `last` or `close`, or `bid_px`/`bid` and
//!   `ask_px`/`ask` for the mid), and optionally a time (`ts_ns`, `timestamp_ns` or
//!   `time_ns`, nanoseconds since the Unix epoch; without one, the record's bus time is
//!   used, so days are counted from the bus's start) and an `instrument` number.
//!
//! One source is read: the records of one actor and one kind (a market-data actor that
//! publishes the quotes it handles would count each twice otherwise), and one instrument.
//! When the journal holds market data from more than one source or instrument and
//! [`JournalData`] does not choose, the load stops with an error that lists them.
//!
//! A `Quote` with an empty side (a price that is not finite and > 0) has no mid and is
//! skipped; records at the same time as the one before are merged (the last price at a time
//! is the price at that time), with a warning that counts them. A time earlier than the one
//! before stops the load, naming the record. A gap record (records the writer dropped) stops
//! the load: a backtest does not run over missing market data. A cut record (the recording
//! program crashed and was started again) is read past with a warning. A damaged record
//! stops the load with the journal's error (segment file and byte offset).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use mycelium_codec::WireMessage;
use mycelium_contracts::{Quote, Trade};
use mycelium_journal::{ActorAddr, Encoding, JournalError, JournalReader, Kind, Record};

use super::{DataFormat, Loaded};
use crate::Series;

/// Which market data of a journal to read (all `None`: the only source there is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalData {
    /// The recorded actor whose records are read.
    pub actor: Option<ActorAddr>,
    /// `handled` or `published`.
    pub kind: Option<Kind>,
    /// The instrument, for quotes and trades that carry one.
    pub instrument: Option<u32>,
    /// The names of JSON records that are market data.
    pub types: Vec<String>,
}

impl Default for JournalData {
    fn default() -> Self {
        JournalData {
            actor: None,
            kind: None,
            instrument: None,
            types: ["Quote", "Trade", "Tick"].map(String::from).to_vec(),
        }
    }
}

/// Why a journal could not be read as market data.
#[derive(Debug, thiserror::Error)]
pub enum JournalDataError {
    /// The journal could not be opened or a record is damaged.
    #[error("{0}")]
    Journal(#[from] JournalError),
    /// No record is market data.
    #[error(
        "{dir}: no market data: no handled or published Quote or Trade record{filter} (the \
         actor recording the feed must record them: Recording::contract::<Quote>() or \
         .serde::<...>() for a type named {types})"
    )]
    NoMarketData {
        /// The journal.
        dir: String,
        /// The filter that was applied, for the message.
        filter: String,
        /// The JSON type names looked for.
        types: String,
    },
    /// Market data from more than one source or instrument, and no choice made.
    #[error("{dir}: market data comes from {what}: {list}; choose one with {option}")]
    Ambiguous {
        /// The journal.
        dir: String,
        /// "several sources" or "several instruments".
        what: &'static str,
        /// Each candidate with its record count.
        list: String,
        /// The option that chooses.
        option: &'static str,
    },
    /// A record that names itself market data but cannot be read as such.
    #[error("{dir}: record {seq} ({name}): {reason}")]
    Payload {
        /// The journal.
        dir: String,
        /// The record's sequence number.
        seq: u64,
        /// Its type name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A time earlier than the one before.
    #[error(
        "{dir}: record {seq} has time {ts} ns, before the {prev} ns of the market data before \
         it: market data must be in time order"
    )]
    OutOfOrder {
        /// The journal.
        dir: String,
        /// The record's sequence number.
        seq: u64,
        /// Its time.
        ts: u64,
        /// The time before.
        prev: u64,
    },
    /// A gap record: the market data is incomplete.
    #[error(
        "{dir}: {gap}; the market data is incomplete there, and a backtest does not run over it"
    )]
    Gap {
        /// The journal.
        dir: String,
        /// The gap, described.
        gap: String,
    },
}

/// One price read from a record.
struct Tick {
    seq: u64,
    ts: u64,
    price: Option<f64>,
    instrument: Option<u32>,
}

fn json_f64(v: &serde_json::Value, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| v.get(*k).and_then(|x| x.as_f64()))
}

/// Reads the price, time and instrument of a market-data record, `None` when the record is
/// not market data.
fn tick(record: &Record, types: &[String]) -> Option<Result<Tick, String>> {
    if !matches!(record.kind, Kind::Handled | Kind::Published) {
        return None;
    }
    match record.encoding {
        Encoding::Contract if record.type_id == Quote::TYPE_ID => {
            Some(match Quote::decode_body(&record.payload) {
                Ok(q) => {
                    let sides_ok = [q.bid_px, q.ask_px]
                        .iter()
                        .all(|p| p.is_finite() && *p > 0.0);
                    Ok(Tick {
                        seq: record.seq,
                        ts: q.ts_ns,
                        price: sides_ok.then(|| (q.bid_px + q.ask_px) / 2.0),
                        instrument: Some(q.instrument),
                    })
                }
                Err(e) => Err(format!("the Quote cannot be decoded: {e}")),
            })
        }
        Encoding::Contract if record.type_id == Trade::TYPE_ID => {
            Some(match Trade::decode_body(&record.payload) {
                Ok(t) => Ok(Tick {
                    seq: record.seq,
                    ts: t.ts_ns,
                    price: Some(t.price),
                    instrument: Some(t.instrument),
                }),
                Err(e) => Err(format!("the Trade cannot be decoded: {e}")),
            })
        }
        Encoding::Json if types.contains(&record.name) => Some(json_tick(record)),
        _ => None,
    }
}

fn json_tick(record: &Record) -> Result<Tick, String> {
    let value: serde_json::Value = serde_json::from_slice(&record.payload)
        .map_err(|e| format!("the payload is not JSON: {e}"))?;
    if !value.is_object() {
        return Err("the payload is not a JSON object with a price".into());
    }
    let price = match json_f64(&value, &["price", "px", "last", "close"]) {
        Some(p) => Some(p),
        None => match (
            json_f64(&value, &["bid_px", "bid"]),
            json_f64(&value, &["ask_px", "ask"]),
        ) {
            (Some(b), Some(a)) => {
                let ok = [b, a].iter().all(|p| p.is_finite() && *p > 0.0);
                ok.then(|| (b + a) / 2.0)
            }
            _ => {
                return Err(
                    "the payload has no price (price, px, last or close, or bid and ask)".into(),
                )
            }
        },
    };
    let ts = ["ts_ns", "timestamp_ns", "time_ns"]
        .iter()
        .find_map(|k| value.get(*k).and_then(|x| x.as_u64()))
        .unwrap_or(record.time_ns);
    let instrument = value
        .get("instrument")
        .and_then(|x| x.as_u64())
        .and_then(|x| u32::try_from(x).ok());
    Ok(Tick {
        seq: record.seq,
        ts,
        price,
        instrument,
    })
}

struct Addr(ActorAddr);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.node {
            0 => write!(f, "{}", self.0.id),
            node => write!(f, "{}@{node}", self.0.id),
        }
    }
}

/// Reads the market data of the journal in `dir` into a tick series: the `Quote`s (at
/// their mid) or `Trade`s one recorded actor handled or published, chosen by `choose` when
/// the journal holds several (docs/journal.md, "Backtesting a recorded run", says which
/// records count).
pub fn load_journal(
    dir: impl AsRef<Path>,
    choose: &JournalData,
) -> Result<Loaded, JournalDataError> {
    let dir = dir.as_ref();
    let name = dir.display().to_string();
    let reader = JournalReader::open(dir)?;
    let mut warnings = Vec::new();
    // Ticks by source, in journal order.
    let mut sources: BTreeMap<(ActorAddr, Kind), Vec<Tick>> = BTreeMap::new();
    let mut records = reader.records();
    for record in records.by_ref() {
        let record = record?;
        if let Some(gap) = record.gap() {
            return Err(JournalDataError::Gap {
                dir: name,
                gap: gap.to_string(),
            });
        }
        if let Some(cut) = record.cut() {
            warnings.push(format!(
                "record {}: {cut}; the recording program was started again there",
                record.seq
            ));
            continue;
        }
        if choose.actor.is_some_and(|a| a != record.actor)
            || choose.kind.is_some_and(|k| k != record.kind)
        {
            continue;
        }
        let Some(tick) = tick(&record, &choose.types) else {
            continue;
        };
        let tick = tick.map_err(|reason| JournalDataError::Payload {
            dir: name.clone(),
            seq: record.seq,
            name: record.name.clone(),
            reason,
        })?;
        if choose.instrument.is_some()
            && tick
                .instrument
                .is_some_and(|i| Some(i) != choose.instrument)
        {
            continue;
        }
        sources
            .entry((record.actor, record.kind))
            .or_default()
            .push(tick);
    }
    if let Some(cut) = records.cut() {
        warnings.push(format!(
            "{cut}: the journal ends where the recording program stopped"
        ));
    }
    let filter = match (choose.actor, choose.kind) {
        (None, None) => String::new(),
        (a, k) => format!(
            " of{}{}",
            a.map(|a| format!(" actor {}", Addr(a))).unwrap_or_default(),
            k.map(|k| format!(" kind {}", k.name())).unwrap_or_default()
        ),
    };
    let ticks = match sources.len() {
        0 => {
            return Err(JournalDataError::NoMarketData {
                dir: name,
                filter,
                types: choose.types.join(", "),
            })
        }
        1 => sources.into_values().next().unwrap_or_default(),
        _ => {
            let list = sources
                .iter()
                .map(|((a, k), t)| format!("actor {} {} ({} records)", Addr(*a), k.name(), t.len()))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(JournalDataError::Ambiguous {
                dir: name,
                what: "several sources",
                list,
                option:
                    "the actor (--md-actor N[@NODE]) and the kind (--md-kind handled|published)",
            });
        }
    };
    let mut instruments: BTreeMap<u32, usize> = BTreeMap::new();
    for t in &ticks {
        if let Some(i) = t.instrument {
            *instruments.entry(i).or_default() += 1;
        }
    }
    if instruments.len() > 1 {
        let list = instruments
            .iter()
            .map(|(i, n)| format!("{i} ({n} records)"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(JournalDataError::Ambiguous {
            dir: name,
            what: "several instruments",
            list,
            option: "--md-instrument N",
        });
    }
    let (mut ts, mut price): (Vec<u64>, Vec<f64>) = (Vec::new(), Vec::new());
    let (mut merged, mut no_price) = (0usize, 0usize);
    for t in ticks {
        let Some(p) = t.price else {
            no_price += 1;
            continue;
        };
        if !(p.is_finite() && p > 0.0) {
            return Err(JournalDataError::Payload {
                dir: name,
                seq: t.seq,
                name: "market data".into(),
                reason: format!("price {p}: a price must be a finite number > 0"),
            });
        }
        match ts.last() {
            Some(&prev) if t.ts < prev => {
                return Err(JournalDataError::OutOfOrder {
                    dir: name,
                    seq: t.seq,
                    ts: t.ts,
                    prev,
                })
            }
            Some(&prev) if t.ts == prev => {
                merged += 1;
                if let Some(last) = price.last_mut() {
                    *last = p;
                }
            }
            _ => {
                ts.push(t.ts);
                price.push(p);
            }
        }
    }
    if no_price > 0 {
        warnings.push(format!(
            "{no_price} quote(s) with an empty side (no mid price) skipped"
        ));
    }
    if merged > 0 {
        warnings.push(format!(
            "{merged} record(s) at the same time as the one before: the last price at each time kept"
        ));
    }
    let series = Series::new(ts, price).map_err(|e| JournalDataError::NoMarketData {
        dir: name.clone(),
        filter: format!("{filter} with a price ({e})"),
        types: choose.types.join(", "),
    })?;
    Ok(Loaded {
        series,
        format: DataFormat::Ticks,
        warnings,
    })
}

/// True when `path` is a directory holding journal segments (`*.journal` files).
pub fn is_journal(path: impl AsRef<Path>) -> bool {
    std::fs::read_dir(path).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x == mycelium_journal::SEGMENT_EXT)
        })
    })
}
