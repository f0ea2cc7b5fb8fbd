//! The frame parser and the stream reader on arbitrary bytes, split into arbitrary chunks:
//! the same checks as the `link_frame` fuzz target, run as a property test.

use mycelium_remote::frame::{encode_frame, parse_frame, FrameSpec, Kind};
use mycelium_remote::reader::FrameReader;
use proptest::prelude::*;

const MAX_BODY: u32 = 4096;

fn check(data: &[u8]) -> usize {
    let mut frames = 0;
    let mut rest = data;
    while let Ok(Some((frame, len))) = parse_frame(rest, MAX_BODY) {
        assert!(len <= rest.len());
        let mut again = Vec::new();
        let spec = FrameSpec {
            kind: frame.kind,
            type_id: frame.type_id,
            seq: frame.seq,
            ts_ns: frame.ts_ns,
            ack: frame.ack,
            corr: frame.corr,
            name: frame.name,
            key: frame.key,
        };
        encode_frame(&mut again, &spec, MAX_BODY, |o| {
            o.extend_from_slice(frame.payload)
        })
        .expect("a parsed frame re-encodes");
        let (back, n) = parse_frame(&again, MAX_BODY)
            .expect("re-encoded frame parses")
            .expect("re-encoded frame is whole");
        assert_eq!(n, again.len());
        assert_eq!(back, frame);
        rest = &rest[len..];
        frames += 1;
    }
    frames
}

/// Feeds `stream` in `chunk`-byte reads; returns how many frames came out.
fn stream(stream: &[u8], chunk: usize) -> usize {
    let mut reader = FrameReader::new(MAX_BODY);
    let mut pos = 0;
    let mut frames = 0;
    loop {
        loop {
            match reader.next_buffered() {
                Ok(Some(_)) => frames += 1,
                Ok(None) => break,
                Err(_) => return frames,
            }
        }
        if pos >= stream.len() {
            return frames;
        }
        let filled = reader.try_fill(|buf| {
            let n = buf.len().min(chunk).min(stream.len() - pos);
            buf[..n].copy_from_slice(&stream[pos..pos + n]);
            pos += n;
            Ok(n)
        });
        if filled.is_err() {
            return frames;
        }
        assert!(reader.buffered_capacity() <= 16 * 1024 + 32 + MAX_BODY as usize);
    }
}

fn valid_frames(n: usize, payload: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let spec = FrameSpec {
            kind: Kind::Publish,
            type_id: 100,
            seq: i as u64 + 1,
            ts_ns: 0,
            ack: 0,
            corr: 0,
            name: "md.quote.AAPL",
            key: Some(i as u64),
        };
        encode_frame(&mut out, &spec, MAX_BODY, |o| {
            o.resize(o.len() + payload, i as u8)
        })
        .unwrap();
    }
    out
}

#[test]
fn valid_stream_in_any_chunking() {
    let bytes = valid_frames(50, 300);
    assert_eq!(check(&bytes), 50);
    for chunk in [1, 7, 32, 33, 1000, 1 << 20] {
        assert_eq!(stream(&bytes, chunk), 50, "chunk {chunk}");
    }
}

#[test]
fn frame_of_the_maximum_size_passes_and_one_more_byte_does_not() {
    let overhead = 20 + "md.quote.AAPL".len();
    let max = valid_frames(1, MAX_BODY as usize - overhead);
    assert_eq!(stream(&max, 4096), 1);
    let mut over = max.clone();
    over[8..12].copy_from_slice(&(MAX_BODY + 1).to_le_bytes());
    assert_eq!(stream(&over, 4096), 0);
}

proptest! {
    #[test]
    fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..64) {
        check(&data);
        stream(&data, chunk);
    }

    #[test]
    fn mutated_valid_stream(flips in proptest::collection::vec((0usize..4000, any::<u8>()), 1..8), chunk in 1usize..600) {
        let mut bytes = valid_frames(10, 300);
        for (at, v) in flips {
            let at = at % bytes.len();
            bytes[at] = v;
        }
        let whole = check(&bytes);
        prop_assert_eq!(stream(&bytes, chunk), whole);
    }
}
