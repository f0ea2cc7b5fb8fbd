//! Link frames: the codec's 32-byte header, a 20-byte link header, a name and a payload.
//!
//! The layout is specified in `docs/remote.md`. [`parse_frame`] is a pure function of a byte
//! slice: it never panics, never reads out of bounds, and refuses an oversized frame from its
//! header alone, before anything is allocated for the body.

use mycelium_codec::{FrameError, FrameHeader, HEADER_LEN, MAGIC};

use crate::error::WireError;

/// Bytes of the link header that opens every frame's body.
pub const LINK_HEADER_LEN: usize = 20;
/// Offset of the link header's `ack` in a frame: a writer sets it in a data frame's copy to
/// acknowledge with that frame, without an Ack frame of its own.
pub const ACK_AT: usize = HEADER_LEN + 4;
/// Offset of the codec header's `type_id` in a frame: a reply's frame made before its reply
/// gets it once the reply is known ([`set_type_id`]).
pub const TYPE_AT: usize = 6;
/// Writes `type_id` into the codec header of `frame` (at least a header long).
pub fn set_type_id(frame: &mut [u8], type_id: u16) {
    if let Some(at) = frame.get_mut(TYPE_AT..TYPE_AT + 2) {
        at.copy_from_slice(&type_id.to_le_bytes());
    }
}
/// Offset of the codec header's `ts_ns` in a frame: the sender's bus time when the frame was
/// made (an ask or a reply) or taken for writing (any other frame; 0 until then).
pub const TS_AT: usize = 20;
/// Writes `at` as `frame`'s time (`frame` at least a header long).
pub fn set_time(frame: &mut [u8], at: std::time::Duration) {
    if let Some(ts) = frame.get_mut(TS_AT..TS_AT + 8) {
        ts.copy_from_slice(&(at.as_nanos() as u64).to_le_bytes());
    }
}
/// A frame's time (its header's `ts_ns`: see [`TS_AT`]), from the frame's bytes; zero for
/// bytes too short to hold it, or a frame not stamped yet.
pub fn frame_time(frame: &[u8]) -> u64 {
    frame
        .get(TS_AT..TS_AT + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}
/// Longest service or topic name a frame may carry.
pub const MAX_NAME_LEN: usize = 255;
/// Default maximum body length (link header, name and payload) of a frame: 1 MiB.
pub const DEFAULT_MAX_BODY: u32 = 1 << 20;
/// Link flag bit 0: a publish frame carries its key in `corr`.
pub const LINK_FLAG_KEYED: u8 = 1;
/// Maximum body length of a handshake frame, accepted before the peer is authenticated.
pub const HANDSHAKE_MAX_BODY: u32 = 4096;

/// What a frame carries. Data kinds travel on the data lane and carry a sequence number
/// (`seq >= 1`); control and handshake kinds carry `seq == 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A message for a service; no reply.
    Tell = 1,
    /// A request for a service; `corr` names the reply.
    Ask = 2,
    /// The reply to the ask with the same `corr`.
    Reply = 3,
    /// The ask with the same `corr` failed at the receiver; the payload says why (UTF-8).
    ReplyFailed = 4,
    /// A message published on the topic named in the frame.
    Publish = 5,
    /// The sender has subscribers for the topic pattern named, of message `type_id`.
    Subscribe = 6,
    /// The sender no longer has subscribers for that pattern and type.
    Unsubscribe = 7,
    /// Liveness; carries the sender's cumulative ack.
    Heartbeat = 16,
    /// Cumulative acknowledgement: every data frame up to `ack` was delivered.
    Ack = 17,
    /// The sender closes the link; the payload says why (UTF-8).
    Close = 18,
    /// Handshake: instance id, incarnation, challenge, digest.
    Hello = 32,
    /// Handshake: the HMAC over both hellos.
    Proof = 33,
    /// Handshake: accept, or refuse with a reason.
    Verdict = 34,
    /// Handshake, when digests differ: the canonical schema (UTF-8).
    Schema = 35,
}

impl Kind {
    /// Reads a kind byte.
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Tell,
            2 => Kind::Ask,
            3 => Kind::Reply,
            4 => Kind::ReplyFailed,
            5 => Kind::Publish,
            6 => Kind::Subscribe,
            7 => Kind::Unsubscribe,
            16 => Kind::Heartbeat,
            17 => Kind::Ack,
            18 => Kind::Close,
            32 => Kind::Hello,
            33 => Kind::Proof,
            34 => Kind::Verdict,
            35 => Kind::Schema,
            _ => return None,
        })
    }

    /// True for kinds on the sequenced data lane.
    pub fn is_data(self) -> bool {
        (self as u8) < 16
    }

    /// True for the kinds whose sender writes its frame itself, at once, when no one else
    /// is writing (asks and replies: `write.rs`); their time is read when they are made.
    /// Frames of every other kind get theirs when a batch takes them.
    pub(crate) fn stamped_when_made(self) -> bool {
        matches!(self, Kind::Ask | Kind::Reply | Kind::ReplyFailed)
    }

    /// True for the handshake kinds.
    pub fn is_handshake(self) -> bool {
        (self as u8) >= 32
    }
}

/// One decoded frame, borrowing its name and payload from the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// What the frame carries.
    pub kind: Kind,
    /// The payload's contract type id (data frames), else 0.
    pub type_id: u16,
    /// Data-lane sequence number (`>= 1`), or 0 on the control lane.
    pub seq: u64,
    /// Sender's bus time in nanoseconds when it made the frame (an ask or a reply) or took
    /// it for writing (any other frame).
    pub ts_ns: u64,
    /// Cumulative ack: in heartbeat and ack frames, and in a data frame that carries one
    /// (0 when it carries none).
    pub ack: u64,
    /// Correlation id of an ask and its reply, else 0.
    pub corr: u64,
    /// Service or topic name (may be empty).
    pub name: &'a str,
    /// The publication's key (publish frames with the keyed flag), else `None`.
    pub key: Option<u64>,
    /// The message body (or a reason, or handshake fields).
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// The frame's length on the wire: codec header, link header, name and payload.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + LINK_HEADER_LEN + self.name.len() + self.payload.len()
    }
}

/// Parses the frame at the start of `buf`.
///
/// `Ok(None)`: more bytes are needed (and nothing seen so far is wrong). `Ok(Some((frame,
/// len)))`: a whole frame of `len` bytes. `Err`: the bytes can never become a valid frame; the
/// link must close. A header announcing a body above `max_body` is refused as soon as the
/// header is complete, so a reader never reserves room for it.
pub fn parse_frame(buf: &[u8], max_body: u32) -> Result<Option<(Frame<'_>, usize)>, WireError> {
    // A wrong first byte is refused at once, without waiting for a whole header.
    let prefix = buf.len().min(MAGIC.len());
    if buf[..prefix] != MAGIC[..prefix] {
        let mut found = [0u8; 4];
        found[..prefix].copy_from_slice(&buf[..prefix]);
        return Err(WireError::Header(FrameError::BadMagic { found }));
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let header = FrameHeader::decode(buf, max_body).map_err(WireError::Header)?;
    let len = header.frame_len();
    let Some(body) = buf.get(HEADER_LEN..len) else {
        return Ok(None);
    };
    parse_body(&header, body).map(|frame| Some((frame, len)))
}

/// The bytes a reader needs before it can parse the frame starting at `buf`: the header's
/// length, then the whole frame's. Errors as [`parse_frame`] would.
pub fn needed_len(buf: &[u8], max_body: u32) -> Result<usize, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(HEADER_LEN);
    }
    let header = FrameHeader::decode(buf, max_body).map_err(WireError::Header)?;
    Ok(header.frame_len())
}

fn parse_body<'a>(header: &FrameHeader, body: &'a [u8]) -> Result<Frame<'a>, WireError> {
    let Some(link) = body.first_chunk::<LINK_HEADER_LEN>() else {
        return Err(WireError::ShortBody {
            body_len: body.len(),
        });
    };
    let kind = Kind::from_u8(link[0]).ok_or(WireError::UnknownKind { kind: link[0] })?;
    let name_len = usize::from(u16::from_le_bytes([link[2], link[3]]));
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&link[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let (ack, corr) = (word(4), word(12));
    // Bit 0 of the link flags: a publication's key travels in `corr`. Other bits reserved.
    let key = (kind == Kind::Publish && link[1] & LINK_FLAG_KEYED != 0).then_some(corr);
    if kind.is_data() != (header.seq != 0) {
        return Err(WireError::WrongLane {
            kind,
            seq: header.seq,
        });
    }
    if matches!(kind, Kind::Ask | Kind::Reply | Kind::ReplyFailed) && corr == 0 {
        return Err(WireError::MissingCorrelation { kind });
    }
    if name_len > MAX_NAME_LEN {
        return Err(WireError::NameTooLong { len: name_len });
    }
    let rest = &body[LINK_HEADER_LEN..];
    let Some(name) = rest.get(..name_len) else {
        return Err(WireError::NameTooLong { len: name_len });
    };
    let name = std::str::from_utf8(name).map_err(|_| WireError::NameNotUtf8)?;
    Ok(Frame {
        kind,
        type_id: header.type_id,
        seq: header.seq,
        ts_ns: header.ts_ns,
        ack,
        corr,
        name,
        key,
        payload: &rest[name_len..],
    })
}

/// The fields of a frame to write, except its payload.
#[derive(Clone, Copy, Debug)]
pub struct FrameSpec<'a> {
    /// What the frame carries.
    pub kind: Kind,
    /// The payload's contract type id, or 0.
    pub type_id: u16,
    /// Sequence number (data lane), or 0.
    pub seq: u64,
    /// Sender's bus time, nanoseconds (0 for a frame stamped when taken for writing).
    pub ts_ns: u64,
    /// Cumulative ack, or 0.
    pub ack: u64,
    /// Correlation id, or 0.
    pub corr: u64,
    /// Service or topic name.
    pub name: &'a str,
    /// A publication's key (publish frames only; carried in `corr`).
    pub key: Option<u64>,
}

impl<'a> FrameSpec<'a> {
    /// A control or handshake frame of `kind` with nothing else set.
    pub fn control(kind: Kind) -> FrameSpec<'static> {
        FrameSpec {
            kind,
            type_id: 0,
            seq: 0,
            ts_ns: 0,
            ack: 0,
            corr: 0,
            name: "",
            key: None,
        }
    }
}

/// Appends one frame to `out`: the header and link header, the name, then whatever `payload`
/// writes. Fails, leaving `out` as it was, when the name is longer than [`MAX_NAME_LEN`] or the
/// body would exceed `max_body`.
pub fn encode_frame(
    out: &mut Vec<u8>,
    spec: &FrameSpec<'_>,
    max_body: u32,
    payload: impl FnOnce(&mut Vec<u8>),
) -> Result<usize, WireError> {
    check_name(spec)?;
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    out.extend_from_slice(&link_header(spec));
    out.extend_from_slice(spec.name.as_bytes());
    payload(out);
    let body_len = match checked_body_len(out.len() - start - HEADER_LEN, max_body) {
        Ok(n) => n,
        Err(e) => {
            out.truncate(start);
            return Err(e);
        }
    };
    out[start..start + HEADER_LEN].copy_from_slice(&codec_header(spec, body_len));
    Ok(out.len() - start)
}

/// Encodes the frame of `spec` around `payload`, in `payload`'s own buffer: the headers and
/// the name are written in front of it and its bytes move up, so a buffer with room to
/// spare for them (a reply encoded into a buffer made for most replies) is not allocated
/// again. The result is the bytes [`encode_frame`] would write.
pub fn encode_frame_around(
    mut payload: Vec<u8>,
    spec: &FrameSpec<'_>,
    max_body: u32,
) -> Result<Vec<u8>, WireError> {
    check_name(spec)?;
    let head = HEADER_LEN + LINK_HEADER_LEN + spec.name.len();
    let len = payload.len();
    let body_len = checked_body_len(head - HEADER_LEN + len, max_body)?;
    payload.resize(head + len, 0);
    payload.copy_within(..len, head);
    payload[..HEADER_LEN].copy_from_slice(&codec_header(spec, body_len));
    payload[HEADER_LEN..HEADER_LEN + LINK_HEADER_LEN].copy_from_slice(&link_header(spec));
    payload[HEADER_LEN + LINK_HEADER_LEN..head].copy_from_slice(spec.name.as_bytes());
    Ok(payload)
}

fn check_name(spec: &FrameSpec<'_>) -> Result<(), WireError> {
    if spec.name.len() > MAX_NAME_LEN {
        return Err(WireError::NameTooLong {
            len: spec.name.len(),
        });
    }
    Ok(())
}

/// The codec's body length (the link's header, the name and the payload), if it is within
/// `max_body`.
fn checked_body_len(body_len: usize, max_body: u32) -> Result<u32, WireError> {
    match u32::try_from(body_len) {
        Ok(n) if n <= max_body => Ok(n),
        _ => Err(WireError::TooLargeToSend {
            body_len,
            max: max_body,
        }),
    }
}

fn codec_header(spec: &FrameSpec<'_>, body_len: u32) -> [u8; HEADER_LEN] {
    FrameHeader {
        flags: 0,
        type_id: spec.type_id,
        body_len,
        seq: spec.seq,
        ts_ns: spec.ts_ns,
    }
    .to_bytes()
}

/// Kind, flags, name length, ack and correlation id (a keyed publication's key).
fn link_header(spec: &FrameSpec<'_>) -> [u8; LINK_HEADER_LEN] {
    let (flags, corr) = match (spec.kind, spec.key) {
        (Kind::Publish, Some(key)) => (LINK_FLAG_KEYED, key),
        _ => (0, spec.corr),
    };
    let mut h = [0u8; LINK_HEADER_LEN];
    h[0] = spec.kind as u8;
    h[1] = flags;
    h[2..4].copy_from_slice(&(spec.name.len() as u16).to_le_bytes());
    h[4..12].copy_from_slice(&spec.ack.to_le_bytes());
    h[12..20].copy_from_slice(&corr.to_le_bytes());
    h
}

/// Most characters of a peer's free text that this side keeps.
const PEER_TEXT_MAX: usize = 1024;

/// A peer's free text (a close or refusal reason, a failed ask's reason) as this side shows
/// and logs it: bytes that are not UTF-8 replaced, control characters, bidirectional
/// formatting characters and line separators escaped (`\n`, `\u{1b}`, `\u{202e}`), so that a
/// peer can neither forge a log line, send a terminal escape nor show its text reordered, and
/// at most [`PEER_TEXT_MAX`] characters, the rest counted.
pub(crate) fn peer_text(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let mut out = String::with_capacity(text.len().min(PEER_TEXT_MAX));
    let mut chars = text.chars();
    mycelium_codec::text::escape_controls(chars.by_ref().take(PEER_TEXT_MAX), &mut out);
    let rest = chars.count();
    if rest > 0 {
        out.push_str(&format!(" ... ({rest} more characters)"));
    }
    out
}

#[cfg(test)]
mod tests;
