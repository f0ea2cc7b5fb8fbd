//! A shared-memory segment holding the two rings of one link.
//!
//! Layout (all offsets from the start of the mapping):
//!
//! | offset | size | what |
//! | --- | --- | --- |
//! | 0 | 256 | [`SegmentHeader`]: magic, layout version, ring size, total size, schema digest, owner pids, process start times and pid namespaces, ready flag, done count |
//! | 256 | 640 | control block of ring 0 (creator to attacher) |
//! | 896 | 640 | control block of ring 1 (attacher to creator) |
//! | 4096 | `ring_bytes` | data of ring 0 |
//! | 4096 + `ring_bytes` | `ring_bytes` | data of ring 1 |
//!
//! The segment is a POSIX shared-memory object named `/{prefix}.{link}`, created mode 0600
//! by one side (the *creator*) and opened by the other (the *attacher*), which must run as the
//! same user. Each side records its pid, the start time of its process (so that a reused
//! pid is not mistaken for the owner) and its pid namespace (the inode of `/proc/self/ns/pid`).
//! A segment serves one life of a link: it is unlinked as soon as either side drops it (the
//! link's life is over; the other side keeps its mapping until it drops it too), so a side
//! that ends its process without dropping it (`process::exit`, `kill -9`) leaves nothing
//! behind as long as the other side drops it; and when a creator finds a segment of its name
//! whose owners are all dead (a `kill -9` left it behind), it unlinks it and creates a fresh
//! one (one that another creator is still setting up is left alone until it is stale). An
//! owner is judged dead only when that can be known: it lives in this process's pid
//! namespace, `/proc` shows this namespace, and its start time was recorded. An owner in
//! another pid namespace (another container sharing `/dev/shm`), or one whose liveness cannot
//! be read, counts as alive: its segment is never removed. An attacher holds the segment only
//! once it has recorded itself (its pid claims the slot first, its start time and namespace
//! follow): one that died in between does not keep it forever. An attacher refuses a segment
//! that was already attached once: after a restart it waits for the creator to replace it.
//!
//! The owners' slots, and how a process judges whether an owner still runs, are in
//! `owner.rs`.
//!
//! Known limit: a peer that shrinks the object under the mapping (`ftruncate`) makes the next
//! access fault; the same user can do that to any file it owns.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm;

use super::error::ShmError;
use super::owner::{me, Me, Owner, RECORDED};
use super::ring::{check_capacity, Consumer, Producer, RingControl};

mod objects;

pub use objects::sweep;
#[cfg(all(test, not(mycelium_loom)))]
use objects::FAKE_FALLOCATE;
#[cfg(all(test, not(mycelium_loom)))]
use objects::RESERVE_TRIES;
use objects::{age, hex, reserve, same_object, SHM_DIR, UNFINISHED_STALE};

/// "MYCSHM" and a zero-terminated layout tag.
const MAGIC: u64 = 0x0031_4D48_5343_594D;
/// Version of this layout.
pub const LAYOUT_VERSION: u32 = 2;
/// The header's `ready` value once the creator has initialised the segment.
const READY: u32 = 0x5245_4459;

const HEADER_SPACE: usize = 256;
const CTL_SPACE: usize = std::mem::size_of::<RingControl>();
const DATA_START: usize = 4096;

const _: () = assert!(std::mem::size_of::<SegmentHeader>() <= HEADER_SPACE);
// Under the model checker the control block holds model types and is never mapped.
#[cfg(not(mycelium_loom))]
const _: () = assert!(HEADER_SPACE + 2 * CTL_SPACE <= DATA_START);

/// The segment header, `repr(C)`; every field is an atomic because the other process may
/// write it at any time.
#[repr(C)]
#[derive(Debug)]
pub struct SegmentHeader {
    magic: AtomicU64,
    version: AtomicU32,
    ring_bytes: AtomicU32,
    total_len: AtomicU64,
    digest: [AtomicU64; 4],
    owners: [Owner; 2],
    ready: AtomicU32,
    done: AtomicU32,
}

/// Which side of the segment this process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Created the segment; writes ring 0, reads ring 1.
    Creator,
    /// Opened it; writes ring 1, reads ring 0.
    Attacher,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Creator => 0,
            Side::Attacher => 1,
        }
    }
}

/// The total size of a segment with rings of `ring_bytes`.
fn total_len(ring_bytes: usize) -> usize {
    DATA_START + 2 * ring_bytes
}

/// The object name of a link's segment: `/{prefix}.{link}`.
pub fn segment_name(prefix: &str, link: &str) -> Result<String, ShmError> {
    let name = format!("{prefix}.{link}");
    let ok = !prefix.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(format!("/{name}"))
    } else {
        Err(ShmError::InvalidName(name))
    }
}

/// A mapping of a segment. Dropping it marks this side done and unlinks the object.
#[derive(Debug)]
pub struct Segment {
    name: String,
    base: *mut u8,
    len: usize,
    fd: OwnedFd,
    side: Side,
    ring_bytes: usize,
    reclaimed: Option<u32>,
    /// Whether this side took part in the segment's life (created it, or attached): only then
    /// does dropping it count as done and unlink the object.
    joined: bool,
}

// SAFETY: the mapping is shared memory accessed only through atomics; the raw base pointer
// is not tied to a thread.
unsafe impl Send for Segment {}
// SAFETY: as above; `&Segment` hands out only shared references to atomics.
unsafe impl Sync for Segment {}

impl Segment {
    fn io<'a>(name: &'a str, what: &'static str) -> impl Fn(rustix::io::Errno) -> ShmError + 'a {
        move |e| ShmError::Io {
            name: name.to_owned(),
            what,
            source: e.into(),
        }
    }

    /// Maps `len` bytes of `fd` shared and read-write.
    fn map(
        name: &str,
        fd: OwnedFd,
        len: usize,
        side: Side,
        ring_bytes: usize,
    ) -> Result<Segment, ShmError> {
        // SAFETY: a fresh mapping at an address the kernel chooses, of an object at least
        // `len` bytes long (checked or set by the caller); nothing else refers to it yet.
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd.as_fd(),
                0,
            )
        }
        .map_err(Self::io(name, "map"))?;
        Ok(Segment {
            name: name.to_owned(),
            base: base.cast(),
            len,
            fd,
            side,
            ring_bytes,
            reclaimed: None,
            joined: false,
        })
    }

    fn header(&self) -> &SegmentHeader {
        // SAFETY: the mapping is at least `HEADER_SPACE` bytes (checked before mapping), page
        // aligned, and the header is made of atomics, valid for any bit pattern.
        unsafe { &*self.base.cast::<SegmentHeader>() }
    }

    /// Creates the segment of `name` with rings of `ring_bytes` for schema `digest`,
    /// replacing a stale one whose owners are dead.
    pub fn create(name: &str, ring_bytes: usize, digest: [u8; 32]) -> Result<Segment, ShmError> {
        if !check_capacity(ring_bytes) {
            return Err(ShmError::BadRingSize(ring_bytes));
        }
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        let mode = Mode::RUSR | Mode::WUSR;
        let mut reclaimed = None;
        let fd = match shm::open(name, flags, mode) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => {
                reclaimed = Some(Self::reclaim(name)?);
                shm::open(name, flags, mode).map_err(Self::io(name, "create"))?
            }
            Err(e) => return Err(Self::io(name, "create")(e)),
        };
        let len = total_len(ring_bytes);
        if let Err(e) = rustix::fs::ftruncate(&fd, len as u64) {
            let _ = shm::unlink(name);
            return Err(Self::io(name, "size")(e));
        }
        // `ftruncate` only sets the length: tmpfs gives a page its memory when it is first
        // touched, and when `/dev/shm` is full that touch is a SIGBUS, which kills the
        // process. Reserving every page now turns a full `/dev/shm` into an error.
        if let Err(e) = reserve(&fd, len as u64) {
            let _ = shm::unlink(name);
            return Err(match e {
                Errno::NOSPC | Errno::NOMEM | Errno::FBIG => ShmError::NoSpace {
                    name: name.to_owned(),
                    bytes: len,
                    ring_bytes,
                    source: e.into(),
                },
                // Only after `reserve` gave up retrying.
                Errno::INTR => Self::io(
                    name,
                    "reserve its memory: fallocate was interrupted by a signal 64 times in a row",
                )(e),
                e => Self::io(name, "reserve its memory (fallocate)")(e),
            });
        }
        let mut seg = match Self::map(name, fd, len, Side::Creator, ring_bytes) {
            Ok(seg) => seg,
            Err(e) => {
                let _ = shm::unlink(name);
                return Err(e);
            }
        };
        seg.reclaimed = reclaimed;
        seg.joined = true;
        let h = seg.header();
        // Everything, the owner first, before the magic (Release): whoever reads the magic
        // (Acquire) sees the owner; an object without it is unfinished and left alone.
        h.owners[0].record(&me());
        h.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        h.ring_bytes.store(ring_bytes as u32, Ordering::Relaxed);
        h.total_len.store(len as u64, Ordering::Relaxed);
        for (word, bytes) in h.digest.iter().zip(digest.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            word.store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        h.magic.store(MAGIC, Ordering::Release);
        // The rest (owners[1], done, ring control blocks and data) is zero, as ftruncate and
        // fallocate left it: zero is the initial state of every one of them.
        h.ready.store(READY, Ordering::Release);
        if let Some(dead) = reclaimed {
            tracing::info!(target: "mycelium::remote", segment = %name, dead_owner = dead,
                "replaced a stale shared-memory segment left by a dead process");
        }
        Ok(seg)
    }

    /// Unlinks the segment `name` if every owner recorded in it is dead (or it is not a
    /// segment at all, or one left unfinished for `UNFINISHED_STALE`); returns the pid of the
    /// dead creator (0 when unknown). A segment that another creator is setting up (created,
    /// not yet sized or not yet given its header) is left alone.
    fn reclaim(name: &str) -> Result<u32, ShmError> {
        Self::reclaim_if(name, |age| age >= UNFINISHED_STALE)
    }

    /// As `reclaim`, but a segment that is not yet set up (shorter than a header, or without
    /// its magic yet) is removed only if `remove_unfinished(age)` agrees (`age`: time since
    /// its last change).
    fn reclaim_if(
        name: &str,
        remove_unfinished: impl Fn(std::time::Duration) -> bool,
    ) -> Result<u32, ShmError> {
        let fd = shm::open(name, shm::OFlags::RDWR, Mode::empty())
            .map_err(Self::io(name, "open the existing"))?;
        let st = rustix::fs::fstat(&fd).map_err(Self::io(name, "inspect the existing"))?;
        let uid = rustix::process::geteuid().as_raw();
        if st.st_uid != uid {
            return Err(ShmError::BadSegment {
                name: name.to_owned(),
                problem: format!("it belongs to uid {}, not to this user ({uid})", st.st_uid),
            });
        }
        let unfinished = || ShmError::BadSegment {
            name: name.to_owned(),
            problem: format!(
                "another process is setting it up (if it stays unfinished, it is replaced \
                 {} s after its last change)",
                UNFINISHED_STALE.as_secs()
            ),
        };
        let mut dead = 0;
        let size = st.st_size.max(0) as usize;
        if size >= DATA_START {
            let seg = Self::map(name, fd, DATA_START, Side::Creator, 0)?;
            let h = seg.header();
            let magic = h.magic.load(Ordering::Acquire);
            if magic == MAGIC {
                let version = h.version.load(Ordering::Acquire);
                if version != LAYOUT_VERSION {
                    // Its owners cannot be read with this layout: leave it to a person.
                    return Err(ShmError::BadSegment {
                        name: name.to_owned(),
                        problem: format!(
                            "it has layout version {version} (another build of Mycelium), this \
                             build speaks {LAYOUT_VERSION}; if no process uses it, remove \
                             {SHM_DIR}{name}"
                        ),
                    });
                }
                // The creator's slot is recorded before the magic is written; an attacher's
                // only once it has claimed the slot (`Owner::keeps`).
                for (i, owner) in h.owners.iter().enumerate() {
                    let holds = if i == 0 { owner.alive() } else { owner.keeps() };
                    if holds {
                        return Err(ShmError::InUse {
                            name: name.to_owned(),
                            pid: owner.pid.load(Ordering::Acquire),
                        });
                    }
                }
                dead = h.owners[0].pid.load(Ordering::Acquire);
            } else if magic == 0 && !remove_unfinished(age(&st)) {
                // A creator writes nothing but the magic there: zero is a segment being set
                // up; anything else is not one of ours.
                return Err(unfinished());
            }
        } else if !remove_unfinished(age(&st)) {
            return Err(unfinished());
        }
        // Another creator may have replaced the object since it was opened: remove only the
        // one inspected.
        if !same_object(name, &st) {
            return Err(unfinished());
        }
        match shm::unlink(name) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(dead),
            Err(e) => Err(Self::io(name, "remove the stale")(e)),
        }
    }

    /// Opens the segment `name` that a creator set up for schema `digest`.
    pub fn open(name: &str, digest: [u8; 32]) -> Result<Segment, ShmError> {
        Self::open_as(name, digest, me())
    }

    /// As `open`, recording `me` as the attacher.
    fn open_as(name: &str, digest: [u8; 32], me: Me) -> Result<Segment, ShmError> {
        let bad = |problem: String| ShmError::BadSegment {
            name: name.to_owned(),
            problem,
        };
        let fd =
            shm::open(name, shm::OFlags::RDWR, Mode::empty()).map_err(Self::io(name, "open"))?;
        let st = rustix::fs::fstat(&fd).map_err(Self::io(name, "inspect"))?;
        let uid = rustix::process::geteuid().as_raw();
        if st.st_uid != uid {
            return Err(bad(format!(
                "it belongs to uid {}, not to this user ({uid})",
                st.st_uid
            )));
        }
        if st.st_mode & 0o077 != 0 {
            return Err(bad(format!(
                "its mode {:o} lets other users in",
                st.st_mode & 0o777
            )));
        }
        let size = st.st_size.max(0) as usize;
        if size < DATA_START {
            return Err(bad(format!(
                "it is {size} bytes long, too short for a header"
            )));
        }
        // Not joined until it takes the attacher's slot: dropping it on an error below only
        // unmaps it.
        let mut seg = Self::map(name, fd, size, Side::Attacher, 0)?;
        let fail = |seg: Segment, e: ShmError| {
            drop(seg);
            Err(e)
        };
        let h = seg.header();
        if h.ready.load(Ordering::Acquire) != READY {
            return fail(
                seg,
                bad("its creator has not finished setting it up".into()),
            );
        }
        if h.magic.load(Ordering::Relaxed) != MAGIC {
            return fail(
                seg,
                bad("it is not a Mycelium segment (wrong magic)".into()),
            );
        }
        let version = h.version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return fail(
                seg,
                bad(format!(
                    "layout version {version}, this build speaks {LAYOUT_VERSION}"
                )),
            );
        }
        let ring_bytes = h.ring_bytes.load(Ordering::Relaxed) as usize;
        if !check_capacity(ring_bytes)
            || total_len(ring_bytes) != size
            || h.total_len.load(Ordering::Relaxed) != size as u64
        {
            return fail(
                seg,
                bad(format!(
                    "ring size {ring_bytes} does not match its length {size}"
                )),
            );
        }
        let mut theirs = [0u8; 32];
        for (bytes, word) in theirs.chunks_exact_mut(8).zip(&h.digest) {
            bytes.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        if theirs != digest {
            let e = ShmError::SchemaMismatch {
                name: name.to_owned(),
                ours: hex(&digest),
                theirs: hex(&theirs),
            };
            return fail(seg, e);
        }
        // The slot is claimed first: a process that loses the claim must not touch the
        // winner's start time. Until the start time and namespace follow, the attacher counts
        // as alive (unknown), never as dead.
        if let Err(prev) =
            h.owners[1]
                .pid
                .compare_exchange(0, me.pid, Ordering::AcqRel, Ordering::Acquire)
        {
            return fail(
                seg,
                bad(format!(
                    "it was already attached by process {prev}; its creator must replace it"
                )),
            );
        }
        h.owners[1].ns.store(me.ns, Ordering::Relaxed);
        h.owners[1].start.store(me.start, Ordering::Relaxed);
        h.owners[1].recorded.store(RECORDED, Ordering::Release);
        seg.ring_bytes = ring_bytes;
        seg.joined = true;
        Ok(seg)
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This side.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Bytes of each ring's data area.
    pub fn ring_bytes(&self) -> usize {
        self.ring_bytes
    }

    /// When `create` replaced a stale segment: the pid of its dead creator (0 if unknown).
    pub fn reclaimed_from(&self) -> Option<u32> {
        self.reclaimed
    }

    /// The peer's pid, once it has attached (for the attacher: the creator's, always).
    pub fn peer_pid(&self) -> Option<u32> {
        let pid = self.header().owners[1 - self.side.index()]
            .pid
            .load(Ordering::Acquire);
        (pid != 0).then_some(pid)
    }

    /// False once the peer attached and then died. (Before it attaches, it is not dead.)
    pub fn peer_alive(&self) -> bool {
        let owner = &self.header().owners[1 - self.side.index()];
        owner.pid.load(Ordering::Acquire) == 0 || owner.alive()
    }

    /// The two ends this side uses: the producer of its outgoing ring and the consumer of its
    /// incoming one.
    pub fn ends(self: &Arc<Self>) -> (Producer, Consumer) {
        let ctl = |i: usize| -> *const RingControl {
            // SAFETY: both control blocks lie inside the mapping (layout checked by `create`
            // or `open`), 128-byte aligned.
            unsafe { self.base.add(HEADER_SPACE + i * CTL_SPACE).cast() }
        };
        let data = |i: usize| -> *const super::sync::AtomicU64 {
            // SAFETY: both data areas lie inside the mapping: `total_len(ring_bytes) == len`.
            unsafe { self.base.add(DATA_START + i * self.ring_bytes).cast() }
        };
        let (out, inc) = match self.side {
            Side::Creator => (0, 1),
            Side::Attacher => (1, 0),
        };
        let owner: Arc<dyn std::any::Any + Send + Sync> = self.clone();
        // SAFETY: the regions are inside the mapping that `owner` keeps alive, made of
        // atomics, of the checked capacity. This side is meant to be the only writer of ring
        // `out` and the only reader of ring `inc`; a second pair of ends (or a hostile peer)
        // breaks the protocol, which the checks report as corruption, but every access stays
        // an atomic access inside the mapping.
        unsafe {
            (
                Producer::from_raw(ctl(out), data(out), self.ring_bytes, owner.clone()),
                Consumer::from_raw(ctl(inc), data(inc), self.ring_bytes, owner),
            )
        }
    }

    fn unmap(&self) {
        // SAFETY: `base`/`len` are the mapping made in `map`; called from `drop`, when no
        // reference into the mapping is left (the ring ends hold an `Arc` of the segment).
        let _ = unsafe { rustix::mm::munmap(self.base.cast(), self.len) };
    }

    /// Leaves the segment as a process killed with SIGKILL would: mapped no more, not done,
    /// not unlinked.
    #[cfg(all(test, not(mycelium_loom)))]
    pub(crate) fn abandon(mut self) {
        self.joined = false;
    }

    /// Whether the object under our name is still the one we mapped.
    fn still_ours(&self) -> bool {
        let Ok(fd) = shm::open(self.name.as_str(), shm::OFlags::RDONLY, Mode::empty()) else {
            return false;
        };
        match (rustix::fs::fstat(&fd), rustix::fs::fstat(&self.fd)) {
            (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
            _ => false,
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if !self.joined {
            self.unmap();
            return;
        }
        self.header().done.fetch_add(1, Ordering::AcqRel);
        // The name is of no use once one side is done: an attacher opens it once, at the
        // link's start. Waiting for the other side (or its death) to unlink it left it behind
        // whenever that side's process ended without dropping its mapping (`process::exit`
        // right after closing a link) while this side still judged it alive.
        if self.still_ours() {
            let _ = shm::unlink(self.name.as_str());
        }
        self.unmap();
    }
}

#[cfg(all(test, not(mycelium_loom)))]
#[path = "segment_create_tests.rs"]
mod create_tests;

#[cfg(all(test, not(mycelium_loom)))]
#[path = "segment_stale_tests.rs"]
mod stale_tests;

#[cfg(all(test, not(mycelium_loom)))]
#[path = "segment_reserve_tests.rs"]
mod reserve_tests;
