//! Golden vectors: frames written by the Rust encoder that the Python and OCaml codecs must
//! decode to the same values and re-encode to the same bytes.
//!
//! `tests/contracts/golden/frames.bin` holds the frames back to back (frame `i` has
//! `seq = i`); `expected.txt` holds, per frame, the message in canonical text
//! (`docs/contracts-languages.md`: floats as IEEE-754 bits, so NaN compares exactly). This
//! test rebuilds both from the values below and fails if they differ from the committed
//! files. After a deliberate change, rewrite them and review the diff:
//!
//! ```text
//! MYCELIUM_BLESS=1 cargo test -p mycelium-contracts --test golden
//! ```

mod files;
mod mutations;
mod text;
mod vectors;
