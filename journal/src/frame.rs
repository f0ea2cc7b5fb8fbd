//! A record's frame: a 12-byte head (body length, body checksum, head checksum) and the body.
//!
//! The head has its own checksum so that a damaged length is told from a record cut short:
//! a crash leaves a *prefix* of the bytes written, so a head that is whole but fails its
//! checksum is damage, while a whole head whose body runs past the end of the file is a cut.

/// Bytes of a frame head.
pub(crate) const HEAD: usize = 12;

/// What the bytes at one offset of a segment are.
#[derive(Debug)]
pub(crate) enum Frame<'a> {
    /// A whole record whose checksums pass: its body.
    Record(&'a [u8]),
    /// The end of the bytes, exactly at a record boundary.
    End,
    /// The bytes from here to the end are not a whole record: a crash cut the segment (or
    /// zeros follow the last record, as a file system may leave after a power loss).
    Torn,
    /// Damage: the reason.
    Corrupt(String),
}

/// Appends a frame for a body of `len` bytes whose checksums are filled in later by
/// [`seal`]; the caller appends the body.
pub(crate) fn open(out: &mut Vec<u8>, len: usize) {
    // `record::check` bounds `len` by MAX_RECORD, far below u32::MAX.
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
}

/// Fills in the checksums of the frame at the start of `frame` (head and body).
pub(crate) fn seal(frame: &mut [u8]) {
    let body_crc = crc32fast::hash(&frame[HEAD..]);
    frame[4..8].copy_from_slice(&body_crc.to_le_bytes());
    let head_crc = crc32fast::hash(&frame[..8]);
    frame[8..12].copy_from_slice(&head_crc.to_le_bytes());
}

/// The body length the frame at the start of `bytes` declares (a frame built by [`open`]).
pub(crate) fn declared_len(bytes: &[u8]) -> usize {
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize
}

/// Reads the frame at the start of `rest`.
pub(crate) fn read(rest: &[u8]) -> Frame<'_> {
    if rest.is_empty() {
        return Frame::End;
    }
    if rest.len() < HEAD || rest.iter().all(|&b| b == 0) {
        return Frame::Torn;
    }
    let head_crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
    if crc32fast::hash(&rest[..8]) != head_crc {
        return Frame::Corrupt("the record's frame head fails its checksum".to_owned());
    }
    let len = declared_len(rest);
    if len + HEAD > crate::MAX_RECORD || len < crate::record::FIXED {
        return Frame::Corrupt(format!(
            "the record declares a body of {len} bytes, outside the format's limits"
        ));
    }
    let Some(body) = rest.get(HEAD..HEAD + len) else {
        return Frame::Torn;
    };
    let body_crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != body_crc {
        return Frame::Corrupt(format!(
            "the record's body ({len} bytes) fails its checksum"
        ));
    }
    Frame::Record(body)
}
