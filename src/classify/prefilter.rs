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
//! start with and end with, and runs only when one of each is present.
//!
//! The pass folds ASCII case only. Literals are taken from the
//! case-sensitive reading of the pattern; ASCII letters are searched
//! case-insensitively, caseless characters (CJK, digits) as they are, and
//! other letters in each of their case variants ("ü", "Ü"). The two
//! non-ASCII characters whose simple case folding is ASCII (KELVIN SIGN,
//! LATIN SMALL LETTER LONG S) switch the pass off for that text.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};
use std::collections::HashMap;
use std::ops::Range;

use super::verdict::Verdict;

/// Literals shorter than this occur in nearly every text and would only
/// slow the scan down; a side with one of them does not filter.
const MIN_LITERAL: usize = 3;

/// The largest literal DFA kept; bigger literal sets use an NFA.
const MAX_DFA_BYTES: usize = 1 << 20;
const MAX_DFA_LITERAL_BYTES: usize = 4096;
/// States this close to the start of the literal NFA get a full
/// transition table: nearly every byte of a text is looked up there.
const DENSE_DEPTH: usize = 6;

const PREFIX: u8 = 1;
const SUFFIX: u8 = 2;
const BOTH: u8 = PREFIX | SUFFIX;
/// A literal that is a whole match of one of the pattern's alternatives.
const EXACT: u8 = 4;

#[derive(Debug)]
pub struct Prefilter {
    searcher: Option<AhoCorasick>,
    /// For each literal of the searcher: the patterns it serves, as what
    /// (a side of the residual, or a whole literal alternative: then with
    /// its rank in the pattern's order of preference).
    owners: Vec<Vec<Owner>>,
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

/// Literal-set sizes allowed when testing an alternative for being a
/// plain set of literals (an optional word doubles the set).
const EXACT_LIMIT_TOTAL: usize = 512;

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
        let mut add = |lit: Vec<u8>, owner: Owner| {
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
                for (side, kind) in [(PREFIX, ExtractKind::Prefix), (SUFFIX, ExtractKind::Suffix)] {
                    match hir.as_ref().and_then(|hir| side_literals(hir, kind)) {
                        None => satisfied |= side,
                        Some(lits) => lits.into_iter().for_each(|lit| {
                            add(
                                lit,
                                Owner {
                                    pattern: index,
                                    role: side,
                                    rank: 0,
                                },
                            )
                        }),
                    }
                }
            }
            free.push(satisfied);
            residuals.push(residual);
        }
        let build = |kind| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
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
            owners,
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
        for m in searcher.find_overlapping_iter(text) {
            for owner in &self.owners[m.pattern().as_usize()] {
                seen[owner.pattern as usize] |= owner.role;
            }
        }
        seen.into_iter()
            .zip(&self.residual)
            .map(|(s, residual)| {
                if s & EXACT != 0 {
                    Verdict::Yes
                } else if *residual == Residual::Nothing || s & BOTH != BOTH {
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
        for m in searcher.find_overlapping_iter(text) {
            for owner in &self.owners[m.pattern().as_usize()] {
                if owner.pattern as usize == pattern && owner.role == EXACT {
                    let key = (m.start(), owner.rank, m.end());
                    if best.is_none_or(|b| (key.0, key.1) < (b.0, b.1)) {
                        best = Some(key);
                    }
                }
            }
        }
        Some(best.map(|(start, _, end)| start..end))
    }

    /// What to run for a pattern given [`Verdict::Residual`].
    pub fn residual(&self, pattern: usize) -> &Residual {
        &self.residual[pattern]
    }
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
            .then(|| exact_forms(&format!("{flags}{alternative}")))
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

/// The searchable forms of every string a pattern matches, when it
/// matches a finite set of non-empty literals and nothing else.
fn exact_forms(pattern: &str) -> Option<Vec<Vec<u8>>> {
    if let Some(text) = plain_literal(pattern) {
        let (forms, whole) = searchable_forms(text.chars(), false);
        return whole.then(|| {
            let mut out: Vec<Vec<u8>> = Vec::with_capacity(forms.len());
            for f in forms {
                let f = f.into_iter().collect::<String>().into_bytes();
                if !out.contains(&f) {
                    out.push(f);
                }
            }
            out
        });
    }
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&without_leading_case_flag(pattern))
        .ok()?;
    // The extractor reads a look-around (`^`, `\b`) as the empty string:
    // the literals it gives for such a pattern are not the whole story.
    if !hir.properties().look_set().is_empty() {
        return None;
    }
    let mut extractor = Extractor::new();
    extractor
        .kind(ExtractKind::Prefix)
        .limit_total(EXACT_LIMIT_TOTAL);
    let seq = extractor.extract(&hir);
    if !seq.is_exact() {
        return None;
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    for lit in seq.literals()? {
        if lit.as_bytes().is_empty() {
            return None;
        }
        let text = std::str::from_utf8(lit.as_bytes()).ok()?;
        let (forms, whole) = searchable_forms(text.chars(), false);
        if !whole {
            return None;
        }
        for f in forms {
            let f = f.into_iter().collect::<String>().into_bytes();
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The text a pattern matches when it is a plain phrase: no regex syntax
/// after its leading flag group (most alternatives of the named word
/// lists), so it needs no parse. None for anything else.
fn plain_literal(pattern: &str) -> Option<&str> {
    let (flags, body) = match pattern.strip_prefix("(?") {
        Some(rest) => {
            let end = rest.find(')')?;
            (&rest[..end], &rest[end + 1..])
        }
        None => ("", pattern),
    };
    let verbose = flags.contains('x');
    let plain = !body.is_empty()
        && flags.chars().all(|c| "imsuUx".contains(c))
        && !body
            .chars()
            .any(|c| r"\.+*?()|[]{}^$".contains(c) || (verbose && (c == '#' || c.is_whitespace())));
    plain.then_some(body)
}

/// The lowercased literals every match of the parsed pattern must start
/// (or end) with, or None when it has no such finite set of useful literals.
fn side_literals(hir: &regex_syntax::hir::Hir, kind: ExtractKind) -> Option<Vec<Vec<u8>>> {
    let mut extractor = Extractor::new();
    extractor.kind(kind.clone());
    let seq: Seq = extractor.extract(hir);
    let lits = seq.literals()?;
    if lits.is_empty() {
        // No match is possible at all; keep it simple and always run it.
        return None;
    }
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
    for lit in lits {
        let forms = searchable_end(lit.as_bytes(), matches!(kind, ExtractKind::Prefix))?;
        for form in forms {
            if !out.contains(&form) {
                out.push(form);
            }
        }
    }
    Some(out)
}

/// Most spellings one literal end may expand to (case variants of its
/// non-ASCII letters).
const MAX_FORMS: usize = 8;

/// Characters of a literal end kept for the scan.
const MAX_SIDE_CHARS: usize = 16;

/// The end of a literal next to the match boundary (its start, or its
/// end when `!prefix`), in the forms a case-insensitive match can take in
/// the text, for a search that folds only ASCII case: ASCII letters are
/// lowercased, caseless characters (CJK, digits, punctuation) kept as
/// they are, and a non-ASCII letter gives one form per character it
/// matches ("ü" and "Ü"). None when that end is too short to filter.
fn searchable_end(bytes: &[u8], prefix: bool) -> Option<Vec<Vec<u8>>> {
    // The extractor cuts long literals by bytes, possibly inside a
    // character: keep only whole characters next to the boundary.
    let text = if prefix {
        match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
        }
    } else {
        let start = bytes
            .iter()
            .position(|&b| b & 0xC0 != 0x80)
            .unwrap_or(bytes.len());
        std::str::from_utf8(&bytes[start..]).ok()?
    };
    // Only the characters next to the boundary: a match holds them
    // whenever it holds the whole literal, and short literals keep the
    // automaton small (cheaper to build, more often a DFA).
    let (forms, _) = if prefix {
        searchable_forms(text.chars().take(MAX_SIDE_CHARS), false)
    } else {
        searchable_forms(text.chars().rev().take(MAX_SIDE_CHARS), true)
    };
    let forms: Vec<Vec<u8>> = forms
        .into_iter()
        .map(|f| f.into_iter().collect::<String>().into_bytes())
        .collect();
    forms
        .iter()
        .all(|f| f.len() >= MIN_LITERAL)
        .then_some(forms)
}

/// The spellings a case-insensitive match of these characters can take,
/// up to [`MAX_FORMS`] of them, built character by character (in reverse
/// when `reversed`, and then given back in text order); and whether
/// every character made it in.
fn searchable_forms(chars: impl Iterator<Item = char>, reversed: bool) -> (Vec<Vec<char>>, bool) {
    let mut forms: Vec<Vec<char>> = vec![Vec::new()];
    let mut whole = true;
    for c in chars {
        // Nearly every character is ASCII and has one form: extend in
        // place rather than rebuilding every spelling for each character
        // (this runs for every literal of every rule at start-up).
        if c.is_ascii() {
            let lower = c.to_ascii_lowercase();
            forms.iter_mut().for_each(|f| f.push(lower));
            continue;
        }
        let variants = simple_case_variants(c);
        if forms.len() * variants.len() > MAX_FORMS {
            whole = false;
            break;
        }
        forms = forms
            .iter()
            .flat_map(|f| {
                variants.iter().map(move |&v| {
                    let mut g = f.clone();
                    g.push(v);
                    g
                })
            })
            .collect();
    }
    if reversed {
        forms.iter_mut().for_each(|f| f.reverse());
    }
    (forms, whole)
}

/// The characters a case-insensitive pattern character `c` matches, as
/// the regex crate folds case (Unicode simple case folding).
fn simple_case_variants(c: char) -> Vec<char> {
    let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
    class.case_fold_simple();
    class
        .ranges()
        .iter()
        .flat_map(|r| r.start()..=r.end())
        .collect()
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

    const PATTERNS: [&str; 26] = [
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
