//! Everything that can be wrong with bytes received from a peer.

use crate::wire_type::WireType;

/// A frame whose header cannot be accepted, or whose body does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the header or the announced body needs.
    #[error("truncated frame: {needed} bytes needed, {available} available; wait for more bytes or drop the connection")]
    Truncated {
        /// Bytes the frame needs (header, or header + body).
        needed: usize,
        /// Bytes that were given.
        available: usize,
    },
    /// The first four bytes are not `MYCL`.
    #[error("bad magic {found:02x?}: expected \"MYCL\"; the peer does not speak this protocol or the stream is out of sync")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// A protocol version this reader does not know.
    #[error("unsupported protocol version {found} (this reader speaks version {supported}); upgrade the older side")]
    UnsupportedVersion {
        /// Version in the header.
        found: u8,
        /// Version this reader speaks.
        supported: u8,
    },
    /// `body_len` above the configured maximum.
    #[error("frame body of {body_len} bytes exceeds the maximum of {max}; raise the limit if the peer is trusted")]
    FrameTooLarge {
        /// Announced body length.
        body_len: u32,
        /// Configured maximum.
        max: u32,
    },
    /// The header's type id is not the message type the caller asked for.
    #[error("frame carries type id {found}, expected {expected}; dispatch on the header's type_id first")]
    UnexpectedType {
        /// The type id the caller expected.
        expected: u16,
        /// The type id in the header.
        found: u16,
    },
    /// The body does not decode as the message.
    #[error("bad frame body: {0}")]
    Body(#[from] DecodeError),
}

/// A message body (or one of its nested values) that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A value runs past the end of its enclosing bytes.
    #[error("truncated body: {needed} bytes needed at offset {offset}, {available} available")]
    Truncated {
        /// Offset of the value within its enclosing field sequence or value.
        offset: usize,
        /// Bytes the value needs.
        needed: usize,
        /// Bytes that remain.
        available: usize,
    },
    /// A key with tag 0.
    #[error("invalid field key at offset {offset}: tag 0 is never used")]
    InvalidTag {
        /// Offset of the key.
        offset: usize,
    },
    /// A reserved wire type (5-7): the value's length is unknown, so it cannot be skipped.
    #[error("field {tag} uses reserved wire type {wire_type}; the peer is newer or corrupt")]
    InvalidWireType {
        /// The field's tag.
        tag: u16,
        /// The wire type found.
        wire_type: u8,
    },
    /// A known field written with another wire type than its schema type needs.
    #[error("field `{field}` (tag {tag}) has wire type {found:?}, expected {expected:?}; the peers' schemas differ")]
    WrongWireType {
        /// Field name.
        field: &'static str,
        /// Field tag.
        tag: u16,
        /// What the schema says.
        expected: WireType,
        /// What the frame has.
        found: WireType,
    },
    /// A tag appearing twice in one field sequence.
    #[error("field `{field}` (tag {tag}) appears twice")]
    DuplicateField {
        /// Field name.
        field: &'static str,
        /// Field tag.
        tag: u16,
    },
    /// A required field absent from the field sequence.
    #[error(
        "required field `{field}` (tag {tag}) of `{record}` is missing; the peers' schemas differ"
    )]
    MissingField {
        /// The message or struct.
        record: &'static str,
        /// Field name.
        field: &'static str,
        /// Field tag.
        tag: u16,
    },
    /// A value outside its type's domain (a `bool` other than 0 or 1).
    #[error("invalid {what} value {value}")]
    InvalidValue {
        /// The type.
        what: &'static str,
        /// The raw value.
        value: u64,
    },
    /// A `string` that is not UTF-8.
    #[error("string is not valid UTF-8: {0}")]
    InvalidUtf8(#[from] std::str::Utf8Error),
    /// A list longer than its `max_len`, or an array whose count is not its size.
    #[error("length mismatch: count {found}, but {expected}")]
    LengthMismatch {
        /// What the schema allows.
        expected: LengthBound,
        /// The count in the frame.
        found: u32,
    },
    /// An enum value naming no variant.
    #[error("{value} is not a variant of enum `{name}`; the sender's schema is newer")]
    UnknownEnumValue {
        /// Enum name.
        name: &'static str,
        /// The value received.
        value: u32,
    },
    /// Structs nested deeper than [`crate::MAX_DEPTH`].
    #[error("structs nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: u32,
    },
    /// Nested structs whose decoding would take more stack than
    /// [`crate::read::STACK_BUDGET`] (see [`crate::read::frame_cost`]).
    #[error("structs nested too deep: one more level would take the decode to {needed} bytes of stack, above the limit of {limit}")]
    StackLimit {
        /// Stack used so far plus the next level's estimate.
        needed: usize,
        /// The limit.
        limit: usize,
    },
    /// Counts that would make the decode allocate more than
    /// [`crate::read::heap_budget`] of the frame's length.
    #[error("the frame asks for {needed} bytes of memory, but only {left} remain of what its length allows; the frame is forged or the peers' schemas differ")]
    MemoryLimit {
        /// Bytes the value would allocate.
        needed: usize,
        /// Bytes left in the decode's budget.
        left: usize,
    },
    /// Bytes left over inside a length-delimited value after its content.
    #[error("{count} unexpected bytes after the elements of a list or array")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

/// What a list or array count must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthBound {
    /// An array of this size.
    Exactly(u32),
    /// A list with this `max_len`.
    AtMost(u32),
}

impl std::fmt::Display for LengthBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LengthBound::Exactly(n) => write!(f, "the array holds exactly {n}"),
            LengthBound::AtMost(n) => write!(f, "the list holds at most {n} (max_len)"),
        }
    }
}
