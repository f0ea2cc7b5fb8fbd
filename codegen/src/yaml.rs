//! A small YAML tree that remembers where every node starts, built from `saphyr-parser`
//! events, so that each schema error can point at a line and column.
//!
//! Only what a schema needs is kept: scalars (with whether they were quoted), sequences and
//! mappings. Anchors and aliases are refused: a schema is read by people, and an alias
//! hides what a field really is.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A position in the source, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// One YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What it holds.
    pub kind: Kind,
}

/// The shape of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A scalar; `plain` is false when it was quoted or a block scalar (so `"12"` stays text).
    Scalar {
        /// The scalar's text.
        text: String,
        /// False when quoted or a block scalar.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order; duplicate keys are kept so the checker can report them.
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error, already positioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What the parser said.
    pub message: String,
    /// What to do.
    pub hint: &'static str,
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// Parses `text` as exactly one YAML document. An empty file yields `None`.
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    // Containers being built: (start position, seq items or map entries).
    enum Open {
        Seq(Pos, Vec<Node>),
        Map(Pos, Vec<(Node, Node)>, Option<Node>),
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| SyntaxError {
            pos: Pos {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: format!("malformed YAML: {}", e.info()),
            hint: "fix the YAML syntax at this position (indentation, quotes, brackets)",
        })?;
        let pos = pos_of(&span);
        let finished: Node = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        pos,
                        message: "the file holds more than one YAML document".into(),
                        hint: "keep the whole schema in one document: remove the second `---`",
                    });
                }
                continue;
            }
            Event::Alias(_) => {
                return Err(SyntaxError {
                    pos,
                    message: "YAML aliases (`*name`) are not supported in a schema".into(),
                    hint: "write the value out in full instead of referring to an anchor",
                })
            }
            Event::Scalar(text, style, anchor, _) => {
                if anchor != 0 {
                    return Err(anchor_error(pos));
                }
                Node {
                    pos,
                    kind: Kind::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                }
            }
            Event::SequenceStart(anchor, _) => {
                if anchor != 0 {
                    return Err(anchor_error(pos));
                }
                stack.push(Open::Seq(pos, Vec::new()));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                if anchor != 0 {
                    return Err(anchor_error(pos));
                }
                stack.push(Open::Map(pos, Vec::new(), None));
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(p, items)) => Node {
                    pos: p,
                    kind: Kind::Seq(items),
                },
                _ => return Err(internal(pos)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Open::Map(p, entries, None)) => Node {
                    pos: p,
                    kind: Kind::Map(entries),
                },
                _ => return Err(internal(pos)),
            },
        };
        match stack.last_mut() {
            None => root = Some(finished),
            Some(Open::Seq(_, items)) => items.push(finished),
            Some(Open::Map(_, entries, pending)) => match pending.take() {
                None => *pending = Some(finished),
                Some(key) => entries.push((key, finished)),
            },
        }
    }
    Ok(root)
}

fn anchor_error(pos: Pos) -> SyntaxError {
    SyntaxError {
        pos,
        message: "YAML anchors (`&name`) are not supported in a schema".into(),
        hint: "remove the anchor and write each value out in full",
    }
}

fn internal(pos: Pos) -> SyntaxError {
    SyntaxError {
        pos,
        message: "malformed YAML: unbalanced sequence or mapping".into(),
        hint: "check the indentation and brackets around this position",
    }
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// True for `~`, `null`, or an empty plain scalar (`key:` with nothing after it).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A word describing the node's shape, for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } if self.is_null() => "nothing (null)",
            Kind::Scalar { plain: false, .. } => "a quoted string",
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let root = parse("a: 1\nb:\n  - x\n").unwrap().unwrap();
        let Kind::Map(entries) = &root.kind else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, column: 1 });
        assert_eq!(entries[0].1.pos, Pos { line: 1, column: 4 });
        let Kind::Seq(items) = &entries[1].1.kind else {
            panic!("not a seq")
        };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
    }

    #[test]
    fn flow_mapping_positions() {
        let root = parse("- { name: p, tag: 1 }\n").unwrap().unwrap();
        let Kind::Seq(items) = &root.kind else {
            panic!()
        };
        let Kind::Map(entries) = &items[0].kind else {
            panic!()
        };
        assert_eq!(
            entries[1].0.pos,
            Pos {
                line: 1,
                column: 14
            }
        );
    }

    #[test]
    fn syntax_error_is_positioned() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
    }

    #[test]
    fn quoted_scalars_are_not_plain() {
        let root = parse("a: '12'\n").unwrap().unwrap();
        let Kind::Map(entries) = &root.kind else {
            panic!()
        };
        assert_eq!(
            entries[0].1.kind,
            Kind::Scalar {
                text: "12".into(),
                plain: false
            }
        );
    }
}
