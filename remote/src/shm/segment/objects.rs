//! The segment's object in `/dev/shm`: how old it is, whether a name still names it, the
//! sweep of those left behind, and the reservation of its memory.

use std::os::fd::OwnedFd;

use rustix::fs::{FallocateFlags, Mode};
use rustix::io::Errno;
use rustix::shm;

use super::Segment;

/// How long a segment may stay unfinished (created but not yet sized or given its header)
/// before it counts as left behind by a creator that died while setting it up.
pub(super) const UNFINISHED_STALE: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether `name` still names the object of `st`.
pub(super) fn same_object(name: &str, st: &rustix::fs::Stat) -> bool {
    let Ok(fd) = shm::open(name, shm::OFlags::RDONLY, Mode::empty()) else {
        return false;
    };
    match rustix::fs::fstat(&fd) {
        Ok(now) => now.st_dev == st.st_dev && now.st_ino == st.st_ino,
        Err(_) => false,
    }
}

/// Time since the object was last changed.
// The field types differ between architectures: the casts are not useless everywhere.
#[allow(clippy::unnecessary_cast)]
pub(super) fn age(st: &rustix::fs::Stat) -> std::time::Duration {
    let secs = (st.st_ctime as i64).max(0) as u64;
    let nanos = (st.st_ctime_nsec as i64).clamp(0, 999_999_999) as u32;
    let changed = std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
    std::time::SystemTime::now()
        .duration_since(changed)
        .unwrap_or_default()
}

/// Where Linux shows POSIX shared-memory objects.
pub(super) const SHM_DIR: &str = "/dev/shm";

/// Removes the segments named `/{prefix}.*` whose owners are all dead (left by `kill -9`),
/// and unfinished ones older than a few seconds; returns their names. Segments of live
/// processes, of processes in other pid namespaces or whose liveness cannot be told, of other
/// users, of other layout versions, and anything that cannot be read are left alone.
pub fn sweep(prefix: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(SHM_DIR) else {
        return Vec::new();
    };
    let lead = format!("{prefix}.");
    let mut removed = Vec::new();
    for entry in dir.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        if !file.starts_with(&lead) {
            continue;
        }
        let name = format!("/{file}");
        if Segment::reclaim(&name).is_ok() {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Gives every page of a new segment its memory now (`fallocate`). A signal that interrupts
/// a large reservation is retried (a bounded number of times); a file system that cannot
/// reserve leaves the pages to their first touch, as before.
pub(super) fn reserve(fd: &OwnedFd, len: u64) -> Result<(), Errno> {
    for _ in 0..RESERVE_TRIES {
        match fallocate(fd, len) {
            Err(Errno::INTR) => continue,
            Err(Errno::OPNOTSUPP | Errno::NOSYS) => return Ok(()),
            done => return done,
        }
    }
    Err(Errno::INTR)
}

/// How many times [`reserve`] calls `fallocate` while a signal interrupts it (the error
/// `create` reports then says "64 times").
pub(super) const RESERVE_TRIES: u32 = 64;

/// `fallocate` of the whole segment; in unit tests, the stand-in a test set on this thread
/// (`FAKE_FALLOCATE`), since no file system fails on demand.
pub(super) fn fallocate(fd: &OwnedFd, len: u64) -> Result<(), Errno> {
    #[cfg(test)]
    if let Some(result) = FAKE_FALLOCATE.with_borrow_mut(|fake| fake.as_mut().map(|f| f())) {
        return result;
    }
    rustix::fs::fallocate(fd, FallocateFlags::empty(), 0, len)
}

/// A stand-in for the `fallocate` calls made on this thread, while set.
#[cfg(test)]
pub(super) type FakeFallocate = Box<dyn FnMut() -> Result<(), Errno>>;

#[cfg(test)]
thread_local! {
    pub(super) static FAKE_FALLOCATE: std::cell::RefCell<Option<FakeFallocate>> =
        const { std::cell::RefCell::new(None) };
}
