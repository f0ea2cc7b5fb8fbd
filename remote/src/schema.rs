//! Schema agreement between two nodes.

/// The schema a node speaks: its digest (`SCHEMA_DIGEST` of a generated contracts crate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalSchema {
    /// The canonical schema's digest.
    pub digest: [u8; 32],
}

impl LocalSchema {
    /// A schema known by its digest.
    pub const fn from_digest(digest: [u8; 32]) -> Self {
        LocalSchema { digest }
    }
}

/// Decides whether two nodes can talk. `Err` says why not; the handshake then refuses on
/// both sides, printing both digests.
///
/// Today: equal digests agree, different ones do not. This is the one place that will ask the
/// schema compatibility check instead (after exchanging canonical schemas), so compatible
/// upgrades can connect.
pub fn agree(local: &LocalSchema, remote: &[u8; 32]) -> Result<(), String> {
    if &local.digest == remote {
        Ok(())
    } else {
        Err(
            "the schema digests differ; this version of the link accepts only identical schemas \
             (build both nodes from the same contracts.yaml)"
                .to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_agree_different_refuse() {
        let a = LocalSchema::from_digest([1; 32]);
        assert_eq!(agree(&a, &[1; 32]), Ok(()));
        assert!(agree(&a, &[2; 32]).unwrap_err().contains("differ"));
    }
}
