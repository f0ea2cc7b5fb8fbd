//! Mutated frames: golden frames with a few bytes changed, cut or inserted, and what the
//! Rust reader makes of each (`mutations.txt`).

use mycelium_codec::{decode_frame, FrameError, DEFAULT_MAX_FRAME};
use mycelium_contracts::*;

/// How many mutated frames `mutations.txt` describes.
const MUTATIONS: usize = 4000;

/// SplitMix64: a fixed, dependency-free generator, so the mutations never change.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// FNV-1a, 64 bits: short enough to write in every language of the suite.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The variant name of an error, which the Python and OCaml codecs use as their error kind.
fn variant(e: &impl std::fmt::Debug) -> String {
    format!("{e:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// What a reader makes of `frame`: `err <kind>`, or `ok <hash>` with the FNV-1a hash of the
/// frame re-encoded from the decoded message (same seq, ts_ns and flags).
fn outcome(frame: &[u8]) -> String {
    let (header, body) = match decode_frame(frame, DEFAULT_MAX_FRAME) {
        Ok(split) => split,
        Err(FrameError::Body(e)) => return format!("err {}", variant(&e)),
        Err(e) => return format!("err {}", variant(&e)),
    };
    match AnyMessage::decode(header.type_id, body) {
        None => "err UnknownType".to_string(),
        Some(Err(e)) => format!("err {}", variant(&e)),
        Some(Ok(msg)) => {
            let mut again = Vec::new();
            msg.encode_frame(header.seq, header.ts_ns, &mut again);
            again[5] = header.flags;
            format!("ok {:016x}", fnv1a64(&again))
        }
    }
}

fn set_body_len(frame: &mut [u8]) {
    let body_len = u32::try_from(frame.len() - 32).expect("small frame");
    frame[8..12].copy_from_slice(&body_len.to_le_bytes());
}

/// `mutations.txt`: golden frames with a few bytes changed, cut or inserted, each with the
/// Rust reader's outcome, which the other readers must reproduce exactly.
pub(crate) fn mutations(frames: &[Vec<u8>]) -> String {
    let mut rng = SplitMix(0x4d59_434c);
    let mut out = String::from(
        "# <golden frame index> <edits> -> <outcome>, one mutated frame per line. Edits, in\n\
         # order: sOFFSET:XX sets a byte; cLEN cuts the frame to LEN bytes; iOFFSET:HEX inserts\n\
         # bytes; after a cut or an insert, body_len (bytes 8..12) is rewritten to match.\n\
         # Outcome: `err <kind>`, or `ok <FNV-1a 64 of the re-encoded frame>`.\n\
         # Written by contracts/tests/golden/; do not edit.\n",
    );
    for _ in 0..MUTATIONS {
        let index = rng.below(frames.len());
        let mut frame = frames[index].clone();
        let mut edits = Vec::new();
        for _ in 0..1 + rng.below(3) {
            match rng.below(10) {
                0..=5 => {
                    let at = if rng.below(6) == 0 || frame.len() == 32 {
                        rng.below(32)
                    } else {
                        32 + rng.below(frame.len() - 32)
                    };
                    let byte = rng.below(256) as u8;
                    frame[at] = byte;
                    edits.push(format!("s{at}:{byte:02x}"));
                }
                6 | 7 => {
                    let len = 32 + rng.below(frame.len() - 32 + 1);
                    frame.truncate(len);
                    set_body_len(&mut frame);
                    edits.push(format!("c{len}"));
                }
                _ => {
                    let at = 32 + rng.below(frame.len() - 32 + 1);
                    let bytes: Vec<u8> = (0..1 + rng.below(6))
                        .map(|_| rng.below(256) as u8)
                        .collect();
                    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    frame.splice(at..at, bytes);
                    set_body_len(&mut frame);
                    edits.push(format!("i{at}:{hex}"));
                }
            }
        }
        out.push_str(&format!(
            "{index} {} -> {}\n",
            edits.join(" "),
            outcome(&frame)
        ));
    }
    out
}
