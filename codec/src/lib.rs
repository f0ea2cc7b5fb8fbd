//! Runtime for Mycelium wire messages: the 32-byte frame header, the TLV body codec and the
//! traits that types generated from `contracts.yaml` implement. The byte layout is
//! specified in `docs/wire.md`.
//!
//! Generated code is the usual client, but the traits can be implemented by hand:
//!
//! ```
//! use mycelium_codec::{
//!     decode_message, encode_frame, read::Reader, write, DecodeError, WireMessage, WireStruct,
//!     WireType, DEFAULT_MAX_FRAME,
//! };
//!
//! #[derive(Debug, PartialEq)]
//! struct Ping {
//!     nonce: u64,
//! }
//!
//! impl WireStruct for Ping {
//!     const NAME: &'static str = "Ping";
//!     fn encode_fields(&self, out: &mut Vec<u8>) {
//!         write::field(out, 1, self.nonce);
//!     }
//!     fn decode_fields(mut r: Reader<'_>) -> Result<Self, DecodeError> {
//!         let mut nonce = None;
//!         while let Some((tag, wire)) = r.key()? {
//!             match tag {
//!                 1 => {
//!                     Reader::expect(wire, WireType::I64, "nonce", 1)?;
//!                     if nonce.replace(r.fixed::<u64>()?).is_some() {
//!                         return Err(DecodeError::DuplicateField { field: "nonce", tag: 1 });
//!                     }
//!                 }
//!                 _ => r.skip(wire)?,
//!             }
//!         }
//!         Ok(Ping {
//!             nonce: nonce.ok_or(DecodeError::MissingField { record: "Ping", field: "nonce", tag: 1 })?,
//!         })
//!     }
//! }
//!
//! impl WireMessage for Ping {
//!     const TYPE_ID: u16 = 1;
//!     const TOPIC: &'static str = "sys.ping";
//! }
//!
//! let mut buf = Vec::with_capacity(64);
//! encode_frame(&Ping { nonce: 7 }, 0, 1_000, &mut buf);
//! let (header, ping) = decode_message::<Ping>(&buf, DEFAULT_MAX_FRAME)?;
//! assert_eq!((header.seq, header.ts_ns, ping), (0, 1_000, Ping { nonce: 7 }));
//! # Ok::<(), mycelium_codec::FrameError>(())
//! ```

#![warn(missing_docs)]

mod error;
mod fixed;
mod header;
mod message;
mod wire_type;

pub mod reader;
pub mod serde_array;
pub mod text;
pub mod writer;

pub use error::{DecodeError, FrameError, LengthBound};
pub use fixed::Fixed;
pub use header::{FrameHeader, DEFAULT_MAX_FRAME, FLAG_END_OF_BATCH, HEADER_LEN, MAGIC, VERSION};
pub use message::{decode_frame, decode_message, encode_frame, WireMessage, WireStruct};
pub use reader::{heap_budget, MAX_DEPTH, STACK_BUDGET};
pub use wire_type::WireType;

/// Short names for generated code: `read::Reader`, `write::field`, ...
pub use reader as read;
pub use writer as write;

/// Re-exported so generated code needs only this crate as a dependency.
pub use serde;
