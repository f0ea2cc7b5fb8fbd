//! The rounds of w8/w9: each framework measured in turn between reference loops and
//! crossings, the per-key medians of the rounds, and the line printed for each.

use crate::spells::{self, Spells};

use super::{Mode, Transport};

/// The keys and values of one line.
pub(super) type Vals = Vec<(&'static str, f64)>;

/// A framework's lines of one measurement, as (workload, values).
type Measured = Vec<(&'static str, Result<Vals, String>)>;

/// Measures each framework of `fws` (with its name) in each of `n_rounds` rounds, the
/// frameworks in turn within a round; `measure` gives a framework's lines of one round. Each
/// measurement is timed between two reference loops and two crossings of a cache line
/// between the CPUs (their keys added to its lines) and made again by `spells` while they say
/// it was made in a slow spell; the slower reference of each
/// one kept goes to `slowers`. Prints every round's lines on stderr when there are several,
/// and returns the lines of per-key medians, in the order `fws` and `measure` give them.
pub(super) fn in_rounds<F: Copy>(
    n_rounds: usize,
    transport: Transport,
    mode: Mode,
    fws: &[(F, &'static str)],
    spells: &mut Spells,
    slowers: &mut Vec<f64>,
    mut measure: impl FnMut(F) -> Measured,
) -> Vec<Line> {
    // rounds[r][i]: framework i's lines in round r.
    let mut rounds = Vec::with_capacity(n_rounds);
    for round in 0..n_rounds {
        let mut this = Vec::with_capacity(fws.len());
        for &(fw, name) in fws {
            let label = format!("{name} transport={} mode={}", transport.name(), mode.name());
            let measured = spells.run(
                &label,
                || {
                    let (mut measured, refs) =
                        spells::between_references_and_crossings(|| measure(fw));
                    for vals in measured.iter_mut().filter_map(|(_, v)| v.as_mut().ok()) {
                        vals.extend(refs);
                    }
                    measured
                },
                references,
            );
            slowers.extend(references(&measured).map(|(slower, _)| slower));
            if n_rounds > 1 {
                for (w, vals) in &measured {
                    let line = Line {
                        w,
                        fw: name,
                        transport,
                        mode,
                        vals: vals.clone(),
                    };
                    eprintln!("# round {} {}", round + 1, line.text());
                }
            }
            this.push(measured);
        }
        rounds.push(this);
    }
    let mut lines = Vec::new();
    for (i, &(_, name)) in fws.iter().enumerate() {
        for (j, &(w, _)) in rounds[0][i].iter().enumerate() {
            let vals = median_vals(rounds.iter().map(|r| r[i][j].1.clone()).collect());
            lines.push(Line {
                w,
                fw: name,
                transport,
                mode,
                vals,
            });
        }
    }
    lines
}

/// The slower and the faster reference loop around a measurement (`None` when none of its
/// lines measured).
fn references(measured: &Measured) -> Option<(f64, f64)> {
    spells::references(measured.iter().find_map(|(_, v)| v.as_ref().ok())?)
}

/// Per-key medians of the rounds that measured; the first round's error when none did.
fn median_vals(rounds: Vec<Result<Vals, String>>) -> Result<Vals, String> {
    let ok: Vec<&Vals> = rounds.iter().filter_map(|r| r.as_ref().ok()).collect();
    let Some(first) = ok.first() else {
        return Err(rounds.into_iter().find_map(Result::err).unwrap_or_default());
    };
    Ok(first
        .iter()
        .map(|&(key, _)| {
            let mut v: Vec<f64> = ok
                .iter()
                .filter_map(|vals| vals.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            let n = v.len();
            let median = if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            };
            (key, median)
        })
        .collect())
}

/// One measured line.
pub(super) struct Line {
    pub(super) w: &'static str,
    pub(super) fw: &'static str,
    pub(super) transport: Transport,
    pub(super) mode: Mode,
    pub(super) vals: Result<Vals, String>,
}

impl Line {
    pub(super) fn text(&self) -> String {
        let mut s = format!(
            "{} {} transport={} mode={}",
            self.w,
            self.fw,
            self.transport.name(),
            self.mode.name()
        );
        match &self.vals {
            Ok(vals) => {
                for (k, v) in vals {
                    s.push_str(&format!(" {k}={}", v.round() as u64));
                }
            }
            Err(why) => {
                let why: String = why
                    .chars()
                    .map(|c| if c.is_whitespace() { '_' } else { c })
                    .collect();
                s.push_str(&format!(" unsupported=1 reason={why}"));
            }
        }
        s
    }

    pub(super) fn value(&self, key: &str) -> Option<f64> {
        self.vals
            .as_ref()
            .ok()?
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}
