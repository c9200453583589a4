//! A literal prefilter for the patterns of one rule field.
//!
//! Most of the built-in patterns are case-insensitive phrases ("user
//! unknown", "mailbox full") and most of them cannot match a given
//! message. The regex crate gives up on its own literal prefilter for long
//! case-insensitive literals, so each pattern would scan the whole body
//! with its DFA. Instead, every pattern contributes the literals a match
//! must start with and the literals it must end with; one Aho-Corasick
//! pass over the text finds which of them occur, and a pattern is run only
//! when both one of its first and one of its last literals are present.
//!
//! The filter is sound for patterns compiled case-insensitively: literals
//! are taken from the case-sensitive reading of the pattern and searched
//! ASCII-case-insensitively, and only their ASCII ends are kept. The two
//! non-ASCII characters whose simple case folding is ASCII (KELVIN SIGN,
//! LATIN SMALL LETTER LONG S) switch the filter off for that text.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use std::collections::HashMap;

/// Literals shorter than this occur in nearly every text and would only
/// slow the scan down; a side with one of them does not filter.
const MIN_LITERAL: usize = 3;

/// The largest literal DFA kept; bigger literal sets use an NFA.
const MAX_DFA_BYTES: usize = 1 << 20;
const MAX_DFA_LITERAL_BYTES: usize = 4096;

const PREFIX: u8 = 1;
const SUFFIX: u8 = 2;
const BOTH: u8 = PREFIX | SUFFIX;

#[derive(Debug)]
pub struct Prefilter {
    searcher: Option<AhoCorasick>,
    /// For each literal of the searcher: the (pattern, side) pairs it serves.
    owners: Vec<Vec<(u32, u8)>>,
    /// For each pattern: the sides that need no literal (always satisfied).
    free: Vec<u8>,
}

impl Prefilter {
    /// A filter for these patterns, as written (before case-insensitive
    /// compilation). A pattern that cannot be analysed is always run.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Prefilter {
        let mut literal_ids: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut owners: Vec<Vec<(u32, u8)>> = Vec::new();
        let mut free = Vec::new();
        for (index, pattern) in patterns.into_iter().enumerate() {
            let mut satisfied = 0;
            for (side, kind) in [(PREFIX, ExtractKind::Prefix), (SUFFIX, ExtractKind::Suffix)] {
                match side_literals(pattern, kind) {
                    None => satisfied |= side,
                    Some(lits) => {
                        for lit in lits {
                            let id = *literal_ids.entry(lit.clone()).or_insert_with(|| {
                                literals.push(lit);
                                owners.push(Vec::new());
                                literals.len() - 1
                            });
                            let owner = (index as u32, side);
                            if !owners[id].contains(&owner) {
                                owners[id].push(owner);
                            }
                        }
                    }
                }
            }
            free.push(satisfied);
        }
        let build = |kind| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(Some(kind))
                .build(&literals)
                .ok()
        };
        // A DFA scans about three times faster than the NFA, but for
        // hundreds of literals it grows to megabytes.
        let searcher = if literals.is_empty() {
            None
        } else {
            // Its size grows with the literal bytes; building a big one
            // only to drop it would cost more than a run's worth of use.
            let bytes: usize = literals.iter().map(Vec::len).sum();
            (bytes <= MAX_DFA_LITERAL_BYTES)
                .then(|| build(AhoCorasickKind::DFA))
                .flatten()
                .filter(|dfa| dfa.memory_usage() <= MAX_DFA_BYTES)
                .or_else(|| build(AhoCorasickKind::ContiguousNFA))
        };
        if searcher.is_none() {
            free.iter_mut().for_each(|f| *f = BOTH);
        }
        Prefilter {
            searcher,
            owners,
            free,
        }
    }

    /// For each pattern, whether it may match `text`.
    pub fn candidates(&self, text: &str) -> Vec<bool> {
        let Some(searcher) = &self.searcher else {
            return vec![true; self.free.len()];
        };
        if text.contains(['\u{212A}', '\u{17F}']) {
            return vec![true; self.free.len()];
        }
        let mut seen = self.free.clone();
        for m in searcher.find_overlapping_iter(text) {
            for &(pattern, side) in &self.owners[m.pattern().as_usize()] {
                seen[pattern as usize] |= side;
            }
        }
        seen.into_iter().map(|s| s == BOTH).collect()
    }
}

/// The lowercased literals every match must start (or end) with, or None
/// when the pattern has no such finite set of useful literals.
fn side_literals(pattern: &str, kind: ExtractKind) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&without_leading_case_flag(pattern))
        .ok()?;
    let mut extractor = Extractor::new();
    extractor.kind(kind.clone());
    let seq: Seq = extractor.extract(&hir);
    let lits = seq.literals()?;
    if lits.is_empty() {
        // No match is possible at all; keep it simple and always run it.
        return None;
    }
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
    for lit in lits {
        let bytes = lit.as_bytes();
        // Only the ASCII end next to the match boundary is searched for:
        // a non-ASCII letter may match in another case.
        let ascii: Vec<u8> = match kind {
            ExtractKind::Prefix => bytes.iter().copied().take_while(u8::is_ascii).collect(),
            _ => {
                let n = bytes.iter().rev().take_while(|b| b.is_ascii()).count();
                bytes[bytes.len() - n..].to_vec()
            }
        };
        if ascii.len() < MIN_LITERAL {
            return None;
        }
        let lower = ascii.to_ascii_lowercase();
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    Some(out)
}

/// The pattern without an `i` in its leading flag group: the search is
/// case-insensitive anyway, and case-folded literals would multiply past the
/// extractor's limits and leave only short, useless prefixes.
fn without_leading_case_flag(pattern: &str) -> String {
    if let Some(rest) = pattern.strip_prefix("(?")
        && let Some(end) = rest.find(')')
        && rest[..end].chars().all(|c| "imsxuUR".contains(c))
    {
        let flags: String = rest[..end].chars().filter(|&c| c != 'i').collect();
        let tail = &rest[end + 1..];
        return if flags.is_empty() {
            tail.to_string()
        } else {
            format!("(?{flags}){tail}")
        };
    }
    pattern.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(patterns: &[&str], text: &str) {
        let filter = Prefilter::new(patterns.iter().copied());
        let got = filter.candidates(text);
        for (i, p) in patterns.iter().enumerate() {
            let re = regex::RegexBuilder::new(p)
                .case_insensitive(true)
                .build()
                .unwrap();
            if re.is_match(text) {
                assert!(
                    got[i],
                    "pattern {p:?} matches {text:?} but was filtered out"
                );
            }
        }
    }

    #[test]
    fn never_drops_a_pattern_that_matches() {
        let patterns = [
            r"user\s+unknown",
            r"mailbox\s+(?:is\s+)?full",
            r"^5\d\d",
            r"(?:no|unknown)\s+such\s+(?:user|mailbox)",
            r"über(?:schritten)?",
            r"quota",
            r".",
            r"(?i)Spam",
            r"\bblocked\b",
            r"(?mi)^X-Mailer: Foo|^Subject: failure notice",
        ];
        for text in [
            "550 5.1.1 USER   UNKNOWN here",
            "Mailbox is FULL",
            "552 quota exceeded",
            "Kontingent ÜBERschritten",
            "no such MAILBOX",
            "this is spam",
            "BLOCKED by policy",
            "blocKed by policy \u{212A}",
            "",
            "x-mailer: FOO",
            "Subject: FAILURE notice",
        ] {
            check(&patterns, text);
        }
    }

    #[test]
    fn skips_patterns_whose_literals_are_absent() {
        let filter = Prefilter::new([r"user\s+unknown", r"mailbox\s+full", r"^5\d\d"]);
        assert_eq!(
            filter.candidates("Your mailbox is over quota"),
            vec![false, false, true]
        );
        assert_eq!(
            filter.candidates("USER unknown; MAILBOX  full"),
            vec![true, true, true]
        );
    }

    #[test]
    fn kelvin_sign_turns_the_filter_off() {
        let filter = Prefilter::new([r"blocked"]);
        let text = "bloc\u{212A}ed";
        assert!(
            regex::RegexBuilder::new("blocked")
                .case_insensitive(true)
                .build()
                .unwrap()
                .is_match(text)
        );
        assert_eq!(filter.candidates(text), vec![true]);
    }
}
