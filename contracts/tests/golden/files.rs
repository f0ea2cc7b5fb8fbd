//! The golden files: built from the vectors, compared with the committed files (or rewritten
//! with `MYCELIUM_BLESS=1`), and read back by the Rust decoder.

use std::path::PathBuf;

use mycelium_codec::{decode_frame, DEFAULT_MAX_FRAME, FLAG_END_OF_BATCH};
use mycelium_contracts::*;

use crate::mutations::mutations;
use crate::text::Text;
use crate::vectors::vectors;

/// The golden files, as built from [`vectors`].
struct Golden {
    /// `frames.bin`.
    frames: Vec<u8>,
    /// `expected.txt`.
    expected: String,
    /// `mutations.txt`.
    mutations: String,
}

/// Frame `i` has `seq = i`, `ts_ns = 1_700_000_000_000_000_000 + i`, and every fifth frame
/// (and the last) carries the end-of-batch flag, so readers see a flag set too.
fn build() -> Golden {
    let vectors = vectors();
    let mut frames = Vec::new();
    let mut each = Vec::new();
    let digest: String = SCHEMA_DIGEST.iter().map(|b| format!("{b:02x}")).collect();
    let mut expected = format!(
        "# One line per frame of frames.bin: the message in canonical text\n\
         # (docs/contracts-languages.md). Written by contracts/tests/golden/; do not edit.\n\
         # schema_digest {digest}\n"
    );
    for (i, msg) in vectors.iter().enumerate() {
        let start = frames.len();
        msg.encode_frame(i as u64, 1_700_000_000_000_000_000 + i as u64, &mut frames);
        if i % 5 == 4 || i + 1 == vectors.len() {
            frames[start + 5] |= FLAG_END_OF_BATCH;
        }
        each.push(frames[start..].to_vec());
        expected.push_str(&msg.text());
        expected.push('\n');
    }
    let mutations = mutations(&each);
    Golden {
        frames,
        expected,
        mutations,
    }
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/contracts/golden")
}

#[test]
fn golden_vectors_match_the_committed_files() {
    let golden = build();
    let dir = golden_dir();
    let files = [
        ("frames.bin", golden.frames),
        ("expected.txt", golden.expected.into_bytes()),
        ("mutations.txt", golden.mutations.into_bytes()),
    ];
    if std::env::var_os("MYCELIUM_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).expect("create the golden directory");
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).expect("write a golden file");
        }
        return;
    }
    let hint = "rerun with MYCELIUM_BLESS=1 to rewrite the golden files after a deliberate \
                wire change, then review the diff";
    for (name, bytes) in &files {
        let path = dir.join(name);
        let committed = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}; {hint}", path.display()));
        if let Some(at) = bytes.iter().zip(&committed).position(|(a, b)| a != b) {
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
            panic!("{name} differs first at byte {at} (line {line}); {hint}");
        }
        assert_eq!(
            bytes.len(),
            committed.len(),
            "{name} differs in length; {hint}"
        );
    }
}

#[test]
fn the_rust_decoder_reads_every_vector_back() {
    let Golden {
        frames, expected, ..
    } = build();
    let mut lines = expected.lines().filter(|l| !l.starts_with('#'));
    let mut rest = &frames[..];
    let mut seq = 0;
    while !rest.is_empty() {
        let (header, body) = decode_frame(rest, DEFAULT_MAX_FRAME).expect("valid frame");
        assert_eq!(header.seq, seq);
        let msg = AnyMessage::decode(header.type_id, body)
            .expect("known type id")
            .expect("valid body");
        assert_eq!(Some(msg.text().as_str()), lines.next(), "frame {seq}");
        rest = &rest[header.frame_len()..];
        seq += 1;
    }
    assert_eq!(lines.next(), None);
}
