//! Feeds arbitrary bytes to the frame decoder, then to the decoder of every message type
//! (the header's own, and each of the others, so that every decoder sees every input), of
//! the repository's `contracts.yaml` and of the hostile test schema (large inline arrays in
//! list elements, recursive structs holding them, wide structs). Decoding must never
//! panic, never allocate past its budget (a forged count would abort the process on an
//! allocation failure) and never overflow the stack of the 2 MiB thread it runs on;
//! whatever decodes must re-encode to a frame that decodes to the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mycelium_codec::{decode_frame, DEFAULT_MAX_FRAME};
use mycelium_contracts::{AnyMessage, MESSAGE_TYPES};

#[allow(missing_docs, dead_code, clippy::all)]
mod hostile {
    include!(concat!(env!("OUT_DIR"), "/hostile.rs"));
}

/// libFuzzer runs the target on the main thread; the library's threads have 2 MiB.
const STACK: usize = 2 << 20;

fuzz_target!(|data: &[u8]| {
    let data = data.to_vec();
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || run(&data))
        .expect("spawn")
        .join()
        .expect("no panic");
});

fn run(data: &[u8]) {
    // As a whole frame.
    if let Ok((header, body)) = decode_frame(data, DEFAULT_MAX_FRAME) {
        check(header.type_id, body);
        check_hostile(header.type_id, body);
    }
    // As a bare body, for every message type: most inputs do not start with a valid
    // header, and the body decoders are where the complexity is.
    for (id, _, _) in MESSAGE_TYPES {
        check(id, data);
    }
    for (id, _, _) in hostile::MESSAGE_TYPES {
        check_hostile(id, data);
    }
    // The hostile schema's frames are mostly length-prefixed lists: also try the input
    // behind a list key with a count the input's first bytes forge.
    if let Some(count) = data.get(..4) {
        let mut body = Vec::with_capacity(data.len() + 10);
        body.extend_from_slice(&[0x0c, 0x00]); // tag 1, LEN
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(count);
        body.extend_from_slice(&data[4..]);
        for (id, _, _) in hostile::MESSAGE_TYPES {
            check_hostile(id, &body);
        }
    }
}

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

fn check_hostile(type_id: u16, body: &[u8]) {
    let Some(Ok(msg)) = hostile::AnyMessage::decode(type_id, body) else {
        return;
    };
    let mut buf = Vec::new();
    msg.encode_frame(0, 0, &mut buf);
    let (h, b) = decode_frame(&buf, u32::MAX).expect("re-encoded frame decodes");
    match hostile::AnyMessage::decode(h.type_id, b).expect("known type") {
        Ok(again) => assert_eq!(format!("{again:?}"), format!("{msg:?}")),
        // The re-encoded body drops the unknown fields the input carried, so its heap
        // budget can be smaller than the decoded value (docs/wire.md, "Decoding limits").
        Err(mycelium_codec::DecodeError::MemoryLimit { .. }) => {}
        Err(e) => panic!("re-encoded body does not decode: {e}"),
    }
}
