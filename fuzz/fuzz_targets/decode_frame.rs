//! Feeds arbitrary bytes to the frame decoder, then to the decoder of every message type
//! (the header's own, and each of the others, so that every decoder sees every input).
//! Decoding must never panic; whatever decodes must re-encode to a frame that decodes to
//! the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mycelium_codec::{decode_frame, DEFAULT_MAX_FRAME};
use mycelium_contracts::{AnyMessage, MESSAGE_TYPES};

fuzz_target!(|data: &[u8]| {
    // As a whole frame.
    if let Ok((header, body)) = decode_frame(data, DEFAULT_MAX_FRAME) {
        check(header.type_id, body);
    }
    // As a bare body, for every message type: most inputs do not start with a valid
    // header, and the body decoders are where the complexity is.
    for (id, _, _) in MESSAGE_TYPES {
        check(id, data);
    }
});

fn check(type_id: u16, body: &[u8]) {
    let Some(Ok(msg)) = AnyMessage::decode(type_id, body) else {
        return;
    };
    let mut buf = Vec::new();
    msg.encode_frame(0, 0, &mut buf);
    let (h, b) = decode_frame(&buf, u32::MAX).expect("re-encoded frame decodes");
    let again = AnyMessage::decode(h.type_id, b)
        .expect("known type")
        .expect("re-encoded body decodes");
    // Floats may be NaN: compare the Debug text, which is exact and NaN-stable.
    assert_eq!(format!("{again:?}"), format!("{msg:?}"));
}
