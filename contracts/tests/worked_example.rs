//! The worked example in docs/wire.md, byte for byte.

use mycelium_codec::encode_frame;
use mycelium_contracts::Heartbeat;

#[test]
fn heartbeat_frame_matches_the_documented_bytes() {
    let hb = Heartbeat {
        ts_ns: 1,
        seq: 2,
        sender: "ab".to_string(),
    };
    let mut buf = Vec::new();
    encode_frame(&hb, 5, 7, &mut buf);
    let expected: Vec<u8> = [
        // header
        "4d 59 43 4c 01 00 84 03 1c 00 00 00",
        "05 00 00 00 00 00 00 00",
        "07 00 00 00 00 00 00 00",
        "00 00 00 00",
        // body: ts_ns, seq, sender
        "0b 00 01 00 00 00 00 00 00 00",
        "13 00 02 00 00 00 00 00 00 00",
        "1c 00 02 00 00 00 61 62",
    ]
    .join(" ")
    .split(' ')
    .map(|h| u8::from_str_radix(h, 16).expect("hex"))
    .collect();
    assert_eq!(buf, expected);
}
