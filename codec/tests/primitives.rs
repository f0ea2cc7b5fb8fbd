//! Writer and reader primitives agree, and hostile input gives errors, never panics.

use mycelium_codec::{read::Reader, write, DecodeError, WireType};
use proptest::prelude::*;

proptest! {
    #[test]
    fn fixed_values_round_trip(a: u8, b: i16, c: u32, d: i64, e: f32, f: f64, g: bool) {
        let mut out = Vec::new();
        write::field(&mut out, 1, a);
        write::field(&mut out, 2, b);
        write::field(&mut out, 3, c);
        write::field(&mut out, 4, d);
        write::field(&mut out, 5, e);
        write::field(&mut out, 8191, f);
        write::field(&mut out, 7, g);
        let mut r = Reader::new(&out);
        prop_assert_eq!(r.key().unwrap(), Some((1, WireType::I8)));
        prop_assert_eq!(r.fixed::<u8>().unwrap(), a);
        prop_assert_eq!(r.key().unwrap(), Some((2, WireType::I16)));
        prop_assert_eq!(r.fixed::<i16>().unwrap(), b);
        prop_assert_eq!(r.key().unwrap(), Some((3, WireType::I32)));
        prop_assert_eq!(r.fixed::<u32>().unwrap(), c);
        prop_assert_eq!(r.key().unwrap(), Some((4, WireType::I64)));
        prop_assert_eq!(r.fixed::<i64>().unwrap(), d);
        prop_assert_eq!(r.key().unwrap(), Some((5, WireType::I32)));
        prop_assert_eq!(r.fixed::<f32>().unwrap().to_bits(), e.to_bits());
        prop_assert_eq!(r.key().unwrap(), Some((8191, WireType::I64)));
        prop_assert_eq!(r.fixed::<f64>().unwrap().to_bits(), f.to_bits());
        prop_assert_eq!(r.key().unwrap(), Some((7, WireType::I8)));
        prop_assert_eq!(r.fixed::<bool>().unwrap(), g);
        prop_assert_eq!(r.key().unwrap(), None);
    }

    #[test]
    fn sequences_round_trip(
        xs in proptest::collection::vec(any::<u64>(), 0..50),
        bs in proptest::collection::vec(any::<u8>(), 0..50),
        ss in proptest::collection::vec(".*", 0..10),
    ) {
        let mut out = Vec::new();
        write::packed(&mut out, &xs);
        write::packed_u8(&mut out, &bs);
        write::list(&mut out, &ss, |o, s| write::str(o, s));
        let mut r = Reader::new(&out);
        prop_assert_eq!(r.packed_list::<u64>(None).unwrap(), xs);
        prop_assert_eq!(r.packed_list::<u8>(None).unwrap(), bs);
        prop_assert_eq!(r.list(None, |r| r.string()).unwrap(), ss);
        prop_assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut r = Reader::new(&bytes);
        let _ = r.clone().packed_list::<u32>(Some(3));
        let _ = r.clone().list(None, |r| r.string());
        let _ = r.clone().packed_array::<u16, 4>();
        let _ = r.clone().array::<String, 2>(|r| r.string());
        while let Ok(Some((_, w))) = r.key() {
            if r.skip(w).is_err() {
                break;
            }
        }
    }
}

#[test]
fn hostile_count_is_rejected_before_allocating() {
    // A list announcing 2^32-1 elements in a 4-byte body.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&4u32.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Reader::new(&bytes).packed_list::<u64>(None),
        Err(DecodeError::Truncated { .. })
    ));
    assert!(matches!(
        Reader::new(&bytes).list(None, |r| r.bytes()),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn counts_are_checked_against_bounds() {
    let mut out = Vec::new();
    write::packed(&mut out, &[1u16, 2, 3]);
    assert!(matches!(
        Reader::new(&out).packed_list::<u16>(Some(2)),
        Err(DecodeError::LengthMismatch { found: 3, .. })
    ));
    assert!(matches!(
        Reader::new(&out).packed_array::<u16, 4>(),
        Err(DecodeError::LengthMismatch { found: 3, .. })
    ));
    assert_eq!(Reader::new(&out).packed_array::<u16, 3>(), Ok([1, 2, 3]));
}

#[test]
fn invalid_values_are_typed_errors() {
    assert!(matches!(
        Reader::new(&[2]).fixed::<bool>(),
        Err(DecodeError::InvalidValue {
            what: "bool",
            value: 2
        })
    ));
    assert!(matches!(
        Reader::new(&[2, 0, 0, 0, 0xFF, 0xFE]).string(),
        Err(DecodeError::InvalidUtf8(_))
    ));
    assert!(matches!(
        Reader::new(&[0x05, 0x00]).key(),
        Err(DecodeError::InvalidWireType { tag: 0, .. }) | Err(DecodeError::InvalidTag { .. })
    ));
    assert!(matches!(
        Reader::new(&[0x0D, 0x00]).key(),
        Err(DecodeError::InvalidWireType {
            tag: 1,
            wire_type: 5
        })
    ));
    assert!(matches!(
        Reader::new(&[0x00, 0x00]).key(),
        Err(DecodeError::InvalidTag { offset: 0 })
    ));
    assert!(matches!(
        Reader::new(&[0x08]).key(),
        Err(DecodeError::Truncated { .. })
    ));
    // Trailing bytes inside a list's length.
    assert!(matches!(
        Reader::new(&[5, 0, 0, 0, 0, 0, 0, 0, 9]).packed_list::<u8>(None),
        Err(DecodeError::TrailingBytes { count: 1 })
    ));
}

#[test]
fn unknown_fields_are_skipped_by_wire_type() {
    let mut out = Vec::new();
    write::field(&mut out, 9, 1u8);
    write::field(&mut out, 10, 1u16);
    write::field(&mut out, 11, 1u32);
    write::field(&mut out, 12, 1u64);
    write::key(&mut out, 13, WireType::Len);
    write::str(&mut out, "skip me");
    write::field(&mut out, 1, 5u32);
    let mut r = Reader::new(&out);
    let mut found = None;
    while let Some((tag, w)) = r.key().unwrap() {
        if tag == 1 {
            found = Some(r.fixed::<u32>().unwrap());
        } else {
            r.skip(w).unwrap();
        }
    }
    assert_eq!(found, Some(5));
}
