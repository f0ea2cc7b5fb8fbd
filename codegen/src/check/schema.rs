//! The schema's top level: its keys, its declarations in order, and the names the
//! generators cannot emit.

use std::collections::HashMap;

use super::{Cx, DeclKind, RawEnum, RawRecord, MAX_SCHEMA_BYTES};
use crate::model::{Enum, Message, Schema, Struct};
use crate::names;
use crate::yaml::{Node, Pos};

impl Cx<'_> {
    pub(super) fn schema(&mut self, root: &Node) -> Option<Schema> {
        let top = self.map(
            root,
            "the top level",
            &["package", "version", "enums", "structs", "messages"],
        )?;
        let package = match top.get("package") {
            Some(n) => self.string(n, "`package`").inspect(|p| {
                self.field_name(p, n.pos, "package");
            }),
            None => {
                self.err(
                    root.pos,
                    "the schema has no `package`",
                    "add `package: <snake_case_name>` at the top",
                );
                None
            }
        };
        let version = top
            .get("version")
            .and_then(|n| self.uint(n, "`version`", u64::MAX));

        let enums = top
            .get("enums")
            .map(|n| self.raw_enums(n))
            .unwrap_or_default();
        let structs = top
            .get("structs")
            .map(|n| self.raw_records(n, DeclKind::Struct))
            .unwrap_or_default();
        let messages = match top.get("messages") {
            Some(n) => self.raw_records(n, DeclKind::Message),
            None => {
                self.err(
                    root.pos,
                    "the schema has no `messages`",
                    "add a `messages:` mapping with at least one message",
                );
                Vec::new()
            }
        };

        // Names are shared by every declaration: they all become types in one module.
        let mut decls: HashMap<String, (DeclKind, Pos)> = HashMap::new();
        let mut lowered: HashMap<String, (String, Pos)> = HashMap::new();
        let all = enums
            .iter()
            .map(|e| (e.name.as_str(), e.pos, DeclKind::Enum))
            .chain(
                structs
                    .iter()
                    .map(|s| (s.name.as_str(), s.pos, DeclKind::Struct)),
            )
            .chain(
                messages
                    .iter()
                    .map(|m| (m.name.as_str(), m.pos, DeclKind::Message)),
            );
        for (name, pos, kind) in all {
            if let Some((_, first)) = decls.get(name) {
                self.err(
                    pos,
                    format!(
                        "the name `{name}` is declared twice (first at line {})",
                        first.line
                    ),
                    "enums, structs and messages share one namespace; rename one of them",
                );
                continue;
            }
            decls.insert(name.to_string(), (kind, pos));
            if !names::is_upper_camel(name) {
                continue;
            }
            let snake = names::snake_case(name);
            if names::RESERVED_TYPE_NAMES.contains(&name)
                || names::RESERVED_TYPE_NAMES.contains(&snake.as_str())
            {
                self.err(
                    pos,
                    format!("the type name `{name}` is reserved by the generated code"),
                    "choose a more specific name, e.g. prefix it with the domain",
                );
            } else if !names::keyword_owners(&snake).is_empty() {
                self.err(
                    pos,
                    format!(
                        "the type name `{name}` becomes the keyword `{snake}` when written in lowercase (OCaml type names)"
                    ),
                    "choose another name",
                );
            }
            if let Some((other, first)) = lowered.get(&snake) {
                self.err(
                    pos,
                    format!(
                        "`{name}` and `{other}` (line {}) have the same lowercase spelling `{snake}`",
                        first.line
                    ),
                    "rename one of them; OCaml type names are lowercase",
                );
            } else {
                lowered.insert(snake, (name.to_string(), pos));
            }
        }

        let mut out_structs = Vec::new();
        for s in &structs {
            let fields = self.fields(s, &decls);
            out_structs.push(Struct {
                name: s.name.clone(),
                doc: s.doc.clone(),
                fields,
            });
        }
        let mut out_messages = Vec::new();
        let mut ids: HashMap<u64, (String, Pos)> = HashMap::new();
        let mut topics: HashMap<String, (String, Pos)> = HashMap::new();
        for m in &messages {
            let fields = self.fields(m, &decls);
            let id = m.id.map(|(id, pos)| {
                if let Some((other, _)) = ids.get(&id) {
                    self.err(
                        pos,
                        format!("type id {id} of `{}` is already used by `{other}`", m.name),
                        format!("give `{}` an unused id", m.name),
                    );
                } else {
                    ids.insert(id, (m.name.clone(), pos));
                }
                id as u16
            });
            if let Some((topic, pos)) = &m.topic {
                if let Some((other, _)) = topics.get(topic) {
                    self.err(
                        *pos,
                        format!(
                            "topic `{topic}` of `{}` is already used by `{other}`",
                            m.name
                        ),
                        "a topic carries one message type; give this message its own topic",
                    );
                } else {
                    topics.insert(topic.clone(), (m.name.clone(), *pos));
                }
            }
            out_messages.push(Message {
                name: m.name.clone(),
                id: id.unwrap_or(0),
                topic: m.topic.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
                doc: m.doc.clone(),
                fields,
            });
        }
        self.cycles(&structs, &messages, &out_structs, &out_messages);
        self.generated_names(&enums, &messages);

        let schema = Schema {
            package: package?,
            version,
            enums: enums
                .into_iter()
                .map(|e| Enum {
                    name: e.name,
                    doc: e.doc,
                    variants: e.variants.into_iter().map(|(n, v, _)| (n, v)).collect(),
                })
                .collect(),
            structs: out_structs,
            messages: out_messages,
        };
        if self.diags.is_empty() {
            // Later passes assume every name resolved and no cycle.
            self.ocaml_functions(&schema, &decls);
            let canonical = crate::digest::canonical(&schema).len();
            if canonical > MAX_SCHEMA_BYTES {
                self.err(
                    root.pos,
                    format!("the schema's canonical form takes {canonical} bytes, above the limit of {MAX_SCHEMA_BYTES} a peer reads back"),
                    "split the schema; peers exchange the canonical form at handshake",
                );
            }
        }
        Some(schema)
    }

    /// Names the generators cannot emit, beyond the keyword and case rules: message
    /// fields named like a generated method, variants named like an OCaml constructor the
    /// generated code uses.
    fn generated_names(&mut self, enums: &[RawEnum], messages: &[RawRecord]) {
        for m in messages {
            for f in &m.fields {
                if names::RESERVED_MESSAGE_FIELD_NAMES.contains(&f.name.as_str()) {
                    self.err(
                        f.name_pos,
                        format!(
                            "field name `{}` of message `{}` is a method of every generated Python message class",
                            f.name, m.name
                        ),
                        format!("rename it, e.g. `{}_`", f.name),
                    );
                }
            }
        }
        for e in enums {
            for (v, _, pos) in &e.variants {
                if names::RESERVED_VARIANT_NAMES.contains(&v.as_str()) {
                    self.err(
                        *pos,
                        format!(
                            "variant `{v}` of enum `{}` would shadow OCaml's option constructor `{v}`",
                            e.name
                        ),
                        "rename the variant",
                    );
                }
            }
        }
    }

    /// Two types whose generated OCaml functions would have the same name.
    fn ocaml_functions(&mut self, schema: &Schema, decls: &HashMap<String, (DeclKind, Pos)>) {
        let mut seen: HashMap<String, Option<String>> = HashMap::new();
        for (function, owner) in crate::ocaml::function_names(schema) {
            match seen.get(&function) {
                None => {
                    seen.insert(function, owner);
                }
                Some(first) => {
                    let pos = owner
                        .as_ref()
                        .and_then(|o| decls.get(o))
                        .map(|d| d.1)
                        .unwrap_or_default();
                    let with = match first {
                        Some(t) => format!("`{t}`"),
                        None => "the module's own".to_string(),
                    };
                    self.err(
                        pos,
                        format!(
                            "`{}` and {with} would both generate the OCaml function `{function}`",
                            owner.as_deref().unwrap_or("the module")
                        ),
                        "rename one of the two types",
                    );
                }
            }
        }
    }
}
