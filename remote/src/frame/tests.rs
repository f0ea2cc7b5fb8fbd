use super::*;
use proptest::prelude::*;

fn frame(spec: FrameSpec<'_>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |o| {
        o.extend_from_slice(payload)
    })
    .expect("encodes");
    out
}

fn tell(seq: u64) -> FrameSpec<'static> {
    FrameSpec {
        kind: Kind::Tell,
        type_id: 100,
        seq,
        ts_ns: 9,
        ack: 0,
        corr: 0,
        name: "strategy",
        key: None,
    }
}

#[test]
fn round_trip() {
    let bytes = frame(tell(3), b"body");
    let (f, len) = parse_frame(&bytes, DEFAULT_MAX_BODY).unwrap().unwrap();
    assert_eq!(len, bytes.len());
    assert_eq!(
        (f.kind, f.type_id, f.seq, f.ts_ns, f.name, f.payload),
        (Kind::Tell, 100, 3, 9, "strategy", &b"body"[..])
    );
}

#[test]
fn the_writers_offsets_are_the_parsers_fields() {
    let mut bytes = frame(tell(3), b"body");
    assert_eq!(frame_time(&bytes), 9);
    assert_eq!(frame_time(&bytes[..TS_AT + 7]), 0);
    bytes[ACK_AT..ACK_AT + 8].copy_from_slice(&77u64.to_le_bytes());
    let (f, _) = parse_frame(&bytes, DEFAULT_MAX_BODY).unwrap().unwrap();
    assert_eq!((f.ack, f.ts_ns), (77, frame_time(&bytes)));
}

#[test]
fn publication_keys_round_trip() {
    let mut spec = tell(4);
    spec.kind = Kind::Publish;
    spec.name = "md.quote.AAPL";
    for key in [None, Some(0), Some(u64::MAX)] {
        spec.key = key;
        let bytes = frame(spec, b"q");
        let (f, _) = parse_frame(&bytes, DEFAULT_MAX_BODY).unwrap().unwrap();
        assert_eq!(
            (f.kind, f.key, f.name),
            (Kind::Publish, key, "md.quote.AAPL")
        );
    }
}

#[test]
fn every_prefix_asks_for_more() {
    let bytes = frame(tell(1), b"payload");
    for n in 0..bytes.len() {
        assert_eq!(
            parse_frame(&bytes[..n], DEFAULT_MAX_BODY),
            Ok(None),
            "prefix {n}"
        );
    }
}

#[test]
fn oversized_header_refused_before_body() {
    let mut bytes = frame(tell(1), b"x");
    bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes.truncate(HEADER_LEN);
    assert!(matches!(
        parse_frame(&bytes, DEFAULT_MAX_BODY),
        Err(WireError::Header(FrameError::FrameTooLarge { .. }))
    ));
    assert!(needed_len(&bytes, DEFAULT_MAX_BODY).is_err());
}

#[test]
fn bad_first_byte_refused_at_once() {
    assert!(matches!(
        parse_frame(b"G", DEFAULT_MAX_BODY),
        Err(WireError::Header(FrameError::BadMagic { .. }))
    ));
}

#[test]
fn lane_and_correlation_checked() {
    let mut spec = tell(0);
    let bytes = frame(spec, b"");
    assert!(matches!(
        parse_frame(&bytes, DEFAULT_MAX_BODY),
        Err(WireError::WrongLane { .. })
    ));
    spec = FrameSpec::control(Kind::Heartbeat);
    spec.seq = 4;
    let bytes = frame(spec, b"");
    assert!(matches!(
        parse_frame(&bytes, DEFAULT_MAX_BODY),
        Err(WireError::WrongLane { .. })
    ));
    spec = tell(1);
    spec.kind = Kind::Ask;
    let bytes = frame(spec, b"");
    assert!(matches!(
        parse_frame(&bytes, DEFAULT_MAX_BODY),
        Err(WireError::MissingCorrelation { .. })
    ));
}

#[test]
fn lying_name_length_and_kind_refused() {
    let mut bytes = frame(tell(1), b"");
    bytes[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&200u16.to_le_bytes());
    assert!(matches!(
        parse_frame(&bytes, DEFAULT_MAX_BODY),
        Err(WireError::NameTooLong { .. })
    ));
    bytes[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&8u16.to_le_bytes());
    bytes[HEADER_LEN] = 99;
    assert!(matches!(
        parse_frame(&bytes, DEFAULT_MAX_BODY),
        Err(WireError::UnknownKind { kind: 99 })
    ));
    let mut short = frame(FrameSpec::control(Kind::Ack), b"");
    short[8..12].copy_from_slice(&3u32.to_le_bytes());
    short.truncate(HEADER_LEN + 3);
    assert!(matches!(
        parse_frame(&short, DEFAULT_MAX_BODY),
        Err(WireError::ShortBody { body_len: 3 })
    ));
}

#[test]
fn send_side_limits() {
    let mut out = vec![1, 2];
    let long = "n".repeat(MAX_NAME_LEN + 1);
    let mut spec = tell(1);
    spec.name = &long;
    assert!(encode_frame(&mut out, &spec, DEFAULT_MAX_BODY, |_| {}).is_err());
    assert!(encode_frame(&mut out, &tell(1), 8, |o| o.extend_from_slice(&[0; 64])).is_err());
    assert_eq!(out, vec![1, 2]);
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_frame(&bytes, 128);
    }

    #[test]
    fn never_panics_on_mutated_frames(pos in 0usize..64, val: u8, cut in 0usize..80) {
        let mut bytes = frame(tell(7), b"some payload bytes");
        let at = pos % bytes.len();
        bytes[at] = val;
        bytes.truncate(cut.min(bytes.len()));
        if let Ok(Some((_, len))) = parse_frame(&bytes, DEFAULT_MAX_BODY) {
            prop_assert!(len <= bytes.len());
        }
    }

    /// A frame encoded around its payload's buffer is the frame `encode_frame` writes,
    /// whatever room the buffer has; the same limits refuse it.
    #[test]
    fn a_frame_around_its_payload_is_the_same_frame(
        publish: bool,
        key in proptest::option::of(any::<u64>()),
        corr: u64,
        ack: u64,
        name in "[a-z.]{0,40}",
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        spare in 0usize..200,
        max_body in 0u32..400,
    ) {
        let spec = FrameSpec {
            kind: if publish { Kind::Publish } else { Kind::Reply },
            type_id: 42,
            seq: 5,
            ts_ns: 6,
            ack,
            corr,
            name: &name,
            key,
        };
        let mut buffer = Vec::with_capacity(payload.len() + spare);
        buffer.extend_from_slice(&payload);
        let mut expected = Vec::new();
        let written = encode_frame(&mut expected, &spec, max_body, |o| o.extend_from_slice(&payload));
        match (encode_frame_around(buffer, &spec, max_body), written) {
            (Ok(around), Ok(_)) => prop_assert_eq!(around, expected),
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (a, b) => prop_assert!(false, "around {:?}, encode_frame {:?}", a.map(|v| v.len()), b),
        }
    }
}

#[test]
fn a_peers_text_is_shown_escaped_and_bounded() {
    assert_eq!(peer_text(b"schema mismatch"), "schema mismatch");
    assert_eq!(
        peer_text("d\u{e9}j\u{e0} vu".as_bytes()),
        "d\u{e9}j\u{e0} vu"
    );
    // A forged log line and a terminal escape stay on one line, visible as escapes.
    assert_eq!(
        peer_text(b"bye\n2026-01-01 ERROR forged\x1b[2J\t"),
        "bye\\n2026-01-01 ERROR forged\\u{1b}[2J\\t"
    );
    assert_eq!(peer_text(b"\xff\xfeok"), "\u{fffd}\u{fffd}ok");
    // Neither reordered (a right-to-left override) nor split (a line separator).
    assert_eq!(
        peer_text("bye \u{202e}gnp.exe\u{2028}forged".as_bytes()),
        "bye \\u{202e}gnp.exe\\u{2028}forged"
    );
    let long = peer_text(&[b'x'; PEER_TEXT_MAX + 10]);
    assert!(long.starts_with(&"x".repeat(PEER_TEXT_MAX)));
    assert!(long.ends_with(" ... (10 more characters)"), "{long}");
}
