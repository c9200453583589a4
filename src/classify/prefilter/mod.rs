//! A literal pass for the patterns of one rule field (or the MTA
//! signatures): one Aho-Corasick search over the text gives each pattern
//! a [`Verdict`] before any regex runs.
//!
//! Most built-in patterns are case-insensitive phrases ("user unknown",
//! "mailbox full") and most of them cannot match a given message; the
//! regex crate gives up on its own literal prefilter for long
//! case-insensitive literals. So each pattern's top-level alternatives are
//! split in two. Those that match a finite set of literals are decided by
//! the pass alone: finding one of their literals is finding a match. The
//! others form the residual, which contributes the literals a match must
//! start with and end with, and runs only when one of each is present;
//! when a side may be anything ("^\s*", "\s*$"), a literal every match
//! holds somewhere inside stands in for it.
//!
//! The pass folds ASCII case only. Literals are taken from the
//! case-sensitive reading of the pattern; ASCII letters are searched
//! case-insensitively (literals and text both lowercased), caseless
//! characters (CJK, digits) as they are, and other letters in each of
//! their case variants ("ü", "Ü"). The two
//! non-ASCII characters whose simple case folding is ASCII (KELVIN SIGN,
//! LATIN SMALL LETTER LONG S) switch the pass off for that text.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex_syntax::hir::literal::ExtractKind;
use std::collections::HashMap;
use std::ops::Range;

use super::verdict::Verdict;
use literals::{exact_forms, inner_literals, side_literals, without_leading_case_flag};

mod literals;

/// The largest literal DFA kept; bigger literal sets use an NFA.
const MAX_DFA_BYTES: usize = 1 << 20;
const MAX_DFA_LITERAL_BYTES: usize = 4096;
/// States this close to the start of the literal NFA get a full
/// transition table. Only the start state: with thousands of literals,
/// deeper dense states make the automaton megabytes larger than the
/// per-core cache, and the misses cost more than the sparse lookups
/// they save (measured with cachegrind at the machine's 2 MiB L2).
const DENSE_DEPTH: usize = 1;

const PREFIX: u8 = 1;
const SUFFIX: u8 = 2;
/// Literals found somewhere inside every match (when a side has none).
const INNER: u8 = 8;
const ALL_SIDES: u8 = PREFIX | SUFFIX | INNER;
/// A literal that is a whole match of one of the pattern's alternatives.
const EXACT: u8 = 4;

#[derive(Debug)]
pub struct Prefilter {
    searcher: Option<AhoCorasick>,
    /// For each literal of the searcher: the patterns it serves, as what
    /// (a side of the residual, or a whole literal alternative: then with
    /// its rank in the pattern's order of preference). One array with the
    /// literals' runs in order, found through `owner_starts`: a lookup per
    /// match stays in cache lines next to each other.
    owners: Vec<Owner>,
    owner_starts: Vec<u32>,
    /// For each pattern: the residual's sides that need no literal
    /// (always satisfied).
    free: Vec<u8>,
    residual: Vec<Residual>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Owner {
    pattern: u32,
    role: u8,
    rank: u32,
}

/// The alternatives of a pattern that are not plain literals.
#[derive(Debug, Clone, PartialEq)]
pub enum Residual {
    /// Every alternative is a plain literal: finding one is the answer.
    Nothing,
    /// No alternative is: the residual is the whole pattern.
    Whole,
    /// Some are: a pattern of the other alternatives alone.
    Part(String),
}

impl Prefilter {
    /// A filter for these patterns, as written (before case-insensitive
    /// compilation). A pattern that cannot be analysed is always run.
    ///
    /// Each pattern's top-level alternatives are split in two: those that
    /// match a finite set of literals ("mailbox (is )?full") are decided
    /// by the literal pass alone, since finding one of their literals
    /// (ASCII case folded) is finding a match; the rest form the residual,
    /// which runs only when the literals it must start and end with are
    /// there.
    ///
    /// `folded`: the patterns are compiled case-insensitively (a rule
    /// set); otherwise only those with a leading `(?i)` flag are, and only
    /// their alternatives can be decided by literals.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>, folded: bool) -> Prefilter {
        let mut literal_ids: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut owners: Vec<Vec<Owner>> = Vec::new();
        let mut free = Vec::new();
        let mut residuals = Vec::new();
        let mut add = |mut lit: Vec<u8>, owner: Owner| {
            lit.make_ascii_lowercase();
            let id = *literal_ids.entry(lit.clone()).or_insert_with(|| {
                literals.push(lit);
                owners.push(Vec::new());
                literals.len() - 1
            });
            if !owners[id].contains(&owner) {
                owners[id].push(owner);
            }
        };
        for (index, pattern) in patterns.into_iter().enumerate() {
            let index = index as u32;
            let (exact, residual) = split_literal_alternatives(pattern, folded);
            for (rank, lit) in exact.into_iter().enumerate() {
                let rank = rank as u32;
                add(
                    lit,
                    Owner {
                        pattern: index,
                        role: EXACT,
                        rank,
                    },
                );
            }
            let residual_source = match &residual {
                Residual::Nothing => None,
                Residual::Whole => Some(pattern),
                Residual::Part(source) => Some(source.as_str()),
            };
            let mut satisfied = 0;
            // Parsed once for both sides: parsing is most of the start-up.
            let residual_hir = residual_source.map(|source| {
                regex_syntax::ParserBuilder::new()
                    .build()
                    .parse(&without_leading_case_flag(source))
                    .ok()
            });
            if let Some(hir) = residual_hir {
                let mut side_sets = Vec::new();
                for (side, kind) in [(PREFIX, ExtractKind::Prefix), (SUFFIX, ExtractKind::Suffix)] {
                    match hir.as_ref().and_then(|hir| side_literals(hir, kind)) {
                        None => satisfied |= side,
                        Some(lits) => side_sets.push((side, lits)),
                    }
                }
                // A pattern that may start or end with anything ("^\s*",
                // "\s*$") is still gated by a literal every match holds
                // somewhere inside ("^Received: .* with hMailServer").
                let inner = (satisfied != 0)
                    .then(|| hir.as_ref().and_then(inner_literals))
                    .flatten();
                match inner {
                    Some(lits) => side_sets.push((INNER, lits)),
                    None => satisfied |= INNER,
                }
                for (side, lits) in side_sets {
                    lits.into_iter().for_each(|lit| {
                        add(
                            lit,
                            Owner {
                                pattern: index,
                                role: side,
                                rank: 0,
                            },
                        )
                    });
                }
            } else {
                satisfied |= INNER;
            }
            free.push(satisfied);
            residuals.push(residual);
        }
        let build = |kind| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .kind(Some(kind))
                // Only unanchored searches run: half the DFA states.
                .start_kind(aho_corasick::StartKind::Unanchored)
                .dense_depth(DENSE_DEPTH)
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
        Prefilter {
            searcher,
            owner_starts: std::iter::once(0)
                .chain(owners.iter().scan(0u32, |end, run| {
                    *end += run.len() as u32;
                    Some(*end)
                }))
                .collect(),
            owners: owners.into_iter().flatten().collect(),
            free,
            residual: residuals,
        }
    }

    /// For each pattern, a [`Verdict`] on `text`.
    pub fn candidates(&self, text: &str) -> Vec<Verdict> {
        let Some(searcher) = &self.searcher else {
            return vec![Verdict::Unknown; self.free.len()];
        };
        if folds_to_ascii(text) {
            return vec![Verdict::Unknown; self.free.len()];
        }
        let mut seen = self.free.clone();
        with_lowercase(text, |text| {
            for m in searcher.find_overlapping_iter(text) {
                for owner in self.owners_of(m.pattern().as_usize()) {
                    seen[owner.pattern as usize] |= owner.role;
                }
            }
        });
        seen.into_iter()
            .zip(&self.residual)
            .map(|(s, residual)| {
                if s & EXACT != 0 {
                    Verdict::Yes
                } else if *residual == Residual::Nothing || s & ALL_SIDES != ALL_SIDES {
                    Verdict::No
                } else {
                    Verdict::Residual
                }
            })
            .collect()
    }

    /// Where the leftmost-first match of a pattern's plain-literal
    /// alternatives alone is, found with a literal search (leftmost start,
    /// then the earliest alternative: what the regex would find if the
    /// pattern had only those). None when the pattern has none or the
    /// text needs Unicode case folding.
    pub fn literal_leftmost(&self, pattern: usize, text: &str) -> Option<Option<Range<usize>>> {
        let searcher = self.searcher.as_ref()?;
        if self.residual.get(pattern)? == &Residual::Whole || folds_to_ascii(text) {
            return None;
        }
        // The literal pass over the field is warm in cache; a search of
        // the pattern's own would not be.
        let mut best: Option<(usize, u32, usize)> = None;
        with_lowercase(text, |text| {
            for m in searcher.find_overlapping_iter(text) {
                for owner in self.owners_of(m.pattern().as_usize()) {
                    if owner.pattern as usize == pattern && owner.role == EXACT {
                        let key = (m.start(), owner.rank, m.end());
                        if best.is_none_or(|b| (key.0, key.1) < (b.0, b.1)) {
                            best = Some(key);
                        }
                    }
                }
            }
        });
        Some(best.map(|(start, _, end)| start..end))
    }

    fn owners_of(&self, literal: usize) -> &[Owner] {
        &self.owners[self.owner_starts[literal] as usize..self.owner_starts[literal + 1] as usize]
    }

    /// What to run for a pattern given [`Verdict::Residual`].
    pub fn residual(&self, pattern: usize) -> &Residual {
        &self.residual[pattern]
    }
}

thread_local! {
    static LOWERCASE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `search` on the text with ASCII letters lowercased, as the
/// literals are. Searching lowercased text with a case-sensitive automaton
/// finds what a case-insensitive one finds at the same offsets, and the
/// automaton is half the size: upper-case letters fall into the class of
/// bytes no literal has, and that size is what decides how much of it
/// stays in cache between messages.
fn with_lowercase<T>(text: &str, search: impl FnOnce(&[u8]) -> T) -> T {
    LOWERCASE.with_borrow_mut(|buffer| {
        buffer.clear();
        buffer.extend(text.bytes().map(|b| b.to_ascii_lowercase()));
        let result = search(buffer);
        // A long text's buffer is not kept for the rest of the run.
        if buffer.capacity() > 1 << 20 {
            *buffer = Vec::new();
        }
        result
    })
}

/// Whether the text holds KELVIN SIGN or LATIN SMALL LETTER LONG S, the
/// two characters a case-insensitive `k` or `s` matches that an ASCII
/// case-folding search does not see. Byte-wise: most texts are ASCII and
/// are done with in one vectorised pass.
fn folds_to_ascii(text: &str) -> bool {
    !text.is_ascii()
        && (memchr::memmem::find(text.as_bytes(), "\u{212A}".as_bytes()).is_some()
            || memchr::memmem::find(text.as_bytes(), "\u{17F}".as_bytes()).is_some())
}

/// The searchable forms of a pattern's plain-literal top-level
/// alternatives, and what is left of it.
fn split_literal_alternatives(pattern: &str, folded: bool) -> (Vec<Vec<u8>>, Residual) {
    let (flags, alternatives) = top_level_alternatives(pattern).unwrap_or(("", vec![pattern]));
    // The literal pass folds ASCII case and knows the case variants of
    // other letters: it decides only what is matched case-insensitively
    // and with Unicode, so no flag may be turned off anywhere.
    let decidable = !flags.contains('-') && (folded || flags.contains('i'));
    let mut exact = Vec::new();
    let mut rest: Vec<&str> = Vec::new();
    for alternative in &alternatives {
        let forms = (decidable && !alternative.contains("(?"))
            .then(|| exact_forms(flags, alternative))
            .flatten();
        match forms {
            Some(forms) => exact.extend(forms),
            None => rest.push(alternative),
        }
    }
    let residual = if rest.is_empty() {
        Residual::Nothing
    } else if alternatives.len() == 1 || rest.len() == alternatives.len() {
        Residual::Whole
    } else {
        let joined: Vec<String> = rest.iter().map(|a| format!("(?:{a})")).collect();
        Residual::Part(format!("{flags}{}", joined.join("|")))
    };
    (exact, residual)
}

/// The top-level alternatives of a pattern (looking through one group
/// around the whole pattern), with the leading flag group that applies
/// to all of them; the pattern after its flags is the one alternative of
/// a pattern that is no alternation. None when it does not parse.
fn top_level_alternatives(pattern: &str) -> Option<(&str, Vec<&str>)> {
    use regex_syntax::ast::{self, Ast};
    let (flags, body) = match pattern.strip_prefix("(?") {
        Some(rest) => {
            let end = rest.find(')')?;
            let names = &rest[..end];
            if names.is_empty() || !names.chars().all(|c| "imsxuUR-".contains(c)) {
                return None;
            }
            pattern.split_at(end + 3)
        }
        None => ("", pattern),
    };
    let verbose = flags.contains('x') && !flags.contains("-x") && !flags.contains("-ix");
    let parsed = ast::parse::ParserBuilder::new()
        .ignore_whitespace(verbose)
        .build()
        .parse(body)
        .ok()?;
    let alternation = match &parsed {
        Ast::Alternation(a) => a,
        Ast::Group(g) => match (&g.kind, &*g.ast) {
            (
                ast::GroupKind::CaptureIndex(_)
                | ast::GroupKind::CaptureName { .. }
                | ast::GroupKind::NonCapturing(_),
                Ast::Alternation(a),
            ) if !matches!(&g.kind, ast::GroupKind::NonCapturing(f) if !f.items.is_empty()) => a,
            _ => return Some((flags, vec![body])),
        },
        _ => return Some((flags, vec![body])),
    };
    let alternatives = alternation
        .asts
        .iter()
        .map(|a| &body[a.span().start.offset..a.span().end.offset])
        .collect();
    Some((flags, alternatives))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every verdict agrees with running the pattern: `Yes` only when it
    /// matches, `No` only when it does not, `Residual` only when the residual
    /// answers like the whole pattern.
    fn check(patterns: &[&str], text: &str) {
        let filter = Prefilter::new(patterns.iter().copied(), true);
        let got = filter.candidates(text);
        let compile = |p: &str| {
            regex::RegexBuilder::new(p)
                .case_insensitive(true)
                .build()
                .unwrap()
        };
        for (i, p) in patterns.iter().enumerate() {
            let matches = compile(p).is_match(text);
            match got[i] {
                Verdict::Yes => assert!(matches, "{p:?} said to match {text:?}"),
                Verdict::No => assert!(!matches, "{p:?} matches {text:?} but was ruled out"),
                Verdict::Residual => {
                    let residual = match filter.residual(i) {
                        Residual::Part(source) => compile(source).is_match(text),
                        Residual::Whole => matches,
                        Residual::Nothing => panic!("{p:?}: residual verdict without a residual"),
                    };
                    assert_eq!(residual, matches, "{p:?} on {text:?}: residual");
                }
                _ => {}
            }
        }
    }

    const PATTERNS: [&str; 29] = [
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
        r"ディレクトリのリストにありません|not listed",
        r"bo[iî]te (du destinataire )?pleine",
        r"postfach überfüllt",
        r"compte (désactivé|fermé)",
        r"σίγμα|ΣΊΓΜΑ",
        r"(mailbox (is )?full|over quota|quota .*exceeded)",
        r"(user unknown|no such user|(?-u:\b)unknown(?-u:\b))",
        r"(?x) mailbox \  full | quota",
        r"(?-i)Quota|over quota",
        r"(550 5\.1\.1|#5\.1\.1 bad address|address [a-z]+ rejected)",
        r"(a|b)c|d",
        r"(?:x(y|z)|w)",
        r"strasse|straße",
        r"kelvin|k",
        // Literal ends longer than the scan keeps (MAX_SIDE_CHARS).
        r"the recipient mailbox\s+\d+ has been disabled permanently",
        r"(?:relay|delivery) .* refused by the destination domain's policy",
        // Open ends: gated by a literal inside.
        r"(?m)^hMailServer\s*$|^Received: .* with hMailServer",
        r"^\s*(please\s+)?remove\s+me\s*$",
        r"^\s*(stop|cancel)+\s*$",
    ];

    const TEXTS: [&str; 30] = [
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
        "ディレクトリのリストにありません",
        "BOÎTE du destinataire PLEINE",
        "Boîte pleine",
        "POSTFACH ÜBERFÜLLT",
        "Postfach überFÜllt",
        "compte DÉSACTIVÉ",
        "Compte Fermé",
        "ΣΊΓΜΑ σίγμα ςίγμα",
        "your quota has been exceeded",
        "unknownuser",
        "THE RECIPIENT MAILBOX 12 has been disabled permanently",
        "the recipient mailbox 12 has been disabled",
        "delivery x refused by the destination domain's",
        "mailbox full",
        "OVER QUOTA",
        "#5.1.1 Bad Address; address foo rejected",
        "ac xy w",
        "STRASSE STRAẞE",
        "\u{17F}pam",
    ];

    #[test]
    fn verdicts_agree_with_the_patterns() {
        for text in TEXTS {
            check(&PATTERNS, text);
        }
    }

    #[test]
    fn literal_alternatives_are_decided_without_a_run() {
        let filter = Prefilter::new(
            [
                r"(mailbox (is )?full|over quota)",
                r"(user unknown|user .* not found)",
                r"user\s+unknown",
            ],
            true,
        );
        assert_eq!(filter.residual(0), &Residual::Nothing);
        assert_eq!(
            filter.residual(1),
            &Residual::Part("(?:user .* not found)".into())
        );
        assert_eq!(filter.residual(2), &Residual::Whole);
        assert_eq!(
            filter.candidates("MAILBOX IS FULL"),
            vec![Verdict::Yes, Verdict::No, Verdict::No]
        );
        assert_eq!(
            filter.candidates("550 User Unknown"),
            vec![Verdict::No, Verdict::Yes, Verdict::Residual]
        );
        assert_eq!(
            filter.candidates("user x not found"),
            vec![Verdict::No, Verdict::Residual, Verdict::No]
        );
        // Case-sensitive signatures are never decided by literals.
        let signatures = Prefilter::new([r"amazonses\.com", r"(?i)mimecast"], false);
        assert_eq!(
            signatures.candidates("AMAZONSES.COM MIMECAST"),
            vec![Verdict::Residual, Verdict::Yes]
        );
    }

    #[test]
    fn skips_patterns_whose_literals_are_absent() {
        let filter = Prefilter::new([r"user\s+unknown", r"mailbox\s+full", r"^5\d\d"], true);
        assert_eq!(
            filter.candidates("Your mailbox is over quota"),
            vec![Verdict::No, Verdict::No, Verdict::Residual]
        );
        assert_eq!(
            filter.candidates("USER unknown; MAILBOX  full"),
            vec![Verdict::Residual, Verdict::Residual, Verdict::Residual]
        );
    }

    #[test]
    fn literals_inside_gate_patterns_with_open_ends() {
        let filter = Prefilter::new(
            [
                r"(?m)^hMailServer\s*$|^Received: .* with hMailServer",
                r"^\s*(please\s+)?remove\s+me\s*$",
                r"^\s*\w+\s*$",
            ],
            false,
        );
        assert_eq!(
            filter.candidates("Received: from mx by relay with ESMTP\nSubject: unsubscribe"),
            vec![Verdict::No, Verdict::No, Verdict::Residual]
        );
        assert_eq!(
            filter.candidates("Received: from mx by relay with hMailServer\nremove me"),
            vec![Verdict::Residual, Verdict::Residual, Verdict::Residual]
        );
        for text in [
            "hMailServer  ",
            "x\nhmailserver\n",
            "  please   REMOVE me  ",
        ] {
            check(&PATTERNS, text);
        }
    }

    #[test]
    fn non_ascii_literal_ends_filter_too() {
        let filter = Prefilter::new(
            [
                r"ディレクトリのリストにありません",
                r"bo[iî]te\s+pleine",
                r"postfach\s+überfüllt",
            ],
            true,
        );
        assert_eq!(
            filter.candidates("550 5.1.1 user unknown"),
            vec![Verdict::No, Verdict::No, Verdict::No]
        );
        assert_eq!(
            filter.candidates("ディレクトリのリストにありません; BOÎTE PLEINE; Postfach ÜBERFÜLLT"),
            vec![Verdict::Yes, Verdict::Residual, Verdict::Residual]
        );
    }

    #[test]
    fn kelvin_sign_turns_the_filter_off() {
        let filter = Prefilter::new([r"blocked"], true);
        let text = "bloc\u{212A}ed";
        assert!(
            regex::RegexBuilder::new("blocked")
                .case_insensitive(true)
                .build()
                .unwrap()
                .is_match(text)
        );
        assert_eq!(filter.candidates(text), vec![Verdict::Unknown]);
    }
}
