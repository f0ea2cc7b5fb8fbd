//! The checker answers every input with a schema or diagnostics, never a panic.

use mycelium_codegen::model;
use proptest::prelude::*;

const REPO: &str = include_str!("../../contracts.yaml");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        let _ = model::parse_str("t.yaml", &text);
    }

    #[test]
    fn yaml_like_text(text in "[a-zA-Z0-9_:{}\\[\\]<>;,.\\-# \"'\n]{0,300}") {
        let _ = model::parse_str("t.yaml", &text);
    }

    /// The repository schema with a few bytes changed, inserted or removed: positions
    /// must stay within the text.
    #[test]
    fn mutated_repository_schema(
        edits in proptest::collection::vec((0..REPO.len(), 0u8..3, proptest::char::range(' ', '~')), 1..6)
    ) {
        let mut text: Vec<char> = REPO.chars().collect();
        for (at, op, c) in edits {
            let at = at.min(text.len().saturating_sub(1));
            match op {
                0 => { text.remove(at); }
                1 => text.insert(at, c),
                _ => text[at] = c,
            }
        }
        let text: String = text.into_iter().collect();
        if let Err(diags) = model::parse_str("t.yaml", &text) {
            prop_assert!(!diags.is_empty());
            let lines = text.lines().count() + 1;
            for d in &diags {
                prop_assert!(d.line <= lines, "{d}");
                prop_assert!(!d.hint.is_empty());
            }
        }
    }
}
