//! Slow spells: telling a run made while the machine was slow, and making it again.
//!
//! The machine has spells, a tenth of a second to seconds long, in which code that goes
//! through the caches and the kernel runs 1.2-1.5x slower, in every process alike, on one CPU
//! or on all (docs/perf/actors.md, "Slow spells"). Each measurement is timed between two runs of
//! [`reference_ns`], in the process that measures; [`Spells::run`] makes a measurement again
//! while its slower reference is over [`SLOW_SPELL`] times the fastest seen in the
//! `compare`, and keeps the attempt whose slower reference was fastest. The choice reads only
//! the references, never the measurement's own figures, and is the same for every framework.
//!
//! The loop says nothing of how long a cache line takes to cross from one CPU to the other,
//! which on this machine moves on its own: a hand-written ring's round trip between two
//! processes took 90-120 ns in some spells and 520-560 ns in others minutes apart, with the
//! same loop time (measured at 394c94f, 2026-11-26: docs/perf/remote.md). Measurements
//! between processes are also timed between two [`crossing_ns`] (keys `cross_before_ns`,
//! `cross_after_ns`), added to the loop's time when [`references`] judges them, so that a
//! line and the floor it is compared with are kept from the same state of the machine.

/// A measurement was made in a slow spell when its slower reference took more than this many
/// times the fastest reference of the `compare` so far.
pub const SLOW_SPELL: f64 = 1.1;

/// The key of the reference loop's time just before a measurement (ns).
pub const BEFORE: &str = "ref_before_ns";
/// The key of the reference loop's time just after a measurement (ns).
pub const AFTER: &str = "ref_after_ns";

/// Nanoseconds of a fixed single-threaded loop (stores into a buffer of 128 KiB, the fastest
/// of three) on the slowest of the CPUs this process may run on (the first
/// [`MAX_CPUS`] of them): how fast the machine runs this process just now.
///
/// A spell can slow one CPU and not another, and a run of two threads is as slow as its
/// slower thread (w6 isolated: one thread took 31-38 ms for its 500 instances while the other
/// took 49-54), so the calling thread times the loop on each CPU in turn, pinned to it, and
/// then gets its own CPUs back.
pub fn reference_ns() -> u64 {
    use rustix::thread::{sched_getaffinity, sched_setaffinity};
    let Ok(mine) = sched_getaffinity(None) else {
        return reference_here();
    };
    let cpus = allowed_cpus(&mine, MAX_CPUS);
    if cpus.len() < 2 {
        return reference_here();
    }
    let mut slowest = 0;
    for cpu in cpus {
        if pin(cpu) {
            slowest = slowest.max(reference_here());
        }
    }
    // Were this to fail, the thread would stay on the last CPU: the measurement after it
    // would then be of one CPU, which the references would not say. It does not fail for a
    // mask the thread had.
    let _ = sched_setaffinity(None, &mine);
    slowest
}

/// How many CPUs [`reference_ns`] times the loop on, at most (about half a millisecond each).
pub const MAX_CPUS: usize = 8;

/// The first `most` CPUs of the set `mine`, in order.
fn allowed_cpus(mine: &rustix::thread::CpuSet, most: usize) -> Vec<usize> {
    (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&cpu| mine.is_set(cpu))
        .take(most)
        .collect()
}

/// Pins the calling thread to `cpu`; `false` if it could not be.
fn pin(cpu: usize) -> bool {
    let mut one = rustix::thread::CpuSet::new();
    one.set(cpu);
    rustix::thread::sched_setaffinity(None, &one).is_ok()
}

/// The key of the crossing time just before a measurement (ns).
pub const CROSS_BEFORE: &str = "cross_before_ns";
/// The key of the crossing time just after a measurement (ns).
pub const CROSS_AFTER: &str = "cross_after_ns";

/// Round trips of a cache line in one timing of [`crossing_ns`]: 21-30 µs in the machine's
/// fast state and 204-209 µs in its slow one (measured at c61805e, 2026-11-27:
/// docs/perf/remote.md).
pub const CROSSINGS: u64 = 500;

/// Nanoseconds of [`CROSSINGS`] round trips of one cache line between two threads pinned to
/// the first two CPUs this process may run on, each spinning (the fastest of three timings);
/// 0 when the process may run on one CPU only. How fast the machine moves data between its
/// CPUs just now, which the single-threaded [`reference_ns`] does not see.
pub fn crossing_ns() -> u64 {
    use rustix::thread::{sched_getaffinity, sched_setaffinity};
    use std::sync::atomic::{AtomicU64, Ordering};
    let Ok(mine) = sched_getaffinity(None) else {
        return 0;
    };
    let &[here, there] = &allowed_cpus(&mine, 2)[..] else {
        return 0;
    };
    // Odd values go to the echoing thread, even ones come back; `STOP` ends it.
    const STOP: u64 = u64::MAX;
    let line = AtomicU64::new(0);
    /// Stops the echoing thread however the timing ends.
    struct Stop<'a>(&'a AtomicU64);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(STOP, Ordering::Release);
        }
    }
    let fastest = std::thread::scope(|scope| {
        let stop = Stop(&line);
        scope.spawn(|| {
            pin(there);
            loop {
                match line.load(Ordering::Acquire) {
                    STOP => break,
                    v if v % 2 == 1 => line.store(v + 1, Ordering::Release),
                    _ => std::hint::spin_loop(),
                }
            }
        });
        if !pin(here) {
            return 0;
        }
        let mut next = 1u64;
        let mut bounce = || {
            let t = std::time::Instant::now();
            for _ in 0..CROSSINGS {
                line.store(next, Ordering::Release);
                while line.load(Ordering::Acquire) != next + 1 {
                    std::hint::spin_loop();
                }
                next += 2;
            }
            t.elapsed().as_nanos() as u64
        };
        // Untimed first: a CPU that was idle takes a while to come back (the first crossings
        // of a `compare`, just after it started, took 7-8 times the usual in all three
        // timings).
        bounce();
        let fastest = (0..3).map(|_| bounce()).min().unwrap_or(0);
        drop(stop);
        fastest
    });
    // As in `reference_ns`: the thread gets its own CPUs back.
    let _ = sched_setaffinity(None, &mine);
    fastest
}

/// The loop's time on the CPU the thread runs on: the fastest of three.
fn reference_here() -> u64 {
    (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(reference_loop());
            t.elapsed().as_nanos() as u64
        })
        .min()
        .unwrap_or(0)
}

fn reference_loop() -> u64 {
    // 128 KiB, written 20 times over: stores into the second-level cache are among what a
    // slow spell slows most (1.2-1.6x, where a chain of multiplies is 1.09x), and a buffer of
    // its own keeps the loop apart from the heap a run leaves behind.
    static BUFFER: std::sync::Mutex<[u64; 1 << 14]> = std::sync::Mutex::new([0; 1 << 14]);
    let mut buffer = BUFFER.lock().unwrap_or_else(|e| e.into_inner());
    for pass in 0..20u64 {
        for (i, word) in buffer.iter_mut().enumerate() {
            *word = std::hint::black_box(i as u64 ^ pass);
        }
    }
    buffer[77]
}

/// The slower and the faster of the two references recorded among a measurement's values:
/// each the reference loop (under [`BEFORE`] and [`AFTER`]) plus, when they are there, the
/// crossings timed with it (under [`CROSS_BEFORE`] and [`CROSS_AFTER`]); `None` if the loops
/// are not there.
pub fn references(vals: &[(&'static str, f64)]) -> Option<(f64, f64)> {
    let get = |key: &str| vals.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let before = get(BEFORE)? + get(CROSS_BEFORE).unwrap_or(0.0);
    let after = get(AFTER)? + get(CROSS_AFTER).unwrap_or(0.0);
    Some((before.max(after), before.min(after)))
}

/// `measure` between two reference loops: its result and the loops' times (before, after).
pub fn between_references<T>(measure: impl FnOnce() -> T) -> (T, f64, f64) {
    let before = reference_ns() as f64;
    let out = measure();
    let after = reference_ns() as f64;
    (out, before, after)
}

/// `measure` between two reference loops and two crossings: its result and the values to
/// record with it, under [`BEFORE`], [`AFTER`], [`CROSS_BEFORE`] and [`CROSS_AFTER`].
pub fn between_references_and_crossings<T>(
    measure: impl FnOnce() -> T,
) -> (T, [(&'static str, f64); 4]) {
    let cross_before = crossing_ns() as f64;
    let (out, before, after) = between_references(measure);
    let cross_after = crossing_ns() as f64;
    let refs = [
        (BEFORE, before),
        (AFTER, after),
        (CROSS_BEFORE, cross_before),
        (CROSS_AFTER, cross_after),
    ];
    (out, refs)
}

/// The references seen by one `compare`, of one kind, and the measurements made again for a
/// spell.
///
/// A reference with crossings (between processes) takes the loop's time and the crossings'
/// (21-30 µs in the machine's fast state): judged against the fastest loop alone, every
/// such measurement would look made in a slow spell. So the measurements of each kind have a
/// `Spells` of their own ([`Spells::new`], [`Spells::crossed`]).
pub struct Spells {
    /// How many times a measurement made in a slow spell is made again.
    retries: usize,
    /// The fastest reference so far (ns).
    fastest: f64,
    /// Measurements made again.
    reruns: usize,
    /// The references are the loop and the crossings ([`references`]), not the loop alone.
    crossed: bool,
}

impl Spells {
    /// For measurements timed between reference loops ([`between_references`]): no
    /// reference seen yet; a measurement is made at most `1 + retries` times.
    pub fn new(retries: usize) -> Self {
        Spells {
            retries,
            fastest: f64::INFINITY,
            reruns: 0,
            crossed: false,
        }
    }

    /// For measurements timed between reference loops and crossings
    /// ([`between_references_and_crossings`]), as [`new`](Self::new).
    pub fn crossed(retries: usize) -> Self {
        Spells {
            crossed: true,
            ..Spells::new(retries)
        }
    }

    /// Whether a measurement whose slower reference took `slower` ns was made in a spell, as
    /// far as the references seen so far tell.
    pub fn is_slow(&self, slower: f64) -> bool {
        slower > SLOW_SPELL * self.fastest
    }

    /// Makes a measurement with `attempt`, and again while `references` (its slower and
    /// faster reference loop; `None` for a measurement that has none, which is never made
    /// again) says it was made in a slow spell, at most `retries` more times. Returns the
    /// attempt whose slower reference was fastest. `label` names the measurement in the line
    /// on stderr that says it is made again.
    pub fn run<T>(
        &mut self,
        label: &str,
        mut attempt: impl FnMut() -> T,
        references: impl Fn(&T) -> Option<(f64, f64)>,
    ) -> T {
        let mut kept = attempt();
        let Some((mut kept_slower, faster)) = references(&kept) else {
            return kept;
        };
        self.fastest = self.fastest.min(faster);
        let mut last_slower = kept_slower;
        for _ in 0..self.retries {
            if !self.is_slow(last_slower) {
                break;
            }
            self.reruns += 1;
            eprintln!(
                "# slow spell: {label}: reference {:.0} us, over {SLOW_SPELL}x the fastest \
                 ({:.0} us): made again",
                last_slower / 1e3,
                self.fastest / 1e3
            );
            let out = attempt();
            // A measurement that failed says so, whatever the attempts before it measured.
            let Some((slower, faster)) = references(&out) else {
                return out;
            };
            self.fastest = self.fastest.min(faster);
            last_slower = slower;
            if slower < kept_slower {
                (kept, kept_slower) = (out, slower);
            }
        }
        kept
    }

    /// The line that says how many of the measurements kept (their slower references,
    /// `slowers`) were made in a spell, judged against the fastest reference of the whole
    /// `compare`, and how many were made again; `None` when there were none.
    pub fn report(&self, slowers: impl Iterator<Item = f64>) -> Option<String> {
        let (mut runs, mut slow) = (0, 0);
        for slower in slowers {
            runs += 1;
            slow += usize::from(self.is_slow(slower));
        }
        (runs > 0).then(|| {
            let (kind, reference) = if self.crossed {
                (" between processes", "reference (loop and crossings)")
            } else {
                ("", "reference loop")
            };
            format!(
                "# slow spells{kind}: fastest {reference} {:.0} us; {slow} of {runs} runs kept \
                 with a reference over {SLOW_SPELL}x it; {} run(s) made again (--retries {})",
                self.fastest / 1e3,
                self.reruns,
                self.retries,
            )
        })
    }

    /// Measurements made again so far.
    #[cfg(test)]
    fn reruns(&self) -> usize {
        self.reruns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A measurement's figure and its two references.
    type Run = (f64, f64, f64);

    fn refs(run: &Run) -> Option<(f64, f64)> {
        Some((run.1.max(run.2), run.1.min(run.2)))
    }

    #[test]
    fn a_run_in_a_slow_spell_is_made_again_and_the_fastest_reference_kept() {
        let mut spells = Spells::new(4);
        // The first run sets the fastest reference.
        assert_eq!(spells.run("t", || (100.0, 300.0, 300.0), refs).0, 100.0);
        // Slow, slower, then fast: three attempts, the fast one kept, whatever its figure.
        let mut attempts = vec![
            (1.0, 360.0, 300.0),
            (2.0, 380.0, 380.0),
            (900.0, 305.0, 310.0),
        ]
        .into_iter();
        let kept = spells.run(
            "t",
            || attempts.next().expect("at most three attempts"),
            refs,
        );
        assert_eq!(kept.0, 900.0);
        assert_eq!(spells.reruns(), 2);
    }

    #[test]
    fn references_with_crossings_are_judged_against_their_own_kind() {
        // The loop alone: 90 us; the loop and the crossings: 115 us, the machine unchanged.
        let loop_only = |_: &()| Some((90_000.0, 90_000.0));
        let crossed = |_: &()| Some((115_000.0, 114_000.0));
        // Judged against the loop alone, the crossed measurement looks made in a spell.
        let mut mixed = Spells::new(4);
        mixed.run("in process", || (), loop_only);
        let mut made = 0;
        mixed.run("w8", || made += 1, crossed);
        assert_eq!(made, 5);
        // Each kind against its own: made once.
        let (mut local, mut remote) = (Spells::new(4), Spells::crossed(4));
        local.run("in process", || (), loop_only);
        let mut made = 0;
        remote.run("w8", || made += 1, crossed);
        remote.run("w8", || made += 1, crossed);
        assert_eq!(made, 2);
        let line = remote.report([115_000.0, 115_000.0].into_iter()).unwrap();
        assert!(
            line.starts_with(
                "# slow spells between processes: fastest reference (loop and crossings) 114 us; \
                 0 of 2 runs"
            ),
            "{line}"
        );
        let line = local.report([90_000.0].into_iter()).unwrap();
        assert!(
            line.starts_with("# slow spells: fastest reference loop 90 us; 0 of 1 runs"),
            "{line}"
        );
    }

    #[test]
    fn retries_are_bounded_and_keep_the_least_slow_attempt() {
        let mut spells = Spells::new(2);
        spells.run("t", || (100.0, 300.0, 300.0), refs);
        let mut made = 0;
        let slowers = [400.0, 350.0, 390.0];
        let kept = spells.run(
            "t",
            || {
                made += 1;
                (made as f64, slowers[made - 1], 300.0)
            },
            refs,
        );
        assert_eq!(made, 3);
        assert_eq!(kept.0, 2.0);
        assert_eq!(spells.reruns(), 2);
        assert_eq!(spells.report(std::iter::empty()), None, "no runs, no line");
    }

    #[test]
    fn a_run_without_a_reference_is_never_made_again() {
        let mut spells = Spells::new(4);
        let mut made = 0;
        let kept: Result<f64, &str> = spells.run(
            "t",
            || {
                made += 1;
                Err("child_failed:boom")
            },
            |_| None,
        );
        assert_eq!(made, 1);
        assert_eq!(kept, Err("child_failed:boom"));
    }

    #[test]
    fn a_retry_that_fails_is_what_the_measurement_gives() {
        type Attempt = Result<(f64, f64), &'static str>;
        let refs = |r: &Attempt| r.ok();
        let mut spells = Spells::new(4);
        assert!(spells.run("t", || Ok((300.0, 300.0)), refs).is_ok());
        let mut attempts: Vec<Attempt> = vec![Ok((400.0, 400.0)), Err("child_failed:boom")];
        attempts.reverse();
        let kept = spells.run("t", || attempts.pop().expect("two attempts"), refs);
        assert_eq!(kept, Err("child_failed:boom"));
    }

    #[test]
    fn a_faster_spell_later_moves_the_line_every_run_is_judged_against() {
        let mut spells = Spells::new(4);
        let mut made = 0;
        // A slow machine from the start: nothing to compare with, so no rerun.
        let first = spells.run(
            "t",
            || {
                made += 1;
                (1.0, 360_000.0, 360_000.0)
            },
            refs,
        );
        assert_eq!(made, 1);
        // Then a fast spell: the first run is now reported as made in a slow one.
        let second = spells.run("t", || (2.0, 300_000.0, 300_000.0), refs);
        let line = spells
            .report([first.1, second.1].into_iter())
            .expect("a line");
        assert!(line.contains("fastest reference loop 300 us"), "{line}");
        assert!(
            line.contains("1 of 2 runs kept with a reference over"),
            "{line}"
        );
        assert!(line.contains("0 run(s) made again (--retries 4)"), "{line}");
    }

    #[test]
    fn references_are_read_from_a_measurements_values_in_either_order() {
        let vals = [("p50_ns", 90.0), (AFTER, 300.0), (BEFORE, 360.0)];
        assert_eq!(references(&vals), Some((360.0, 300.0)));
        assert_eq!(references(&[("p50_ns", 90.0), (BEFORE, 360.0)]), None);
    }

    #[test]
    fn crossings_count_in_a_measurements_references_when_recorded() {
        let vals = [
            (BEFORE, 90_000.0),
            (AFTER, 88_000.0),
            (CROSS_BEFORE, 50_000.0),
            (CROSS_AFTER, 270_000.0),
        ];
        // The loop alone says both ends were alike; the crossing after says otherwise.
        assert_eq!(references(&vals), Some((358_000.0, 140_000.0)));
    }

    #[test]
    fn crossings_are_timed_between_two_cpus_and_the_thread_gets_its_cpus_back() {
        use rustix::thread::sched_getaffinity;
        let mine = sched_getaffinity(None).expect("affinity");
        let two = allowed_cpus(&mine, 2).len() == 2;
        let (out, refs) = between_references_and_crossings(|| 7);
        assert_eq!(out, 7);
        let keys: Vec<&str> = refs.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [BEFORE, AFTER, CROSS_BEFORE, CROSS_AFTER]);
        // Timed on a machine with two CPUs, nothing on one.
        assert_eq!(refs[2].1 > 0.0, two);
        assert_eq!(refs[3].1 > 0.0, two);
        assert_eq!(sched_getaffinity(None).expect("affinity"), mine);
    }

    #[test]
    fn the_reference_loop_is_timed_around_the_measurement() {
        let (out, before, after) = between_references(|| 7);
        assert_eq!(out, 7);
        assert!(before > 0.0 && after > 0.0);
    }
}
