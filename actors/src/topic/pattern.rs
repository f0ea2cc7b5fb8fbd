//! Topic names and subscription patterns.
//!
//! A **topic name** is one or more dot-separated segments, such as `md.quote.AAPL`. A segment
//! is not empty and holds no `.`, no `*`, no whitespace and no control character, and is not
//! `>`, `#` or `+` alone: those are other systems' wildcards (NATS, MQTT), which would match
//! only themselves here, so a pattern such as `md.>` is refused rather than silently
//! matching nothing.
//!
//! A **pattern** is either
//! - a topic name, which matches exactly that name;
//! - a topic name followed by `.*` (`md.quote.*`), which matches every name that has at least
//!   one more segment after that prefix (`md.quote.AAPL`, `md.quote.AAPL.bid`, not `md.quote`);
//! - `*` alone, which matches every name.
//!
//! `*` is valid only as the whole last segment.

use crate::error::TopicError;

/// A parsed subscription pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Pattern {
    /// Exactly this name.
    Exact(Box<str>),
    /// Names starting with this prefix, which ends with a `.`, and having more after it.
    Prefix(Box<str>),
    /// Every name.
    All,
}

impl Pattern {
    /// Parses `pattern` following the grammar in the module docs.
    pub(super) fn parse(pattern: &str) -> Result<Pattern, TopicError> {
        if pattern == "*" {
            return Ok(Pattern::All);
        }
        let invalid = |problem: &'static str| TopicError::InvalidPattern {
            pattern: pattern.to_string(),
            problem,
        };
        if let Some(prefix) = pattern.strip_suffix(".*") {
            check_name(prefix).map_err(invalid)?;
            let mut with_dot = String::with_capacity(prefix.len() + 1);
            with_dot.push_str(prefix);
            with_dot.push('.');
            return Ok(Pattern::Prefix(with_dot.into_boxed_str()));
        }
        check_name(pattern).map_err(|problem| {
            if pattern.contains('*') {
                invalid("`*` may only stand alone as the last segment")
            } else {
                invalid(problem)
            }
        })?;
        Ok(Pattern::Exact(pattern.into()))
    }

    /// True when the (valid) topic `name` matches.
    #[inline]
    pub(super) fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Exact(exact) => **exact == *name,
            // A valid name never ends with `.`, so a longer name with this prefix has at
            // least one more non-empty segment.
            Pattern::Prefix(prefix) => name.len() > prefix.len() && name.starts_with(&**prefix),
            Pattern::All => true,
        }
    }
}

/// Checks a topic name; the error says what is wrong with it.
pub(super) fn validate_name(name: &str) -> Result<(), TopicError> {
    check_name(name).map_err(|problem| TopicError::InvalidName {
        name: name.to_string(),
        problem,
    })
}

fn check_name(name: &str) -> Result<(), &'static str> {
    // Most names are plain ASCII and valid: one look at each byte says so. Anything else
    // takes the full check below, which says what is wrong (the full check took about 650
    // instructions for a name like `md.quote.17`, for each publication a link delivered).
    if plainly_valid(name.as_bytes()) {
        return Ok(());
    }
    check_name_fully(name)
}

/// [`check_name`] without its shortcut.
fn check_name_fully(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    for segment in name.split('.') {
        if segment.is_empty() {
            return Err("it has an empty segment (a leading, trailing or doubled `.`)");
        }
        if segment.contains('*') {
            return Err("`*` is not allowed in a topic name");
        }
        if foreign_wildcard(segment.as_bytes()) {
            return Err(
                "a `>`, `#` or `+` segment is another system's wildcard, not one here: `prefix.*` matches every topic under `prefix`",
            );
        }
        for c in segment.chars() {
            if c.is_whitespace() {
                return Err("it contains whitespace");
            }
            if c.is_control() {
                return Err("it contains a control character");
            }
        }
    }
    Ok(())
}

/// True for a segment that is another system's wildcard (`>`, `#`, `+`): refused in names.
fn foreign_wildcard(segment: &[u8]) -> bool {
    matches!(segment, b">" | b"#" | b"+")
}

/// True when `name` is a valid topic name made only of printable ASCII: non-empty segments
/// between dots, none of them a foreign wildcard (`>`, `#`, `+`), and no `*`, space or
/// control character. `false` says nothing: [`check_name`] decides.
#[inline]
fn plainly_valid(name: &[u8]) -> bool {
    let plain_segment = |s: &[u8]| !s.is_empty() && !foreign_wildcard(s);
    let mut start = 0;
    for (i, &b) in name.iter().enumerate() {
        match b {
            b'.' => {
                if !plain_segment(&name[start..i]) {
                    return false;
                }
                start = i + 1;
            }
            b'*' => return false,
            // Printable ASCII but the space: no whitespace, no control character.
            b'!'..=b'~' => {}
            _ => return false,
        }
    }
    plain_segment(&name[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn exact_matches_only_itself() {
        assert!(p("md.quote.AAPL").matches("md.quote.AAPL"));
        assert!(!p("md.quote.AAPL").matches("md.quote.AAPLX"));
        assert!(!p("md.quote.AAPL").matches("md.quote"));
        assert!(!p("md.quote").matches("md.quote.AAPL"));
    }

    #[test]
    fn wildcard_matches_one_or_more_segments_after_the_prefix() {
        let w = p("md.quote.*");
        assert!(w.matches("md.quote.AAPL"));
        assert!(w.matches("md.quote.AAPL.bid"));
        assert!(!w.matches("md.quote"));
        assert!(!w.matches("md.quotes.AAPL"));
        assert!(!w.matches("md.trade.AAPL"));
        assert!(p("*").matches("anything.at.all"));
        assert!(p("*").matches("x"));
    }

    #[test]
    fn invalid_names_and_patterns_are_refused_with_a_reason() {
        for bad in [
            "", ".a", "a.", "a..b", "a*", "a.*.b", "a b", "*.a", "a\u{1b}b", "a\u{9b}",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted as a name");
        }
        // A control character is named as such, and shown escaped: the message is one line
        // a terminal prints as it is.
        for (bad, shown) in [("md.\u{1b}[2J", "md.\\u{1b}[2J"), ("a\u{0}", "a\\u{0}")] {
            let name_err = validate_name(bad).unwrap_err().to_string();
            let pattern_err = Pattern::parse(&format!("{bad}.*")).unwrap_err().to_string();
            for err in [name_err, pattern_err] {
                assert!(err.contains("control character"), "{err}");
                assert!(err.contains(shown), "{err}");
                assert!(!err.chars().any(char::is_control), "{err:?}");
            }
        }
        for bad in [
            "", ".*", "a.**", "a*", "a.*.b", "**", "a.b*", "a..*", " a.*",
        ] {
            let err = Pattern::parse(bad).expect_err(bad);
            assert!(
                err.to_string().contains("not a subscription pattern"),
                "{err}"
            );
        }
        assert!(validate_name("md.quote.AAPL").is_ok());
        assert!(validate_name("x").is_ok());
    }

    #[test]
    fn other_systems_wildcards_are_refused_and_point_to_ours() {
        for bad in ["md.>", "md.#", "md.quote.+", ">", "#", "+", "md.>.x"] {
            let err = Pattern::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("`prefix.*` matches every topic"), "{err}");
            assert!(validate_name(bad).is_err(), "{bad:?} accepted as a name");
        }
        // Inside a segment they are ordinary characters.
        for good in ["fx.EUR>USD", "tag.#1", "a+b"] {
            assert!(validate_name(good).is_ok(), "{good:?}");
            assert!(p(good).matches(good));
        }
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_-]{1,4}"
    }

    fn name() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(segment(), 1..5)
    }

    proptest! {
        /// A prefix pattern matches a name exactly when the name's segments start with the
        /// prefix's segments and have at least one more.
        #[test]
        fn prefix_matching_agrees_with_segment_comparison(prefix in name(), candidate in name()) {
            let pattern = p(&format!("{}.*", prefix.join(".")));
            let expected = candidate.len() > prefix.len() && candidate[..prefix.len()] == prefix[..];
            prop_assert_eq!(pattern.matches(&candidate.join(".")), expected);
        }

        /// The shortcut never accepts a name the full check refuses, and takes every valid
        /// ASCII name.
        #[test]
        fn the_shortcut_agrees_with_the_full_check(name in "[a-c.*>#+ \t\x00\x7fé~!]{0,8}") {
            let full = check_name_fully(&name).is_ok();
            if plainly_valid(name.as_bytes()) {
                prop_assert!(full, "{:?} taken by the shortcut, refused by the full check", name);
            } else if name.is_ascii() {
                prop_assert!(!full, "{:?} valid, but not taken by the shortcut", name);
            }
            prop_assert_eq!(check_name(&name).is_ok(), full);
        }

        /// An exact pattern matches only an equal name; every generated name is valid.
        #[test]
        fn exact_matching_is_equality(a in name(), b in name()) {
            let (a, b) = (a.join("."), b.join("."));
            prop_assert!(validate_name(&a).is_ok());
            prop_assert_eq!(p(&a).matches(&b), a == b);
            prop_assert!(p("*").matches(&b));
        }
    }
}
