//! Comparing two journals of the same actors (two runs, or a run and its replay): actor by
//! actor, what each handled and did, in order.
//!
//! ```
//! use mycelium_journal::{diff, ActorAddr, Encoding, Entry, JournalOptions, JournalReader, JournalSchema, JournalWriter, Kind};
//!
//! let write = |qty: &[u8]| {
//!     let dir = tempfile::tempdir().unwrap();
//!     let w = JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
//!     let actor = ActorAddr { node: 0, id: 3 };
//!     w.append(&Entry { name: "u32", encoding: Encoding::Json, payload: qty,
//!                       ..Entry::new(Kind::Replied, 5, actor) }).unwrap();
//!     w.close().unwrap();
//!     dir
//! };
//! let (a, b) = (write(b"7"), write(b"11"));
//! // Bus times left out of the comparison (`false`).
//! let d = diff(&JournalReader::open(a.path()).unwrap(), &JournalReader::open(b.path()).unwrap(), false).unwrap();
//! assert_eq!(d.differences.len(), 1);
//! assert_eq!(d.differences[0].left.as_deref(), Some("replied u32 7"));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::error::JournalError;
use crate::reader::JournalReader;
use crate::record::{ActorAddr, Kind, Record};

/// One position where two journals differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDifference {
    /// The actor.
    pub actor: ActorAddr,
    /// The position among the actor's events (0 for its first).
    pub index: u64,
    /// The event in the first journal (`None`: it has fewer).
    pub left: Option<String>,
    /// The event in the second journal.
    pub right: Option<String>,
}

/// Every difference between two journals, actor by actor.
#[derive(Clone, Debug, Default)]
pub struct JournalDiff {
    /// Events compared (the longer side's count, summed over actors).
    pub events: u64,
    /// The differences, by actor, then position.
    pub differences: Vec<EventDifference>,
}

impl JournalDiff {
    /// The differences as CSV with a header row (`actor,node,index,left,right`).
    pub fn to_csv(&self) -> String {
        let field = |s: &Option<String>| {
            s.as_ref()
                .map_or(String::new(), |s| format!("\"{}\"", s.replace('"', "\"\"")))
        };
        let mut out = String::from("actor,node,index,left,right\n");
        for d in &self.differences {
            out.push_str(&format!(
                "{},{},{},{},{}\n",
                d.actor.id,
                d.actor.node,
                d.index,
                field(&d.left),
                field(&d.right)
            ));
        }
        out
    }
}

impl fmt::Display for JournalDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.differences.is_empty() {
            return write!(f, "{} events compared, no difference", self.events);
        }
        writeln!(
            f,
            "{} events compared, {} differ",
            self.events,
            self.differences.len()
        )?;
        for d in &self.differences {
            writeln!(f, "actor {} event {}:", d.actor, d.index)?;
            writeln!(f, "  - {}", d.left.as_deref().unwrap_or("(none)"))?;
            writeln!(f, "  + {}", d.right.as_deref().unwrap_or("(none)"))?;
        }
        Ok(())
    }
}

fn describe(r: &Record, with_time: bool) -> String {
    let mut s = r.kind.name().to_owned();
    if !r.name.is_empty() {
        s.push(' ');
        s.push_str(&r.name);
    }
    if !r.topic.is_empty() {
        s.push_str(" on ");
        s.push_str(&r.topic);
    }
    if !r.payload.is_empty() {
        s.push(' ');
        if let Some(n) = r.payload_u64() {
            s.push_str(&n.to_string());
        } else if let Some((due, every)) = r.timer_schedule() {
            s.push_str(&due.to_string());
            if let Some(every) = every {
                s.push_str(&format!(" every {every}"));
            }
        } else if let Some((seed, stream)) = r.seeded() {
            s.push_str(&format!("seed {seed} stream {stream}"));
        } else {
            match std::str::from_utf8(&r.payload) {
                Ok(text) if !text.chars().any(char::is_control) => s.push_str(text),
                _ => s.push_str(&crate::contract_json::hex(&r.payload)),
            }
        }
    }
    if with_time {
        s.push_str(&format!(
            " at {}.{:09}s",
            r.time_ns / 1_000_000_000,
            r.time_ns % 1_000_000_000
        ));
    }
    s
}

fn events(
    journal: &JournalReader,
    with_time: bool,
) -> Result<BTreeMap<ActorAddr, Vec<String>>, JournalError> {
    let mut by_actor: BTreeMap<ActorAddr, Vec<String>> = BTreeMap::new();
    for r in journal.records() {
        let r = r?;
        if matches!(r.kind, Kind::Gap | Kind::Cut | Kind::Resumed) {
            continue;
        }
        by_actor
            .entry(r.actor)
            .or_default()
            .push(describe(&r, with_time));
    }
    Ok(by_actor)
}

/// Compares `left` and `right` actor by actor: each actor's records (kind, type, topic,
/// payload and, with `with_time`, bus time), position by position. Sequence numbers, gap
/// and cut records are not compared.
pub fn diff(
    left: &JournalReader,
    right: &JournalReader,
    with_time: bool,
) -> Result<JournalDiff, JournalError> {
    let left = events(left, with_time)?;
    let right = events(right, with_time)?;
    let mut actors: Vec<ActorAddr> = left.keys().chain(right.keys()).copied().collect();
    actors.sort_unstable();
    actors.dedup();
    let mut out = JournalDiff::default();
    let none = Vec::new();
    for actor in actors {
        let l = left.get(&actor).unwrap_or(&none);
        let r = right.get(&actor).unwrap_or(&none);
        let n = l.len().max(r.len());
        out.events += n as u64;
        for i in 0..n {
            let (a, b) = (l.get(i), r.get(i));
            if a != b {
                out.differences.push(EventDifference {
                    actor,
                    index: i as u64,
                    left: a.cloned(),
                    right: b.cloned(),
                });
            }
        }
    }
    Ok(out)
}
