//! Feeds arbitrary bytes to the link's frame parser (`mycelium_remote::frame::parse_frame`)
//! and to its stream reader, split into arbitrary chunks. Nothing may panic; a parsed frame
//! never claims more bytes than were given; whatever parses re-encodes to a frame that parses
//! to the same fields; the reader never buffers more than the largest frame it accepts.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mycelium_remote::frame::{encode_frame, parse_frame, FrameSpec};
use mycelium_remote::reader::FrameReader;

const MAX_BODY: u32 = 4096;

fuzz_target!(|data: &[u8]| {
    // As one buffer: parse frame after frame until the bytes run out or are refused.
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
    }

    // As a stream: the first byte picks a chunk size.
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 64) + 1;
    let mut reader = FrameReader::new(MAX_BODY);
    let mut pos = 0;
    loop {
        loop {
            match reader.next_buffered() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        if pos >= stream.len() {
            return;
        }
        let filled = reader.try_fill(|buf| {
            let n = buf.len().min(chunk).min(stream.len() - pos);
            buf[..n].copy_from_slice(&stream[pos..pos + n]);
            pos += n;
            Ok(n)
        });
        if filled.is_err() {
            return;
        }
        assert!(reader.buffered_capacity() <= 16 * 1024 + 32 + MAX_BODY as usize);
    }
});
