//! Shared memory: same-host links at the speed of the hardware.
//!
//! A link between two processes on one host gets one segment ([`segment`]) holding two
//! single-producer/single-consumer rings ([`ring`]), one per direction. Writing a message is a
//! few stores and one release store of the write index; reading it, an acquire load and a
//! copy. When a ring is empty (or full) the waiting end spins for a while, then parks on a
//! futex in the segment ([`wake`]), so that an idle link costs no CPU and a busy one no
//! system call.
//!
//! The other process is not trusted: every index and length it writes is checked against the
//! ring before use, and a corrupt one ends the link with [`RingError::Corrupt`] — never an
//! out-of-bounds read or a panic. Segments are created mode 0600 under a configurable prefix,
//! record their owners' pids, are unlinked when both sides are done, and are replaced when a
//! `kill -9` left one behind.
//!
//! A message larger than half a ring is refused ([`RingError::TooLarge`]) rather than
//! chunked: the ring stays simple and bounded, and the size is the link's configuration.
//!
//! Two ends in one process (normally they are two processes, one calling [`create`], the
//! other [`open`]):
//!
//! ```
//! use mycelium_remote::shm::{self, ShmOptions};
//!
//! let mut opts = ShmOptions::new([7; 32]);
//! opts.prefix = format!("doc-shm-{}", std::process::id());
//! opts.ring_bytes = 1 << 16;
//! let (mut a_tx, mut a_rx) = shm::create("a-b", &opts)?;
//! let (mut b_tx, mut b_rx) = shm::open("a-b", &opts)?;
//! a_tx.send(b"ping")?;
//! assert_eq!(b_rx.recv_with(|m| m.to_vec())?, b"ping");
//! b_tx.send(b"pong")?;
//! assert_eq!(a_rx.recv_with(|m| m.to_vec())?, b"pong");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod channel;
pub mod error;
mod owner;
pub mod rendezvous;
pub mod ring;
pub mod segment;
pub mod stream;
mod sync;
pub mod wake;

#[cfg(all(test, mycelium_loom))]
mod loom_tests;

pub use channel::{create, open, ShmOptions, ShmReceiver, ShmSender};
pub use error::{RingError, ShmError};
pub use rendezvous::{ShmAcceptor, ShmEndpoint};
pub use stream::{ShmReadHalf, ShmStream, ShmWriteHalf};
pub use wake::WaitPolicy;
