//! A segment's header: magic, version, numbering, the node, and the schema its contract
//! payloads follow (digest and canonical text).

use std::path::Path;

use mycelium_codegen::model::Schema;
use mycelium_codegen::{canonical, digest};

use crate::error::JournalError;

/// The first bytes of every segment.
pub const MAGIC: [u8; 8] = *b"MYCJRNL\0";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// The largest canonical schema text a header may carry.
pub const MAX_SCHEMA_TEXT: usize = 16 << 20;

/// The schema that a journal's contract payloads follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalSchema {
    /// SHA-256 of the canonical form (`mycelium_codegen::digest`).
    pub digest: [u8; 32],
    /// The canonical text (empty when the schema is known only by its digest).
    pub canonical: String,
}

impl JournalSchema {
    /// A whole schema: its digest and canonical text, so a reader can decode the payloads
    /// without the program that wrote them.
    pub fn from_schema(schema: &Schema) -> Self {
        JournalSchema {
            digest: digest::digest(schema),
            canonical: digest::canonical(schema),
        }
    }

    /// The schema of a generated contracts crate, from its `SCHEMA_DIGEST` and
    /// `SCHEMA_CANONICAL`: whole, as [`from_schema`](Self::from_schema) makes it.
    ///
    /// ```
    /// use mycelium_contracts::{SCHEMA_CANONICAL, SCHEMA_DIGEST};
    /// use mycelium_journal::JournalSchema;
    ///
    /// let schema = JournalSchema::from_generated(SCHEMA_DIGEST, SCHEMA_CANONICAL);
    /// assert!(schema.schema().is_some_and(|s| s.is_ok()), "its text reads back to its digest");
    /// ```
    pub fn from_generated(digest: [u8; 32], canonical: &str) -> Self {
        JournalSchema {
            digest,
            canonical: canonical.to_owned(),
        }
    }

    /// A schema known only by its digest: a reader shows its contract payloads in hex.
    pub fn from_digest(digest: [u8; 32]) -> Self {
        JournalSchema {
            digest,
            canonical: String::new(),
        }
    }

    /// No schema: a journal of in-process types only.
    pub fn none() -> Self {
        JournalSchema::from_digest([0; 32])
    }

    /// The digest in lower-case hex.
    pub fn digest_hex(&self) -> String {
        digest::hex(&self.digest)
    }

    /// Reads the canonical text back into a schema, checking that its digest is the one
    /// recorded. `None` when the journal carries no text.
    pub fn schema(&self) -> Option<Result<Schema, String>> {
        if self.canonical.is_empty() {
            return None;
        }
        Some(match canonical::from_canonical(&self.canonical) {
            Ok(schema) if digest::digest(&schema) == self.digest => Ok(schema),
            Ok(schema) => Err(format!(
                "the canonical schema's digest is {}, but the header records {}",
                digest::hex(&digest::digest(&schema)),
                self.digest_hex()
            )),
            Err(diags) => Err(diags
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("; ")),
        })
    }
}

/// What a segment's header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's number (its file name).
    pub segment: u64,
    /// The sequence number its first record has (or would have).
    pub first_seq: u64,
    /// When the segment was created, in nanoseconds since the Unix epoch (wall clock).
    pub created_unix_ns: u64,
    /// The recording node's name (empty for a bus that is no node of a topology).
    pub node: String,
    /// The schema of the journal's contract payloads.
    pub schema: JournalSchema,
}

/// Fixed bytes before the node name: a file shorter than this was cut while its header was
/// written (the writer writes a header in one call, so a longer one is whole or damaged).
pub(crate) const FIXED: usize = 74;

impl SegmentHeader {
    /// The header's bytes, checksum included.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let len = FIXED + self.node.len() + 4 + self.schema.canonical.len() + 4;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        // The writer bounds the node name and the schema text, so this fits.
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&self.segment.to_le_bytes());
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        out.extend_from_slice(&self.created_unix_ns.to_le_bytes());
        out.extend_from_slice(&self.schema.digest);
        out.extend_from_slice(&(self.node.len() as u16).to_le_bytes());
        out.extend_from_slice(self.node.as_bytes());
        out.extend_from_slice(&(self.schema.canonical.len() as u32).to_le_bytes());
        out.extend_from_slice(self.schema.canonical.as_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(out.len(), len);
        out
    }

    /// Reads the header at the start of `bytes` (the segment file at `path`); returns it and
    /// its length.
    pub(crate) fn decode(
        path: &Path,
        bytes: &[u8],
    ) -> Result<(SegmentHeader, usize), JournalError> {
        let bad = |reason: String| JournalError::BadHeader {
            path: path.to_owned(),
            reason,
        };
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
                return Err(bad(format!(
                    "the file ends after {} bytes, inside its header (a crash while it was created?)",
                    bytes.len()
                )));
            }
            return Err(JournalError::NotAJournal {
                path: path.to_owned(),
            });
        }
        if bytes.len() < FIXED {
            return Err(bad(format!(
                "the file ends after {} bytes, inside its header (a crash while it was created?)",
                bytes.len()
            )));
        }
        let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().expect("2"));
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let version = u16_at(8);
        if version != VERSION {
            return Err(JournalError::UnsupportedVersion {
                path: path.to_owned(),
                version,
                supported: VERSION,
            });
        }
        let len = u32_at(12) as usize;
        if len < FIXED + 8 || len > FIXED + usize::from(u16::MAX) + 8 + MAX_SCHEMA_TEXT {
            return Err(bad(format!(
                "it declares an impossible length of {len} bytes"
            )));
        }
        let Some(all) = bytes.get(..len) else {
            return Err(bad(format!(
                "the file ends after {} bytes, inside its header of {len} bytes (a crash while it was created?)",
                bytes.len()
            )));
        };
        let crc = u32::from_le_bytes(all[len - 4..].try_into().expect("4"));
        if crc32fast::hash(&all[..len - 4]) != crc {
            return Err(bad("it fails its checksum".to_owned()));
        }
        let node_len = usize::from(u16_at(72));
        let node_end = FIXED + node_len;
        if node_end + 8 > len {
            return Err(bad("its node name runs past its end".to_owned()));
        }
        let node = std::str::from_utf8(&all[FIXED..node_end])
            .map_err(|_| bad("its node name is not UTF-8".to_owned()))?
            .to_owned();
        let text_len = u32_at(node_end) as usize;
        if node_end + 4 + text_len + 4 != len {
            return Err(bad("its schema text does not fill it exactly".to_owned()));
        }
        let canonical = std::str::from_utf8(&all[node_end + 4..node_end + 4 + text_len])
            .map_err(|_| bad("its schema text is not UTF-8".to_owned()))?
            .to_owned();
        let mut digest = [0; 32];
        digest.copy_from_slice(&all[40..72]);
        Ok((
            SegmentHeader {
                segment: u64_at(16),
                first_seq: u64_at(24),
                created_unix_ns: u64_at(32),
                node,
                schema: JournalSchema { digest, canonical },
            },
            len,
        ))
    }
}
