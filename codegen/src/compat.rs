//! Whether two schemas can talk: the rule peers apply at handshake when their digests
//! differ (`docs/contracts.md`, "Compatibility").
//!
//! ```
//! use mycelium_codegen::{compat, model};
//!
//! let old = model::parse_str("old.yaml", "package: p\nmessages:\n  Ping:\n    id: 1\n    \
//!     topic: sys.ping\n    fields:\n      - { name: n, type: u64, tag: 1 }\n").expect("valid");
//! let added = model::parse_str("new.yaml", "package: p\nmessages:\n  Ping:\n    id: 1\n    \
//!     topic: sys.ping\n    fields:\n      - { name: n, type: u64, tag: 1 }\n      \
//!     - { name: note, type: string, tag: 2, optional: true }\n").expect("valid");
//! let report = compat::check(&old, &added).expect("an optional field may be added");
//! assert_eq!(report.differences.len(), 1);
//!
//! let retyped = model::parse_str("new.yaml", "package: p\nmessages:\n  Ping:\n    id: 1\n    \
//!     topic: sys.ping\n    fields:\n      - { name: n, type: u32, tag: 1 }\n").expect("valid");
//! let refused = compat::check(&old, &retyped).unwrap_err();
//! assert_eq!((refused.message.as_str(), refused.field.as_deref()), ("Ping", Some("n")));
//! ```
//!
//! The rule, applied to every message the two schemas share (same name or same type id):
//!
//! - the message keeps its name, type id and topic;
//! - a field (matched by tag) present on both sides keeps its name, its optionality and its
//!   type; two types are the same when they are spelled the same, and a struct used on
//!   both sides is compared field by field with this same rule (so an optional field may
//!   be added to or removed from a nested struct too), an enum must keep exactly its
//!   variants (names and values);
//! - a field present on one side only must be optional there.
//!
//! Messages only one side declares are not compared (the other side never sends nor
//! decodes them). The answer is deterministic: messages are visited in type-id order,
//! fields in tag order, and the first violation is returned.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use crate::digest;
use crate::model::{Field, Schema, Type};

/// Two schemas found compatible, with what differs between them (for an info log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatReport {
    /// Digest of the old schema.
    pub old_digest: [u8; 32],
    /// Digest of the new schema.
    pub new_digest: [u8; 32],
    /// Every difference the rule allows, in the order they were found; empty when the
    /// digests are equal.
    pub differences: Vec<Difference>,
}

impl CompatReport {
    /// True when both schemas have the same digest (nothing to compare).
    pub fn identical(&self) -> bool {
        self.old_digest == self.new_digest
    }
}

impl fmt::Display for CompatReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.identical() {
            return write!(
                f,
                "compatible: identical schemas (digest {})",
                digest::hex(&self.old_digest)
            );
        }
        write!(
            f,
            "compatible: old {} / new {}, {} difference{}",
            digest::hex(&self.old_digest),
            digest::hex(&self.new_digest),
            self.differences.len(),
            if self.differences.len() == 1 { "" } else { "s" }
        )?;
        for d in &self.differences {
            write!(f, "\n  {d}")?;
        }
        Ok(())
    }
}

/// One difference between two compatible schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where: `message Quote (id 100)`, `message Quote (id 100) field venue (tag 4)`,
    /// `package`, ...
    pub place: String,
    /// What changed, in words.
    pub change: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.change)
    }
}

/// Why two schemas cannot talk: the first message (in type-id order) and field (in tag
/// order) that breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Digest of the old schema, lowercase hex.
    pub old_digest: Box<str>,
    /// Digest of the new schema, lowercase hex.
    pub new_digest: Box<str>,
    /// Name of the message (as the old schema calls it when it has it).
    pub message: String,
    /// Its type id (in the old schema when it has the message).
    pub type_id: u16,
    /// The message's field at fault, if the problem is in a field.
    pub field: Option<String>,
    /// That field's tag.
    pub tag: Option<u16>,
    /// What is wrong, down to the nested struct field when the change is inside a struct.
    pub reason: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message `{}` (type id {})", self.message, self.type_id)?;
        if let (Some(field), Some(tag)) = (&self.field, self.tag) {
            write!(f, ", field `{field}` (tag {tag})")?;
        }
        write!(
            f,
            ": {} (old schema {}, new schema {})",
            self.reason, self.old_digest, self.new_digest
        )
    }
}

impl std::error::Error for Incompatibility {}

/// Decides whether a peer holding `old` and one holding `new` can exchange every message
/// they both declare, in both directions. See the module documentation for the rule.
pub fn check(old: &Schema, new: &Schema) -> Result<CompatReport, Incompatibility> {
    let old_digest = digest::digest(old);
    let new_digest = digest::digest(new);
    let mut report = CompatReport {
        old_digest,
        new_digest,
        differences: Vec::new(),
    };
    if old_digest == new_digest {
        return Ok(report);
    }
    let fail =
        |message: &str, type_id: u16, field: Option<&Field>, reason: String| Incompatibility {
            old_digest: digest::hex(&old_digest).into(),
            new_digest: digest::hex(&new_digest).into(),
            message: message.to_string(),
            type_id,
            field: field.map(|f| f.name.clone()),
            tag: field.map(|f| f.tag),
            reason,
        };
    if old.package != new.package {
        report.differences.push(Difference {
            place: "package".into(),
            change: format!("renamed from `{}` to `{}`", old.package, new.package),
        });
    }

    // Pair messages by type id, then catch a name that moved to another id.
    let old_by_id: BTreeMap<u16, _> = old.messages.iter().map(|m| (m.id, m)).collect();
    let new_by_id: BTreeMap<u16, _> = new.messages.iter().map(|m| (m.id, m)).collect();
    let ids: BTreeSet<u16> = old_by_id.keys().chain(new_by_id.keys()).copied().collect();
    let mut cx = Cx {
        old,
        new,
        assumed: HashSet::new(),
    };
    for id in ids {
        match (old_by_id.get(&id), new_by_id.get(&id)) {
            (Some(o), Some(n)) => {
                if o.name != n.name {
                    return Err(fail(
                        &o.name,
                        id,
                        None,
                        format!(
                            "type id {id} is `{}` in the old schema and `{}` in the new one",
                            o.name, n.name
                        ),
                    ));
                }
                if o.topic != n.topic {
                    return Err(fail(
                        &o.name,
                        id,
                        None,
                        format!("topic changed from `{}` to `{}`", o.topic, n.topic),
                    ));
                }
                let place = format!("message {} (id {id})", o.name);
                if let Err((field, reason)) =
                    cx.fields(&o.fields, &n.fields, &place, &mut report.differences)
                {
                    return Err(fail(&o.name, id, Some(field), reason));
                }
            }
            (Some(o), None) => {
                if let Some(n) = new.messages.iter().find(|n| n.name == o.name) {
                    return Err(fail(
                        &o.name,
                        id,
                        None,
                        format!("type id changed from {id} to {}", n.id),
                    ));
                }
                report.differences.push(Difference {
                    place: format!("message {} (id {id})", o.name),
                    change: "only in the old schema".into(),
                });
            }
            (None, Some(n)) => {
                if old.messages.iter().any(|o| o.name == n.name) {
                    // Reported from the old side's id, which comes first or later in the
                    // same loop; skip here so the report names the old id.
                    continue;
                }
                report.differences.push(Difference {
                    place: format!("message {} (id {id})", n.name),
                    change: "only in the new schema".into(),
                });
            }
            (None, None) => {}
        }
    }
    Ok(report)
}

const TYPE_CHANGED: &str = "type changed from";

struct Cx<'s> {
    old: &'s Schema,
    new: &'s Schema,
    /// Struct pairs being compared or already compared: a recursive struct is assumed
    /// compatible with itself while its own fields are checked.
    assumed: HashSet<(String, String)>,
}

/// A field at fault and why.
type Fault<'f> = (&'f Field, String);

impl Cx<'_> {
    /// Compares two field lists by tag; on failure returns the first field (of `old`, or of
    /// `new` when the tag exists only there) and the reason.
    fn fields<'f>(
        &mut self,
        old: &'f [Field],
        new: &'f [Field],
        place: &str,
        diffs: &mut Vec<Difference>,
    ) -> Result<(), Fault<'f>> {
        let o: BTreeMap<u16, &Field> = old.iter().map(|f| (f.tag, f)).collect();
        let n: BTreeMap<u16, &Field> = new.iter().map(|f| (f.tag, f)).collect();
        let tags: BTreeSet<u16> = o.keys().chain(n.keys()).copied().collect();
        for tag in tags {
            match (o.get(&tag), n.get(&tag)) {
                (Some(a), Some(b)) => {
                    if a.name != b.name {
                        return Err((a, format!("renamed to `{}` (a tag keeps its name)", b.name)));
                    }
                    if a.optional != b.optional {
                        let reason = if a.optional {
                            "optional in the old schema, required in the new one: old senders may leave it out"
                        } else {
                            "required in the old schema, optional in the new one: new senders may leave it out"
                        };
                        return Err((a, reason.into()));
                    }
                    let place = format!("{place} field {} (tag {tag})", a.name);
                    if let Err(reason) = self.types(&a.ty, &b.ty, &place, diffs) {
                        // Name the whole field type, not the element where it differs.
                        let reason = if reason.starts_with(TYPE_CHANGED) {
                            format!(
                                "{TYPE_CHANGED} `{}` to `{}`",
                                a.ty.canonical(),
                                b.ty.canonical()
                            )
                        } else {
                            reason
                        };
                        return Err((a, reason));
                    }
                }
                (Some(a), None) => {
                    if !a.optional {
                        return Err((a, "required field removed in the new schema".into()));
                    }
                    diffs.push(Difference {
                        place: format!("{place} field {} (tag {tag})", a.name),
                        change: "optional field removed".into(),
                    });
                }
                (None, Some(b)) => {
                    if !b.optional {
                        return Err((b, "required field added in the new schema".into()));
                    }
                    diffs.push(Difference {
                        place: format!("{place} field {} (tag {tag})", b.name),
                        change: "optional field added".into(),
                    });
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    fn types(
        &mut self,
        a: &Type,
        b: &Type,
        place: &str,
        diffs: &mut Vec<Difference>,
    ) -> Result<(), String> {
        let changed = || format!("{TYPE_CHANGED} `{}` to `{}`", a.canonical(), b.canonical());
        match (a, b) {
            (Type::Array(x, n), Type::Array(y, m)) if n == m => self.types(x, y, place, diffs),
            (Type::List(x, n), Type::List(y, m)) if n == m => self.types(x, y, place, diffs),
            (Type::Enum(x), Type::Enum(y)) if x == y => {
                let (Some(e), Some(f)) = (self.old.enum_named(x), self.new.enum_named(y)) else {
                    return Err(format!("enum `{x}` is not declared on both sides"));
                };
                let mut ev = e.variants.clone();
                let mut fv = f.variants.clone();
                ev.sort_by_key(|v| v.1);
                fv.sort_by_key(|v| v.1);
                if ev == fv {
                    Ok(())
                } else {
                    Err(format!(
                        "enum `{x}` has other variants ({} in the old schema, {} in the new one); a reader refuses a value it does not know",
                        variants(&ev),
                        variants(&fv)
                    ))
                }
            }
            (Type::Struct(x), Type::Struct(y)) if x == y => {
                if !self.assumed.insert((x.clone(), y.clone())) {
                    return Ok(());
                }
                let (Some(s), Some(t)) = (self.old.struct_named(x), self.new.struct_named(y))
                else {
                    return Err(format!("struct `{x}` is not declared on both sides"));
                };
                let place = format!("{place} struct {x}");
                self.fields(&s.fields, &t.fields, &place, diffs)
                    .map_err(|(f, reason)| {
                        format!(
                            "in struct `{x}`, field `{}` (tag {}): {reason}",
                            f.name, f.tag
                        )
                    })
            }
            _ if a == b => Ok(()),
            _ => Err(changed()),
        }
    }
}

fn variants(v: &[(String, u32)]) -> String {
    v.iter()
        .map(|(n, x)| format!("{n}={x}"))
        .collect::<Vec<_>>()
        .join(", ")
}
