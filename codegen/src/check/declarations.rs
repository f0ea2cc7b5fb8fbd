//! Enums, structs and messages as written, before their types are resolved.

use std::collections::HashMap;

use super::{is_topic, Cx, DeclKind, RawEnum, RawField, RawRecord, MAX_TAG, RESERVED_TYPE_ID};
use crate::type_expr;
use crate::yaml::{Kind, Node, Pos};

impl Cx<'_> {
    fn entries<'n>(&mut self, node: &'n Node, what: &str) -> Vec<(&'n Node, &'n Node)> {
        if node.is_null() {
            return Vec::new();
        }
        match &node.kind {
            Kind::Map(entries) => entries.iter().map(|(k, v)| (k, v)).collect(),
            _ => {
                self.err(
                    node.pos,
                    format!(
                        "`{what}` must be a mapping from names to declarations, found {}",
                        node.describe()
                    ),
                    format!("write `{what}:` followed by indented `Name:` entries"),
                );
                Vec::new()
            }
        }
    }

    pub(super) fn raw_enums(&mut self, node: &Node) -> Vec<RawEnum> {
        let mut out = Vec::new();
        for (k, v) in self.entries(node, "enums") {
            let Some(name) = self.string(k, "an enum name") else {
                continue;
            };
            self.type_name(&name, k.pos, "enum");
            let what = format!("enum `{name}`");
            let Some(m) = self.map(v, &what, &["doc", "variants"]) else {
                continue;
            };
            let doc = self.doc(m.get("doc"), &what);
            let mut variants = Vec::new();
            match m.get("variants") {
                None => self.err(
                    k.pos,
                    format!("{what} has no `variants`"),
                    "add `variants:` with items like `- { name: Buy, value: 1 }`",
                ),
                Some(list) => match &list.kind {
                    Kind::Seq(items) if !items.is_empty() => {
                        let mut seen_names: HashMap<String, Pos> = HashMap::new();
                        let mut seen_values: HashMap<u32, String> = HashMap::new();
                        for item in items {
                            let vwhat = format!("a variant of {what}");
                            let Some(vm) = self.map(item, &vwhat, &["name", "value", "doc"]) else {
                                continue;
                            };
                            let vname = match vm.get("name") {
                                Some(n) => self
                                    .string(n, "the variant name")
                                    .inspect(|s| self.type_name(s, n.pos, "variant")),
                                None => {
                                    self.err(
                                        item.pos,
                                        format!("{vwhat} has no `name`"),
                                        "add `name: <UpperCamelCase>`",
                                    );
                                    None
                                }
                            };
                            let value = match vm.get("value") {
                                Some(n) => self.uint(n, "the variant value", u32::MAX as u64),
                                None => {
                                    self.err(item.pos, format!("{vwhat} has no `value`"), "add an explicit `value: <u32>`; values are never assigned implicitly");
                                    None
                                }
                            };
                            if let Some(n) = vm.get("doc") {
                                if !n.is_null() {
                                    self.string(n, "the variant doc");
                                }
                            }
                            if let Some(vname) = &vname {
                                if let Some(first) = seen_names.get(vname) {
                                    self.err(item.pos, format!("variant `{vname}` appears twice in {what} (first at line {})", first.line), "rename or remove one of them");
                                } else {
                                    seen_names.insert(vname.clone(), item.pos);
                                }
                            }
                            if let (Some(vname), Some(value)) = (vname, value) {
                                let value = value as u32;
                                if let Some(other) = seen_values.get(&value) {
                                    self.err(item.pos, format!("value {value} of variant `{vname}` is already used by `{other}` in {what}"), "give each variant its own value");
                                } else {
                                    seen_values.insert(value, vname.clone());
                                }
                                variants.push((vname, value, item.pos));
                            }
                        }
                    }
                    Kind::Seq(_) => self.err(
                        list.pos,
                        format!("{what} has no variants"),
                        "add at least one variant",
                    ),
                    _ => self.err(
                        list.pos,
                        format!(
                            "the `variants` of {what} must be a list, found {}",
                            list.describe()
                        ),
                        "write each variant as `- { name: Buy, value: 1 }`",
                    ),
                },
            }
            out.push(RawEnum {
                name,
                pos: k.pos,
                doc,
                variants,
            });
        }
        out
    }

    pub(super) fn raw_records(&mut self, node: &Node, kind: DeclKind) -> Vec<RawRecord> {
        let (section, noun) = match kind {
            DeclKind::Message => ("messages", "message"),
            _ => ("structs", "struct"),
        };
        let known: &[&str] = match kind {
            DeclKind::Message => &["id", "topic", "doc", "fields"],
            _ => &["doc", "fields"],
        };
        let mut out = Vec::new();
        for (k, v) in self.entries(node, section) {
            let Some(name) = self.string(k, &format!("a {noun} name")) else {
                continue;
            };
            self.type_name(&name, k.pos, noun);
            let what = format!("{noun} `{name}`");
            let Some(m) = self.map(v, &what, known) else {
                continue;
            };
            let doc = self.doc(m.get("doc"), &what);
            let mut id = None;
            let mut topic = None;
            if kind == DeclKind::Message {
                match m.get("id") {
                    Some(n) => {
                        id = self
                            .uint(n, "the type id", RESERVED_TYPE_ID as u64)
                            .map(|v| (v, n.pos));
                        if id.is_some_and(|(v, _)| v == RESERVED_TYPE_ID as u64) {
                            self.err(
                                n.pos,
                                format!("the type id {RESERVED_TYPE_ID} of {what} is reserved"),
                                "the bindings mark plain (unencoded) values with it: choose an unused number from 0 to 65534",
                            );
                            id = None;
                        }
                    }
                    None => self.err(
                        k.pos,
                        format!("{what} has no `id`"),
                        "add `id: <unused number from 0 to 65534>`",
                    ),
                }
                match m.get("topic") {
                    Some(n) => {
                        if let Some(t) = self.string(n, "the topic") {
                            if is_topic(&t) {
                                topic = Some((t, n.pos));
                            } else {
                                self.err(n.pos, format!("topic `{t}` is not dotted lowercase words"), "write it like `md.quote` or `orders.ack` (a-z, 0-9, `_`, words separated by `.`)");
                            }
                        }
                    }
                    None => self.err(
                        k.pos,
                        format!("{what} has no `topic`"),
                        "add `topic: <dotted.lowercase.words>`",
                    ),
                }
            }
            let fields = match m.get("fields") {
                None => {
                    self.err(
                        k.pos,
                        format!("{what} has no `fields`"),
                        "add `fields:` with at least one field",
                    );
                    Vec::new()
                }
                Some(list) => match &list.kind {
                    Kind::Seq(items) if !items.is_empty() => items
                        .iter()
                        .filter_map(|item| self.raw_field(item, &what))
                        .collect(),
                    Kind::Seq(_) => {
                        self.err(
                            list.pos,
                            format!("{what} has no fields"),
                            "add at least one field (OCaml has no empty records)",
                        );
                        Vec::new()
                    }
                    _ => {
                        self.err(
                            list.pos,
                            format!(
                                "the `fields` of {what} must be a list, found {}",
                                list.describe()
                            ),
                            "write each field as `- { name: price, type: f64, tag: 1 }`",
                        );
                        Vec::new()
                    }
                },
            };
            out.push(RawRecord {
                name,
                pos: k.pos,
                doc,
                id,
                topic,
                fields,
            });
        }
        out
    }

    fn raw_field(&mut self, item: &Node, owner: &str) -> Option<RawField> {
        let what = format!("a field of {owner}");
        let m = self.map(
            item,
            &what,
            &["name", "type", "tag", "optional", "max_len", "doc"],
        )?;
        let (name, name_pos) = match m.get("name") {
            Some(n) => {
                let s = self.string(n, "the field name");
                if let Some(s) = &s {
                    self.field_name(s, n.pos, "field");
                }
                (s, n.pos)
            }
            None => {
                self.err(
                    item.pos,
                    format!("{what} has no `name`"),
                    "add `name: <snake_case>`",
                );
                (None, item.pos)
            }
        };
        let ty = match m.get("type") {
            Some(n) => self
                .string(n, "the field type")
                .and_then(|t| match type_expr::parse(&t) {
                    Ok(t) => Some((t, n.pos)),
                    Err((msg, hint)) => {
                        self.err(n.pos, msg, hint);
                        None
                    }
                }),
            None => {
                self.err(
                    item.pos,
                    format!("{what} has no `type`"),
                    "add `type: <type>`, e.g. `type: u64`",
                );
                None
            }
        };
        let tag = m.get("tag").and_then(|n| {
            let v = self.uint(n, "the tag", MAX_TAG)?;
            if v == 0 {
                self.err(
                    n.pos,
                    format!("tag {v} is out of range"),
                    format!("tags go from 1 to {MAX_TAG} (13 bits of the key)"),
                );
                return None;
            }
            Some((v, n.pos))
        });
        let optional = m
            .get("optional")
            .and_then(|n| self.boolean(n, "optional"))
            .unwrap_or(false);
        let max_len = m.get("max_len").and_then(|n| {
            let v = self.uint(n, "max_len", u32::MAX as u64)?;
            if v == 0 {
                self.err(
                    n.pos,
                    "max_len 0 allows only empty lists",
                    "use a max_len of at least 1, or remove the field",
                );
                return None;
            }
            Some((v, n.pos))
        });
        let doc = self.doc(m.get("doc"), "the field");
        Some(RawField {
            name: name?,
            name_pos,
            pos: item.pos,
            tag,
            ty,
            optional,
            max_len,
            doc,
        })
    }
}
