//! Rust types and codecs generated from the repository's `contracts.yaml` at build time.
//!
//! ```
//! use mycelium_contracts::{Quote, SCHEMA_DIGEST};
//! use mycelium_codec::{decode_message, encode_frame, WireMessage, DEFAULT_MAX_FRAME};
//!
//! let quote = Quote {
//!     ts_ns: 1_700_000_000_000_000_000,
//!     instrument: 42,
//!     bid_px: 100.25,
//!     bid_qty: 3.0,
//!     ask_px: 100.5,
//!     ask_qty: 1.0,
//! };
//! let mut buf = Vec::with_capacity(128);
//! encode_frame(&quote, 0, quote.ts_ns, &mut buf);
//! let (header, back) = decode_message::<Quote>(&buf, DEFAULT_MAX_FRAME)?;
//! assert_eq!(header.type_id, Quote::TYPE_ID);
//! assert_eq!(back, quote);
//! assert_eq!(SCHEMA_DIGEST.len(), 32);
//! # Ok::<(), mycelium_codec::FrameError>(())
//! ```

#![warn(missing_docs)]

//!
//! With the `actors` feature (on by default) every generated type also implements
//! `mycelium_actors::Reply`, so a handler can answer with one (`type Reply = Fill;`); the
//! orphan rule allows that impl only here, next to the types. Turn the feature off
//! (`default-features = false`) for the types and codecs alone, without the actor runtime.

include!(concat!(env!("OUT_DIR"), "/contracts.rs"));
