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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A peer's canonical schema with a few characters changed, inserted or removed (any
    /// character, control characters included): read back or refused with diagnostics on
    /// one of its lines, never a panic, and nothing accepted that is not canonical.
    #[test]
    fn mutated_canonical_text_from_a_peer(
        edits in proptest::collection::vec((any::<usize>(), 0u8..3, any::<char>()), 1..6)
    ) {
        let schema = model::parse_str("contracts.yaml", REPO).expect("valid");
        let canonical = mycelium_codegen::digest::canonical(&schema);
        let mut text: Vec<char> = canonical.chars().collect();
        for (at, op, c) in edits {
            let at = at % text.len().max(1);
            match op {
                0 => { text.remove(at); }
                1 => text.insert(at, c),
                _ => text[at] = c,
            }
        }
        let text: String = text.into_iter().collect();
        match model::from_canonical(&text) {
            Ok(back) => prop_assert_eq!(mycelium_codegen::digest::canonical(&back), text),
            Err(diags) => {
                prop_assert!(!diags.is_empty());
                let lines = text.split('\n').count();
                for d in &diags {
                    prop_assert!(d.line <= lines, "{d}");
                    prop_assert!(!d.to_string().contains(|c: char| c.is_control() && c != '\n'), "{d:?}");
                }
            }
        }
    }
}
