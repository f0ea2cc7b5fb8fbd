//! The owners of a segment's two sides: which process holds each (its pid, start time and
//! pid namespace), and whether that process still runs, as far as this one can tell.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The owner of one side: pid, process start time (clock ticks since boot; 0: unknown) and
/// pid namespace (inode of `/proc/self/ns/pid`; 0: unknown), and whether the last two are
/// written (`recorded`, [`RECORDED`]): an attacher claims its slot by its pid first, and
/// writes the rest after.
#[repr(C)]
#[derive(Debug)]
pub(super) struct Owner {
    pub(super) pid: AtomicU32,
    pub(super) recorded: AtomicU32,
    pub(super) start: AtomicU64,
    pub(super) ns: AtomicU64,
}

/// An owner slot's `recorded` value once its start time and namespace are written.
pub(super) const RECORDED: u32 = 1;

/// This process as an owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Me {
    pub(super) pid: u32,
    /// Start time; 0 when `/proc` does not show this process (not mounted, or mounted for
    /// another pid namespace).
    pub(super) start: u64,
    /// Pid namespace; 0 when unknown.
    pub(super) ns: u64,
}

impl Me {
    /// Whether this process can judge an owner of its own namespace from `/proc`.
    pub(super) fn can_judge(&self) -> bool {
        self.start != 0 && self.ns != 0
    }
}

/// This process as an owner: read once per process (a forked child, whose pid differs from
/// the one read, reads its own), since every liveness check needs it.
pub(super) fn me() -> Me {
    static ME: std::sync::OnceLock<Me> = std::sync::OnceLock::new();
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    match ME.get() {
        Some(me) if me.pid == pid => *me,
        _ => {
            let me = read_me(pid);
            let _ = ME.set(me);
            me
        }
    }
}

/// This process as an owner, read from `/proc`.
fn read_me(pid: u32) -> Me {
    // `/proc/self` is dangling when `/proc` belongs to another pid namespace: then no start
    // time is known, and no owner is ever judged dead.
    let start = match stat_file("/proc/self/stat") {
        Ok(Some(stat)) => stat.start,
        _ => 0,
    };
    // The field types differ between architectures.
    #[allow(clippy::unnecessary_cast)]
    let ns = match rustix::fs::stat("/proc/self/ns/pid") {
        Ok(st) => st.st_ino as u64,
        Err(_) => 0,
    };
    Me { pid, start, ns }
}

/// What a process's `stat` file says of whether it can still touch a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    /// The state letter (`Z` zombie, `X` dead, ...).
    state: char,
    /// The kernel's `PF_*` flags of its main thread.
    flags: u64,
    /// Start time, in clock ticks since boot.
    start: u64,
}

/// The kernel's flag of a process that has begun to exit (`PF_EXITING`): it runs no code of
/// its own again, and it is set before its memory is unmapped and its files closed, so a peer
/// that sees its socket close can already tell it is dead, though it is not yet a zombie.
const PF_EXITING: u64 = 0x4;

impl Stat {
    /// Whether the process may still run code of its own.
    fn running(&self) -> bool {
        self.state != 'Z' && self.state != 'X' && self.flags & PF_EXITING == 0
    }
}

/// What the `stat` file at `path` says of a process:
/// `Ok(None)` if there is no such process, `Err` if that cannot be told.
fn stat_file(path: &str) -> Result<Option<Stat>, ()> {
    let stat = match std::fs::read_to_string(path) {
        Ok(stat) => stat,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // A process that exited between the lookup and the read.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => {
            return Ok(None)
        }
        Err(_) => return Err(()),
    };
    parse_stat(&stat).map(Some).ok_or(())
}

/// The state letter, flags and start time in the text of a `/proc/<pid>/stat` file.
fn parse_stat(stat: &str) -> Option<Stat> {
    // The command name (field 2) is in parentheses and may contain anything.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 9 (flags) is the 6th after the state (field 3), field 22 (start time) the 13th
    // after the flags.
    let flags = fields.nth(5)?.parse().ok()?;
    let start = fields.nth(12)?.parse().ok()?;
    Some(Stat {
        state,
        flags,
        start,
    })
}

/// Whether the process recorded as (`pid`, `start`, `ns`) may still run, as `me` can tell.
/// It is dead only if it is provably so: it was recorded in `me`'s pid namespace with a start
/// time, `me` can read `/proc` of that namespace, and no process `pid` with that start time
/// runs there (a zombie, or a process that has begun to exit, is dead: it will never touch
/// the segment again). An owner of another
/// namespace, or one recorded or looked up without a start time, counts as alive.
pub(crate) fn owner_alive_for(me: &Me, pid: u32, start: u64, ns: u64) -> bool {
    if !me.can_judge() || start == 0 || ns == 0 || ns != me.ns {
        return true;
    }
    match stat_file(&format!("/proc/{pid}/stat")) {
        Ok(Some(stat)) => stat.start == start && stat.running(),
        Ok(None) => false,
        Err(()) => true,
    }
}

/// As `owner_alive_for`, judged by this process.
pub(crate) fn owner_alive(pid: u32, start: u64, ns: u64) -> bool {
    owner_alive_for(&me(), pid, start, ns)
}

impl Owner {
    /// Whether this slot's process may still run (an empty slot: no).
    pub(super) fn alive(&self) -> bool {
        let pid = self.pid.load(Ordering::Acquire);
        pid != 0
            && owner_alive(
                pid,
                self.start.load(Ordering::Acquire),
                self.ns.load(Ordering::Acquire),
            )
    }

    /// Whether this slot's process keeps the segment from being removed: it may still run,
    /// and it finished recording itself. An attacher that claimed the slot and died before
    /// writing its start time (the one moment between two stores) would otherwise count as
    /// alive forever; one that is still writing them is about to use a segment that is of no
    /// use without its creator, and the creator's slot is recorded before the segment exists
    /// for anyone. A slot written by a build that did not mark it counts as unrecorded too:
    /// the segment then lives as long as its creator.
    pub(super) fn keeps(&self) -> bool {
        self.recorded.load(Ordering::Acquire) == RECORDED && self.alive()
    }

    /// Records this process in the slot, the pid last.
    pub(super) fn record(&self, me: &Me) {
        self.ns.store(me.ns, Ordering::Relaxed);
        self.start.store(me.start, Ordering::Relaxed);
        self.recorded.store(RECORDED, Ordering::Relaxed);
        self.pid.store(me.pid, Ordering::Release);
    }
}

#[cfg(all(test, not(mycelium_loom)))]
mod tests {
    use super::*;

    /// A `stat` line of a process named `a) (b` in state `state` with `flags`, started at
    /// tick 777.
    fn line(state: char, flags: u64) -> String {
        format!(
            "4242 (a) (b) {state} 1 4242 4242 0 -1 {flags} 120 0 0 0 3 1 0 0 20 0 3 0 777 \
             1000 200 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 1 0 0 0 0 0"
        )
    }

    #[test]
    fn stat_lines_tell_running_exiting_and_zombie_processes_apart() {
        let running = parse_stat(&line('S', 0x0040_0100)).unwrap();
        assert_eq!(running.start, 777);
        assert!(running.running());
        // Killed with SIGKILL: its sockets may already be closed, it is not a zombie yet.
        let exiting = parse_stat(&line('R', 0x0040_0104)).unwrap();
        assert_eq!(exiting.start, 777);
        assert!(!exiting.running());
        assert!(!parse_stat(&line('Z', 0x0040_0100)).unwrap().running());
        assert_eq!(parse_stat("4242 (cut"), None);
        assert_eq!(parse_stat("4242 (x) R 1 2"), None);
    }

    #[test]
    fn this_process_reads_as_running() {
        let me = stat_file("/proc/self/stat").unwrap().unwrap();
        assert!(me.running(), "{me:?}");
        assert_eq!(me.start, super::me().start);
    }
}
