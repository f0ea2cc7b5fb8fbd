//! Each record's field types resolved and tags assigned, then the structs that contain
//! themselves, nest too deep or are too large.

use std::collections::HashMap;

use super::{
    suggest, Cx, DeclKind, RawRecord, MAX_ARRAY_LEN, MAX_BOXED_ARRAY_BYTES, MAX_INLINE_BYTES,
    MAX_NESTED_ARRAY_LEN, MAX_TAG,
};
use crate::graph::Graph;
use crate::model::{Field, Message, Struct, Type};
use crate::type_expr::TypeExpr;
use crate::yaml::Pos;

impl Cx<'_> {
    /// Resolves types and assigns tags for one record.
    pub(super) fn fields(
        &mut self,
        rec: &RawRecord,
        decls: &HashMap<String, (DeclKind, Pos)>,
    ) -> Vec<Field> {
        let mut out = Vec::new();
        let mut names_seen: HashMap<&str, Pos> = HashMap::new();
        let mut tags_seen: HashMap<u64, &str> = HashMap::new();
        let mut highest = 0u64;
        for f in &rec.fields {
            if let Some(first) = names_seen.get(f.name.as_str()) {
                self.err(
                    f.name_pos,
                    format!(
                        "field `{}` appears twice in `{}` (first at line {})",
                        f.name, rec.name, first.line
                    ),
                    "rename or remove one of them",
                );
            } else {
                names_seen.insert(&f.name, f.name_pos);
            }
            let (tag, tag_pos) = match f.tag {
                Some((t, p)) => (t, p),
                None => (highest + 1, f.pos),
            };
            if tag > MAX_TAG {
                self.err(
                    tag_pos,
                    format!(
                        "the tag assigned to `{}` would be {tag}, above {MAX_TAG}",
                        f.name
                    ),
                    "write explicit, smaller tags",
                );
            }
            highest = highest.max(tag);
            if let Some(other) = tags_seen.get(&tag) {
                self.err(
                    tag_pos,
                    format!(
                        "tag {tag} of `{}` is already used by `{other}` in `{}`",
                        f.name, rec.name
                    ),
                    "give each field its own tag; never reuse a published tag",
                );
            } else {
                tags_seen.insert(tag, &f.name);
            }
            let Some((expr, ty_pos)) = &f.ty else {
                continue;
            };
            let Some(ty) = self.resolve(expr, *ty_pos, decls, 0) else {
                continue;
            };
            let max_len = match (f.max_len, &ty) {
                (Some((m, _)), Type::List(..)) => Some(m as u32),
                (Some((_, pos)), _) => {
                    self.err(
                        pos,
                        format!("max_len is set on `{}`, which is not a list", f.name),
                        "remove max_len, or make the type `list<...>`",
                    );
                    None
                }
                (None, _) => None,
            };
            let ty = match ty {
                Type::List(inner, _) => Type::List(inner, max_len),
                other => other,
            };
            out.push(Field {
                name: f.name.clone(),
                tag: tag.min(MAX_TAG) as u16,
                ty,
                optional: f.optional,
                max_len,
                doc: f.doc.clone(),
            });
        }
        out
    }

    fn resolve(
        &mut self,
        e: &TypeExpr,
        pos: Pos,
        decls: &HashMap<String, (DeclKind, Pos)>,
        depth: usize,
    ) -> Option<Type> {
        Some(match e {
            TypeExpr::Prim(t) => t.clone(),
            TypeExpr::Named(n) => {
                match decls.get(n) {
                    Some((DeclKind::Enum, _)) => Type::Enum(n.clone()),
                    Some((DeclKind::Struct, _)) => Type::Struct(n.clone()),
                    Some((DeclKind::Message, _)) => {
                        self.err(pos, format!("`{n}` is a message and cannot be used as a field type"), format!("move its fields into a struct and use that struct in `{n}` and here"));
                        return None;
                    }
                    None if self.full() => {
                        self.suppressed += 1;
                        return None;
                    }
                    None => {
                        let known: Vec<&str> = decls
                            .iter()
                            .filter(|(_, (kind, _))| *kind != DeclKind::Message)
                            .map(|(k, _)| k.as_str())
                            .chain([
                                "bool", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64",
                                "f32", "f64", "string", "bytes",
                            ])
                            .collect();
                        self.err(
                            pos,
                            format!("unknown type `{n}`"),
                            suggest(n, &known, "declared structs/enums and built-in types"),
                        );
                        return None;
                    }
                }
            }
            TypeExpr::Array(inner, n) => {
                let inner = self.resolve(inner, pos, decls, depth + 1);
                if *n == 0 {
                    self.err(
                        pos,
                        "an array of size 0 holds nothing",
                        "use a size of at least 1, or remove the field",
                    );
                    return None;
                }
                if *n > MAX_ARRAY_LEN {
                    self.err(
                        pos,
                        format!("array size {n} is above the limit of {MAX_ARRAY_LEN}"),
                        "use `list<T>` with a `max_len` for large collections",
                    );
                    return None;
                }
                if depth > 0 && *n > MAX_NESTED_ARRAY_LEN {
                    self.err(pos, format!("an array of {n} elements inside a list or array is not supported (limit {MAX_NESTED_ARRAY_LEN})"), "wrap the array in a struct and use the struct as the element type");
                    return None;
                }
                Type::Array(Box::new(inner?), *n as usize)
            }
            TypeExpr::List(inner) => {
                Type::List(Box::new(self.resolve(inner, pos, decls, depth + 1)?), None)
            }
        })
    }

    /// Reports structs that contain themselves without a list in between, then (when
    /// there are none) structs nested deeper than a decoder accepts and records too large
    /// to be held inline.
    pub(super) fn cycles(
        &mut self,
        raw: &[RawRecord],
        raw_messages: &[RawRecord],
        structs: &[Struct],
        messages: &[Message],
    ) {
        let record_pos = |name: &str| {
            raw.iter()
                .chain(raw_messages)
                .find(|r| r.name == name)
                .map(|r| r.pos)
                .unwrap_or_default()
        };
        let field_pos: HashMap<(&str, &str), Pos> = raw
            .iter()
            .chain(raw_messages)
            .flat_map(|r| {
                r.fields
                    .iter()
                    .map(move |f| ((r.name.as_str(), f.name.as_str()), f.name_pos))
            })
            .collect();
        let graph = Graph::new(structs);
        let cycles = graph.direct_cycles();
        for steps in &cycles {
            let Some(&(first, _)) = steps.first() else {
                continue;
            };
            let Some(&(node, field)) = steps.last() else {
                continue;
            };
            let start = structs[first].name.as_str();
            let node = structs[node].name.as_str();
            let mut names: Vec<&str> = steps
                .iter()
                .map(|&(i, _)| structs[i].name.as_str())
                .chain([start])
                .collect();
            if names.len() > 8 {
                names.splice(4..names.len() - 3, ["..."]);
            }
            let chain = names.join(" -> ");
            self.err(
                field_pos.get(&(node, field)).copied().unwrap_or_default(),
                format!("struct `{start}` contains itself without indirection ({chain}), so it would be infinitely large"),
                format!("make field `{field}` of `{node}` a `list<{start}>` (with `max_len: 1` if at most one)"),
            );
        }
        if !cycles.is_empty() {
            return;
        }
        let index: HashMap<&str, usize> = structs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let nesting = graph.nesting();
        for (i, &(depth, next)) in nesting.iter().enumerate() {
            if depth as u64 > u64::from(mycelium_codec::MAX_DEPTH) {
                let mut chain = vec![structs[i].name.as_str()];
                let mut at = next;
                while let Some(j) = at {
                    if chain.len() == 4 {
                        chain.push("...");
                        break;
                    }
                    chain.push(structs[j].name.as_str());
                    at = nesting[j].1;
                }
                let pos = record_pos(&structs[i].name);
                self.err(
                    pos,
                    format!(
                        "struct `{}` nests {depth} structs deep ({}), above the {} levels a decoder accepts",
                        structs[i].name,
                        chain.join(" -> "),
                        mycelium_codec::MAX_DEPTH
                    ),
                    "flatten the chain: no message could be decoded",
                );
                // One report is enough: every struct above it on the chain would repeat it.
                break;
            }
        }
        let sizes = graph.inline_sizes();
        let size_of = |name: &str| index.get(name).map_or(0, |&j| sizes[j]);
        let records = structs
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    crate::graph::record_size(&s.fields, &size_of),
                )
            })
            .chain(messages.iter().map(|m| {
                (
                    m.name.as_str(),
                    crate::graph::record_size(&m.fields, &size_of),
                )
            }));
        let mut too_large = Vec::new();
        for (name, size) in records {
            if size > MAX_INLINE_BYTES {
                too_large.push((name, size));
            }
        }
        for (name, size) in too_large {
            let pos = record_pos(name);
            self.err(
                pos,
                format!("`{name}` holds about {size} bytes inline, above the limit of {MAX_INLINE_BYTES}"),
                "large values must be lists or arrays of more than 32 elements (both live on the heap); decoding keeps a few copies of a record on the stack",
            );
        }
        let fields = structs
            .iter()
            .map(|s| (s.name.as_str(), &s.fields))
            .chain(messages.iter().map(|m| (m.name.as_str(), &m.fields)));
        for (owner, fields) in fields {
            for f in fields.iter() {
                let Type::Array(inner, n) = &f.ty else {
                    continue;
                };
                if !crate::rust::is_boxed(*n) {
                    continue;
                }
                let size = crate::graph::inline_size(inner, &size_of).saturating_mul(*n);
                if size > MAX_BOXED_ARRAY_BYTES {
                    let pos = field_pos
                        .get(&(owner, f.name.as_str()))
                        .copied()
                        .unwrap_or_else(|| record_pos(owner));
                    self.err(
                        pos,
                        format!("field `{}` of `{owner}`, a `{}`, holds about {size} bytes, above the limit of {MAX_BOXED_ARRAY_BYTES} for an array", f.name, f.ty.canonical()),
                        "make it a `list<...>`: a decoder reserves every element of an array (a frame too small to justify the memory is refused), and a clone copies it through the stack",
                    );
                }
            }
        }
    }
}
