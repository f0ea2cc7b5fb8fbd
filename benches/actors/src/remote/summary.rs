//! The summary lines of w8/w9: the goals of each transport, the ratios of mycelium to its
//! peers, and the line about the crossings the lines were measured between.

use crate::spells;

use super::rounds::Line;
use super::{Mode, Transport};

/// Goals of one transport: (workload, key, higher is better, mode, [(peer, goal)]).
type Goals = Vec<(
    &'static str,
    &'static str,
    bool,
    Mode,
    Vec<(&'static str, f64)>,
)>;

fn goals(transport: Transport) -> Goals {
    let both = [Mode::Block, Mode::Spin];
    match transport {
        Transport::Unix | Transport::Tcp => both
            .into_iter()
            .flat_map(|m| {
                [
                    (
                        "w8",
                        "p50_ns",
                        false,
                        m,
                        vec![("raw", 1.2), ("ractor", 0.5)],
                    ),
                    (
                        "w9",
                        "msgs_per_sec",
                        true,
                        m,
                        vec![("raw", 0.8), ("ractor", 3.0)],
                    ),
                ]
            })
            .collect(),
        Transport::Shm => vec![
            (
                "w8",
                "p50_ns",
                false,
                Mode::Spin,
                vec![("ring", 1.2), ("iceoryx2", 0.5)],
            ),
            ("w8", "p50_ns", false, Mode::Block, vec![("ring", 1.2)]),
            ("w9", "msgs_per_sec", true, Mode::Spin, vec![("ring", 0.8)]),
            ("w9", "msgs_per_sec", true, Mode::Block, vec![("ring", 0.8)]),
        ],
    }
}

/// The line that sums up the crossings the lines kept were measured between: the fastest and
/// the slowest, and how many lines had one over [`SLOW_CROSSING`] times the fastest (made in
/// the machine's slow state, which the retries could not avoid). `None` without crossings.
pub(super) fn crossings(lines: &[Line]) -> Option<String> {
    let pairs: Vec<(f64, f64)> = lines
        .iter()
        .filter_map(|l| {
            Some((
                l.value(spells::CROSS_BEFORE)?,
                l.value(spells::CROSS_AFTER)?,
            ))
        })
        .filter(|&(before, after)| before > 0.0 && after > 0.0)
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let fastest = pairs
        .iter()
        .map(|&(b, a)| b.min(a))
        .fold(f64::INFINITY, f64::min);
    let slowers: Vec<f64> = pairs.iter().map(|&(b, a)| b.max(a)).collect();
    let slowest = slowers.iter().copied().fold(0.0, f64::max);
    let slow = slowers
        .iter()
        .filter(|&&v| v > SLOW_CROSSING * fastest)
        .count();
    Some(format!(
        "# crossings ({} round trips of a cache line between two CPUs, around each \
         measurement): fastest {:.0} us, slowest {:.0} us; {slow} of {} lines with one over \
         {SLOW_CROSSING}x the fastest (the machine's slow state: compare them only with \
         each other)",
        spells::CROSSINGS,
        fastest / 1e3,
        slowest / 1e3,
        slowers.len(),
    ))
}

/// A line whose slower crossing took more than this many times the fastest of the run was
/// measured in the machine's slow state (about nine times the fast one on this machine:
/// 204-209 µs against 21-30 µs, docs/perf/remote.md).
const SLOW_CROSSING: f64 = 2.0;

pub(super) fn ratios(lines: &[Line]) {
    println!("# w8/w9 ratio summary: mycelium / peer (same run)");
    for transport in [Transport::Unix, Transport::Tcp, Transport::Shm] {
        for (w, key, hib, mode, peers) in goals(transport) {
            let find = |fw: &str| {
                lines
                    .iter()
                    .find(|l| l.w == w && l.fw == fw && l.transport == transport && l.mode == mode)
                    .and_then(|l| l.value(key))
            };
            let Some(myc) = find("mycelium") else {
                continue;
            };
            for (peer, goal) in peers {
                let head = format!(
                    "# {w} transport={} mode={} {key} vs {peer}",
                    transport.name(),
                    mode.name(),
                );
                match find(peer).filter(|v| *v > 0.0) {
                    Some(p) => {
                        let ratio = myc / p;
                        let met = if hib { ratio >= goal } else { ratio <= goal };
                        println!(
                            "{head}: mycelium={} {peer}={} ratio={ratio:.2} goal={}{goal:.1} {}",
                            myc.round() as u64,
                            p.round() as u64,
                            if hib { ">=" } else { "<=" },
                            if met { "met" } else { "MISSED" }
                        );
                    }
                    None => println!("{head}: no {peer} result"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(fw: &'static str, cross: [f64; 2]) -> Line {
        Line {
            w: "w8",
            fw,
            transport: Transport::Shm,
            mode: Mode::Spin,
            vals: Ok(vec![
                ("p50_ns", 100.0),
                (spells::CROSS_BEFORE, cross[0]),
                (spells::CROSS_AFTER, cross[1]),
            ]),
        }
    }

    #[test]
    fn the_crossings_line_counts_the_lines_made_in_the_slow_state() {
        let lines = [
            line("ring", [22_000.0, 24_000.0]),
            line("mycelium", [23_000.0, 110_000.0]),
            line("iceoryx2", [21_000.0, 25_000.0]),
        ];
        let text = crossings(&lines).expect("a line");
        assert!(text.contains("fastest 21 us, slowest 110 us"), "{text}");
        assert!(text.contains("1 of 3 lines with one over 2x"), "{text}");
    }

    #[test]
    fn no_crossings_no_line() {
        let lines = [Line {
            w: "w8",
            fw: "raw",
            transport: Transport::Unix,
            mode: Mode::Spin,
            vals: Ok(vec![("p50_ns", 100.0)]),
        }];
        assert_eq!(crossings(&lines), None);
    }
}
