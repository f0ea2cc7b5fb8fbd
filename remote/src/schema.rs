//! Schema agreement between two nodes: equal digests, or canonical schemas that
//! `mycelium_codegen::compat::check` finds compatible.

use std::sync::Arc;

use mycelium_codegen::model::Schema;
use mycelium_codegen::{canonical, compat, digest};

/// The schema a node speaks: its digest and, to talk to peers whose schema differs but is
/// compatible, its canonical form.
#[derive(Clone, Debug)]
pub struct LocalSchema {
    /// The canonical schema's digest.
    pub digest: [u8; 32],
    full: Option<Arc<Full>>,
}

#[derive(Debug)]
struct Full {
    canonical: String,
    schema: Schema,
}

impl LocalSchema {
    /// A schema known only by its digest (`SCHEMA_DIGEST` of a generated contracts crate): a
    /// peer with another digest is refused, since there is nothing to compare.
    pub const fn from_digest(digest: [u8; 32]) -> Self {
        LocalSchema { digest, full: None }
    }

    /// A whole checked schema: peers with a different but compatible schema are accepted.
    pub fn from_schema(schema: Schema) -> Self {
        LocalSchema {
            digest: digest::digest(&schema),
            full: Some(Arc::new(Full {
                canonical: digest::canonical(&schema),
                schema,
            })),
        }
    }

    /// Reads and checks `contracts.yaml` text (`name` appears in errors).
    pub fn from_yaml(name: &str, text: &str) -> Result<Self, String> {
        match mycelium_codegen::model::parse_str(name, text) {
            Ok(schema) => Ok(LocalSchema::from_schema(schema)),
            Err(diagnostics) => Err(diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")),
        }
    }

    /// The canonical text sent to a peer whose digest differs (empty when unknown).
    pub(crate) fn canonical(&self) -> &str {
        self.full.as_ref().map_or("", |f| f.canonical.as_str())
    }
}

/// Equal digests: agreed, nothing more to exchange.
pub(crate) fn same(local: &LocalSchema, remote: &[u8; 32]) -> bool {
    &local.digest == remote
}

/// Decides, for different digests, from the peer's canonical text. `Ok` carries the
/// differences to log once; `Err` says why not (the caller refuses, printing both digests).
pub(crate) fn agree(
    local: &LocalSchema,
    remote_digest: &[u8; 32],
    remote_canonical: &str,
) -> Result<compat::CompatReport, String> {
    let Some(full) = &local.full else {
        return Err(
            "the digests differ and this node knows its schema only by its digest, \
                    so it cannot check compatibility (build its LocalSchema from the schema)"
                .to_owned(),
        );
    };
    if remote_canonical.is_empty() {
        return Err("the digests differ and the peer sent no canonical schema to compare".into());
    }
    let theirs = canonical::from_canonical(remote_canonical).map_err(|diagnostics| {
        format!(
            "the peer's canonical schema does not read back: {}",
            diagnostics
                .first()
                .map(|d| d.to_string())
                .unwrap_or_default()
        )
    })?;
    if &digest::digest(&theirs) != remote_digest {
        return Err("the peer's canonical schema does not match the digest it sent".into());
    }
    compat::check(&full.schema, &theirs).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "package: p\nmessages:\n  Ping:\n    id: 1\n    topic: sys.ping\n    fields:\n      - { name: n, type: u64, tag: 1 }\n";

    #[test]
    fn digest_only_cannot_compare() {
        let a = LocalSchema::from_digest([1; 32]);
        assert!(same(&a, &[1; 32]));
        assert!(agree(&a, &[2; 32], "x")
            .unwrap_err()
            .contains("only by its digest"));
    }

    #[test]
    fn compatible_incompatible_and_lying_peers() {
        let v1 = LocalSchema::from_yaml("v1.yaml", V1).unwrap();
        let added = LocalSchema::from_yaml(
            "v2.yaml",
            &format!("{V1}      - {{ name: note, type: string, tag: 2, optional: true }}\n"),
        )
        .unwrap();
        let retyped =
            LocalSchema::from_yaml("v3.yaml", &V1.replace("type: u64", "type: u32")).unwrap();
        let report = agree(&v1, &added.digest, added.canonical()).unwrap();
        assert_eq!(report.differences.len(), 1);
        let refused = agree(&v1, &retyped.digest, retyped.canonical()).unwrap_err();
        assert!(
            refused.contains("`Ping`") && refused.contains("`n`"),
            "{refused}"
        );
        assert!(agree(&v1, &added.digest, "")
            .unwrap_err()
            .contains("no canonical"));
        assert!(agree(&v1, &[9; 32], added.canonical())
            .unwrap_err()
            .contains("does not match"));
        assert!(agree(&v1, &added.digest, "garbage")
            .unwrap_err()
            .contains("does not read back"));
        assert!(LocalSchema::from_yaml("bad.yaml", "nonsense: [").is_err());
    }
}
