//! Frame header checks: each failure is its own typed error.

use mycelium_codec::{
    decode_frame, encode_frame, read::Reader, write, DecodeError, FrameError, FrameHeader,
    WireMessage, WireStruct, DEFAULT_MAX_FRAME, HEADER_LEN,
};

struct Blob(Vec<u8>);

impl WireStruct for Blob {
    const NAME: &'static str = "Blob";
    fn encode_fields(&self, out: &mut Vec<u8>) {
        write::key(out, 1, mycelium_codec::WireType::Len);
        write::bytes(out, &self.0);
    }
    fn decode_fields(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut v = None;
        while let Some((tag, wire)) = r.key()? {
            match tag {
                1 => v = Some(r.bytes()?),
                _ => r.skip(wire)?,
            }
        }
        v.map(Blob).ok_or(DecodeError::MissingField {
            record: "Blob",
            field: "data",
            tag: 1,
        })
    }
}

impl WireMessage for Blob {
    const TYPE_ID: u16 = 0x1234;
    const TOPIC: &'static str = "t.blob";
}

fn frame(len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&Blob(vec![0xAB; len]), 9, 77, &mut out);
    out
}

#[test]
fn header_layout_matches_the_spec() {
    let f = frame(3);
    assert_eq!(&f[0..4], b"MYCL");
    assert_eq!(f[4], 1);
    assert_eq!(f[5], 0);
    assert_eq!(&f[6..8], &0x1234u16.to_le_bytes());
    assert_eq!(&f[8..12], &(2u32 + 4 + 3).to_le_bytes());
    assert_eq!(&f[12..20], &9u64.to_le_bytes());
    assert_eq!(&f[20..28], &77u64.to_le_bytes());
    assert_eq!(&f[28..32], &[0, 0, 0, 0]);
    // key = (1 << 3) | LEN = 0x0C
    assert_eq!(&f[32..], &[0x0C, 0x00, 3, 0, 0, 0, 0xAB, 0xAB, 0xAB]);
}

#[test]
fn header_round_trips() {
    let h = FrameHeader {
        flags: 1,
        type_id: 7,
        body_len: 0,
        seq: u64::MAX,
        ts_ns: 42,
    };
    let mut out = Vec::new();
    h.encode(&mut out);
    assert_eq!(FrameHeader::decode(&out, 0), Ok(h));
}

#[test]
fn each_header_failure_is_typed() {
    let good = frame(4);
    assert!(matches!(
        decode_frame(&good[..31], DEFAULT_MAX_FRAME),
        Err(FrameError::Truncated {
            needed: 32,
            available: 31
        })
    ));
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(
        decode_frame(&bad, DEFAULT_MAX_FRAME),
        Err(FrameError::BadMagic { .. })
    ));
    let mut bad = good.clone();
    bad[4] = 2;
    assert!(matches!(
        decode_frame(&bad, DEFAULT_MAX_FRAME),
        Err(FrameError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    ));
    assert!(matches!(
        decode_frame(&good, 5),
        Err(FrameError::FrameTooLarge {
            body_len: 10,
            max: 5
        })
    ));
    assert!(matches!(
        decode_frame(&good[..good.len() - 1], DEFAULT_MAX_FRAME),
        Err(FrameError::Truncated { .. })
    ));
    let mut huge = good.clone();
    huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_frame(&huge, u32::MAX),
        Err(FrameError::Truncated { .. })
    ));
}

#[test]
fn reserved_bits_are_ignored_and_trailing_bytes_left_alone() {
    let mut f = frame(2);
    f[5] = 0xFE;
    f[28] = 0xFF;
    f.extend_from_slice(b"next frame");
    let (h, body) = decode_frame(&f, DEFAULT_MAX_FRAME).expect("valid");
    assert_eq!(h.flags, 0xFE);
    assert_eq!(h.frame_len(), HEADER_LEN + body.len());
    assert_eq!(body.len(), 8);
}

#[test]
fn wrong_type_id_is_reported() {
    struct Other;
    impl WireStruct for Other {
        const NAME: &'static str = "Other";
        fn encode_fields(&self, _: &mut Vec<u8>) {}
        fn decode_fields(_: Reader<'_>) -> Result<Self, DecodeError> {
            Ok(Other)
        }
    }
    impl WireMessage for Other {
        const TYPE_ID: u16 = 1;
        const TOPIC: &'static str = "t.other";
    }
    assert!(matches!(
        mycelium_codec::decode_message::<Other>(&frame(1), DEFAULT_MAX_FRAME),
        Err(FrameError::UnexpectedType {
            expected: 1,
            found: 0x1234
        })
    ));
}
