//! Named patterns: a rule file's `[patterns]` table gives a wording list a
//! name, and a condition uses it as `(?&name)` (PCRE's spelling of "the
//! pattern called name"). Several rules test the same wording under
//! different guards (user-unknown wording trusted at RCPT, after DATA,
//! from a parser that presets it); one list keeps them from drifting apart.
//!
//! A reference that stands as a whole alternative (`(a|(?&list)|b)`, or
//! the whole pattern) is replaced by the list's alternatives themselves,
//! so the literal pass still sees one flat alternation; anywhere else it
//! becomes a non-capturing group.

use regex_syntax::ast::Ast;
use std::collections::BTreeMap;

const OPEN: &str = "(?&";

/// The names a rule file defines, checked: a name is a word, and a named
/// pattern is a regular expression of its own that matches something and
/// does not refer to another.
pub(super) fn check_definitions(named: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, pattern) in named {
        if !is_name(name) {
            return Err(format!(
                "patterns: {name:?} is not a name (letters, digits and '_', not starting with a digit)"
            ));
        }
        if pattern.contains(OPEN) {
            return Err(format!(
                "patterns: {name} refers to another named pattern; named patterns cannot nest"
            ));
        }
        let ast = parse(pattern)
            .map_err(|e| format!("patterns: {name}: bad pattern: {}", super::one_line(&e)))?;
        // An empty list would splice into "(a||b)", which matches any text.
        let empty = match &ast {
            Ast::Empty(_) => true,
            Ast::Alternation(a) => a.asts.iter().any(|a| matches!(a, Ast::Empty(_))),
            _ => false,
        };
        if empty {
            return Err(format!(
                "patterns: {name} is empty or has an empty alternative, which would match any text"
            ));
        }
    }
    Ok(())
}

fn parse(pattern: &str) -> Result<Ast, String> {
    regex_syntax::ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|e| e.to_string())
}

/// Whether a pattern sets flags for the rest of its group ("(?-i)"), as
/// opposed to a group of its own ("(?i:…)", "(?:…)"). One that cannot be
/// read is taken to, so that it stays grouped.
fn sets_flags(pattern: &str) -> bool {
    fn walk(ast: &Ast) -> bool {
        match ast {
            Ast::Flags(_) => true,
            Ast::Group(g) => walk(&g.ast),
            Ast::Repetition(r) => walk(&r.ast),
            Ast::Alternation(a) => a.asts.iter().any(walk),
            Ast::Concat(c) => c.asts.iter().any(walk),
            _ => false,
        }
    }
    // Flags need "(?": most lists have none and skip the parse, which
    // ran for every reference at every start.
    pattern.contains("(?") && parse(pattern).map_or(true, |ast| walk(&ast))
}

/// Whether the text ends with `c` that is itself, not escaped by an odd
/// number of backslashes before it.
fn ends_with_unescaped(text: &str, c: char) -> bool {
    let Some(before) = text.strip_suffix(c) else {
        return false;
    };
    let backslashes = before.bytes().rev().take_while(|&b| b == b'\\').count();
    backslashes % 2 == 0
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `pattern` with every `(?&name)` replaced by the named pattern.
pub(super) fn expand(pattern: &str, named: &BTreeMap<String, String>) -> Result<String, String> {
    if !pattern.contains(OPEN) {
        return Ok(pattern.to_string());
    }
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(at) = rest.find(OPEN) {
        let after_open = &rest[at + OPEN.len()..];
        let Some(close) = after_open.find(')') else {
            return Err(format!("unclosed {OPEN}…) in {pattern:?}"));
        };
        let name = &after_open[..close];
        let Some(definition) = named.get(name) else {
            return Err(format!(
                "{OPEN}{name}) names no pattern; define it under [patterns]"
            ));
        };
        out.push_str(&rest[..at]);
        let tail = &after_open[close + 1..];
        let starts_alternative =
            out.is_empty() || ends_with_unescaped(&out, '|') || ends_with_unescaped(&out, '(');
        let ends_alternative = tail.is_empty() || tail.starts_with(['|', ')']);
        // A flag group ("(?-i)") would reach past the list's own
        // alternatives into the ones after it: such a list stays grouped.
        if starts_alternative && ends_alternative && !sets_flags(definition) {
            out.push_str(definition);
        } else {
            out.push_str("(?:");
            out.push_str(definition);
            out.push(')');
        }
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("full".to_string(), "mailbox full|over quota".to_string()),
            ("code".to_string(), r"5\.2\.2".to_string()),
        ])
    }

    #[test]
    fn a_whole_alternative_is_spliced_in() {
        let n = named();
        assert_eq!(
            expand("(quota exceeded|(?&full)|disk full)", &n).unwrap(),
            "(quota exceeded|mailbox full|over quota|disk full)"
        );
        assert_eq!(expand("(?&full)", &n).unwrap(), "mailbox full|over quota");
        assert_eq!(
            expand("((?&full))?", &n).unwrap(),
            "(mailbox full|over quota)?"
        );
    }

    #[test]
    fn a_reference_inside_a_sequence_is_grouped() {
        let n = named();
        assert_eq!(
            expand("said: (?&full) for", &n).unwrap(),
            "said: (?:mailbox full|over quota) for"
        );
        assert_eq!(
            expand(r"^(?&code)$", &n).unwrap(),
            r"^(?:5\.2\.2)$",
            "an anchor is not an alternative boundary"
        );
        assert_eq!(
            expand(r"\((?&code)|x", &n).unwrap(),
            r"\((?:5\.2\.2)|x",
            "an escaped parenthesis opens no group"
        );
    }

    #[test]
    fn the_expanded_pattern_matches_what_the_list_does() {
        let n = named();
        let re = regex::Regex::new(&expand("(?i)(quota|(?&full))$", &n).unwrap()).unwrap();
        assert!(re.is_match("Mailbox FULL"));
        assert!(re.is_match("user is over quota"));
        assert!(!re.is_match("over quota today"));
    }

    #[test]
    fn unknown_names_and_nesting_are_errors() {
        let n = named();
        let e = expand("(?&fulll)", &n).unwrap_err();
        assert!(e.contains("(?&fulll) names no pattern"), "{e}");
        assert!(expand("(?&full", &n).unwrap_err().contains("unclosed"));
        let mut nested = named();
        nested.insert("both".into(), "(?&full)|(?&code)".into());
        assert!(
            check_definitions(&nested)
                .unwrap_err()
                .contains("cannot nest")
        );
        let mut badly_named = named();
        badly_named.insert("9lives".into(), "x".into());
        assert!(
            check_definitions(&badly_named)
                .unwrap_err()
                .contains("not a name")
        );
        assert!(check_definitions(&named()).is_ok());
    }

    #[test]
    fn escaped_delimiters_are_no_alternative_boundaries() {
        let n = named();
        assert_eq!(
            expand(r"pipe to \|(?&full)", &n).unwrap(),
            r"pipe to \|(?:mailbox full|over quota)"
        );
        assert_eq!(
            expand(r"a\\|(?&full)", &n).unwrap(),
            r"a\\|mailbox full|over quota",
            "an escaped backslash leaves the bar a bar"
        );
        let re = regex::Regex::new(&expand(r"(?i)pipe to \|(?&full)", &n).unwrap()).unwrap();
        assert!(!re.is_match("over quota"), "the list must not stand alone");
        assert!(re.is_match("pipe to |over quota"));
    }

    #[test]
    fn a_list_with_flags_stays_grouped() {
        let mut n = named();
        n.insert("exact".into(), "(?-i)ABC|def".into());
        assert_eq!(
            expand("(x|(?&exact)|y)", &n).unwrap(),
            "(x|(?:(?-i)ABC|def)|y)"
        );
        let re =
            regex::Regex::new(&format!("(?i){}", expand("(x|(?&exact)|y)", &n).unwrap())).unwrap();
        assert!(
            re.is_match("Y"),
            "the flag must not reach the alternatives after the list"
        );
    }

    #[test]
    fn empty_and_broken_lists_are_errors() {
        for bad in ["", "a||b", "a|", "x)|(y", "(unclosed"] {
            let mut n = named();
            n.insert("bad".into(), bad.into());
            assert!(check_definitions(&n).is_err(), "{bad:?} accepted");
        }
        let mut n = named();
        n.insert("fine".into(), r"a\||[|]|(b|c)".into());
        assert!(check_definitions(&n).is_ok());
    }

    #[test]
    fn a_pattern_without_references_is_kept() {
        assert_eq!(expand("(?i)a(?:b|c)", &named()).unwrap(), "(?i)a(?:b|c)");
    }
}
