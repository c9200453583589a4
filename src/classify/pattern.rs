//! A regex with a second, ASCII-only form for texts that are pure ASCII.
//!
//! The ASCII form is the pattern as written (parsed with the same flags),
//! with every character class cut down to its ASCII members, every
//! non-ASCII literal made unmatchable and Unicode word boundaries made
//! ASCII ones. An ASCII text holds nothing that the removed parts could
//! match, and on ASCII characters Unicode and ASCII word characters agree,
//! so on such a text both forms find the same matches at the same places
//! with the same groups.
//!
//! The ASCII form is much smaller: a case-insensitive Unicode `\w` or a
//! folded letter turns into dozens of byte ranges, so each state of the
//! lazy DFA is a row of up to 256 transitions, while the ASCII form needs
//! a few dozen. Most report texts are ASCII, and hundreds of patterns each
//! run on a few of them per message: smaller tables mean fewer cache
//! misses and less memory per thread. Each form is compiled on first use,
//! so a pattern that never meets a non-ASCII text never builds the other.

use regex::{Regex, RegexBuilder};
use regex_automata::meta;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_syntax::hir::{
    self, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange,
};
use regex_syntax::hir::{Hir, HirKind, Look};
use std::ops::{Index, Range};
use std::sync::OnceLock;

#[derive(Debug)]
pub struct Pattern {
    source: String,
    case_insensitive: bool,
    multi_line: bool,
    /// None when no ASCII form could be made: the pattern as written then
    /// serves every text.
    ascii: OnceLock<Option<meta::Regex>>,
    /// The pattern as written, for finding matches: it keeps no group but
    /// the whole match. When the lazy DFA gives up on a text, the regex
    /// engine falls back to the PikeVM, whose cache holds a slot per group
    /// for every NFA state: on a long case-insensitive Unicode alternation
    /// with a hundred groups that table reached a gigabyte for one rule.
    unicode: OnceLock<meta::Regex>,
    /// The pattern as written with its groups, built only for `captures`.
    unicode_groups: OnceLock<Regex>,
}

/// Compiled size allowed for one pattern (the regex crate's default is
/// 10 MB; some built-in rule patterns are long alternations).
const SIZE_LIMIT: usize = 32 << 20;
/// Transition cache of the lazy DFA, per form and thread (the regex
/// crate's default).
const DFA_CACHE: usize = 2 << 20;
/// Nesting the parser accepts (the regex crate's default).
const NEST_LIMIT: u32 = 250;

impl Pattern {
    /// Nothing is compiled yet; see [`Pattern::check`].
    pub fn new(source: &str, case_insensitive: bool, multi_line: bool) -> Pattern {
        Pattern {
            source: source.to_string(),
            case_insensitive,
            multi_line,
            ascii: OnceLock::new(),
            unicode: OnceLock::new(),
            unicode_groups: OnceLock::new(),
        }
    }

    /// Compiles the pattern as written now, so that a bad one is reported
    /// where it was loaded rather than panicking at first use.
    pub fn check(&self) -> Result<(), String> {
        if self.unicode.get().is_none() {
            let re = self.unicode_matcher()?;
            let _ = self.unicode.set(re);
        }
        Ok(())
    }

    #[cfg(test)]
    pub fn source(&self) -> &str {
        &self.source
    }

    fn unicode_builder(&self) -> RegexBuilder {
        let mut b = RegexBuilder::new(&self.source);
        b.case_insensitive(self.case_insensitive)
            .multi_line(self.multi_line)
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(DFA_CACHE)
            .nest_limit(NEST_LIMIT);
        b
    }

    fn unicode_matcher(&self) -> Result<meta::Regex, String> {
        meta::Builder::new()
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .case_insensitive(self.case_insensitive)
                    .multi_line(self.multi_line)
                    .nest_limit(NEST_LIMIT),
            )
            .configure(
                meta::Config::new()
                    .utf8_empty(true)
                    .nfa_size_limit(Some(SIZE_LIMIT))
                    .hybrid_cache_capacity(DFA_CACHE)
                    .which_captures(WhichCaptures::Implicit),
            )
            .build(&self.source)
            .map_err(|e| e.to_string())
    }

    /// The pattern as written, without its groups. Panics if it does not
    /// compile: built-in patterns are tested, and a user's are compiled by
    /// `check` at load.
    pub(crate) fn unicode_matches(&self) -> &meta::Regex {
        self.unicode.get_or_init(|| {
            self.unicode_matcher()
                .expect("pattern checked when it was loaded")
        })
    }

    /// The pattern as written, with its groups.
    pub fn unicode(&self) -> &Regex {
        self.unicode_groups.get_or_init(|| {
            self.unicode_builder()
                .build()
                .expect("pattern checked when it was loaded")
        })
    }

    fn ascii(&self) -> Option<&meta::Regex> {
        self.ascii
            .get_or_init(|| {
                let parse = |unicode: bool| {
                    regex_syntax::ParserBuilder::new()
                        .case_insensitive(self.case_insensitive)
                        .multi_line(self.multi_line)
                        .nest_limit(NEST_LIMIT)
                        .unicode(unicode)
                        .utf8(unicode)
                        .build()
                        .parse(&self.source)
                        .ok()
                };
                // Without Unicode, case folding and `\w` stay within ASCII:
                // parsing is several times cheaper (Unicode folding of a
                // class was a third of the start-up), and cut down to ASCII
                // the two parses are the same pattern. A pattern that needs
                // Unicode (`\p{..}`, a folded non-ASCII letter) is parsed
                // with it.
                let written = parse(false).or_else(|| parse(true))?;
                let ascii = ascii_only(&written);
                // The groups must be the same ones, numbered alike.
                let same_groups = ascii.properties().explicit_captures_len()
                    == written.properties().explicit_captures_len();
                if !same_groups {
                    return None;
                }
                meta::Builder::new()
                    .configure(
                        meta::Config::new()
                            // A full DFA costs more to build than most
                            // patterns ever save over the lazy one.
                            .dfa(false)
                            .utf8_empty(true)
                            .nfa_size_limit(Some(SIZE_LIMIT))
                            .hybrid_cache_capacity(DFA_CACHE)
                            .auto_prefilter(false),
                    )
                    .build_from_hir(&ascii)
                    .ok()
            })
            .as_ref()
    }

    /// The ASCII form when it may serve `text`.
    fn ascii_for(&self, text: &str) -> Option<&meta::Regex> {
        if text.is_ascii() { self.ascii() } else { None }
    }

    pub fn is_match(&self, text: &str) -> bool {
        match self.ascii_for(text) {
            Some(re) => re.is_match(text),
            None => self.unicode_matches().is_match(text),
        }
    }

    /// Where the leftmost-first match is.
    pub fn find(&self, text: &str) -> Option<Range<usize>> {
        match self.ascii_for(text) {
            Some(re) => re.find(text).map(|m| m.range()),
            None => self.unicode_matches().find(text).map(|m| m.range()),
        }
    }

    /// Every match, left to right, not overlapping.
    pub fn find_iter<'p: 't, 't>(
        &'p self,
        text: &'t str,
    ) -> Box<dyn Iterator<Item = Match<'t>> + 't> {
        let piece = move |r: Range<usize>| Match {
            text,
            start: r.start,
            end: r.end,
        };
        match self.ascii_for(text) {
            Some(re) => Box::new(re.find_iter(text).map(move |m| piece(m.range()))),
            None => Box::new(
                self.unicode_matches()
                    .find_iter(text)
                    .map(move |m| piece(m.range())),
            ),
        }
    }

    /// The groups of the leftmost-first match.
    pub fn captures<'p, 't>(&'p self, text: &'t str) -> Option<Captures<'p, 't>> {
        let (groups, names) = match self.ascii_for(text) {
            Some(re) => {
                let mut slots = vec![None; re.group_info().slot_len()];
                re.search_slots(&regex_automata::Input::new(text), &mut slots)?;
                let groups = slots
                    .chunks_exact(2)
                    .map(|pair| match (pair[0], pair[1]) {
                        (Some(start), Some(end)) => Some(start.get()..end.get()),
                        _ => None,
                    })
                    .collect();
                (groups, Names::Ascii(re))
            }
            None => {
                let re = self.unicode();
                let caps = re.captures(text)?;
                let groups = caps.iter().map(|m| m.map(|m| m.range())).collect();
                (groups, Names::Unicode(re))
            }
        };
        Some(Captures {
            names,
            text,
            groups,
        })
    }
}

/// Where a match's group names are looked up.
#[derive(Debug)]
enum Names<'p> {
    Ascii(&'p meta::Regex),
    Unicode(&'p Regex),
}

impl Names<'_> {
    fn index(&self, name: &str) -> Option<usize> {
        match self {
            Names::Ascii(re) => re
                .group_info()
                .to_index(regex_automata::PatternID::ZERO, name),
            Names::Unicode(re) => re.capture_names().position(|n| n == Some(name)),
        }
    }
}

/// The pattern cut down to what can match ASCII text (module docs).
fn ascii_only(h: &Hir) -> Hir {
    match h.kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(hir::Literal(bytes)) => {
            if bytes.is_ascii() {
                h.clone()
            } else {
                Hir::fail()
            }
        }
        HirKind::Class(Class::Unicode(class)) => {
            let mut ascii = ClassUnicode::new([ClassUnicodeRange::new('\0', '\x7F')]);
            ascii.intersect(class);
            Hir::class(Class::Unicode(ascii))
        }
        HirKind::Class(Class::Bytes(class)) => {
            let mut ascii = ClassBytes::new([ClassBytesRange::new(0, 0x7F)]);
            ascii.intersect(class);
            Hir::class(Class::Bytes(ascii))
        }
        HirKind::Look(look) => Hir::look(match look {
            Look::WordUnicode => Look::WordAscii,
            Look::WordUnicodeNegate => Look::WordAsciiNegate,
            Look::WordStartUnicode => Look::WordStartAscii,
            Look::WordEndUnicode => Look::WordEndAscii,
            Look::WordStartHalfUnicode => Look::WordStartHalfAscii,
            Look::WordEndHalfUnicode => Look::WordEndHalfAscii,
            other => *other,
        }),
        HirKind::Repetition(rep) => Hir::repetition(hir::Repetition {
            min: rep.min,
            max: rep.max,
            greedy: rep.greedy,
            sub: Box::new(ascii_only(&rep.sub)),
        }),
        HirKind::Capture(cap) => Hir::capture(hir::Capture {
            index: cap.index,
            name: cap.name.clone(),
            sub: Box::new(ascii_only(&cap.sub)),
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(ascii_only).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(ascii_only).collect()),
    }
}

/// A matched piece of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'t> {
    text: &'t str,
    start: usize,
    end: usize,
}

impl<'t> Match<'t> {
    pub fn start(&self) -> usize {
        self.start
    }

    pub fn end(&self) -> usize {
        self.end
    }

    #[cfg(test)]
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    pub fn as_str(&self) -> &'t str {
        &self.text[self.start..self.end]
    }
}

/// The groups of a match, by number (0 is the whole match) or name.
#[derive(Debug)]
pub struct Captures<'p, 't> {
    names: Names<'p>,
    text: &'t str,
    groups: Vec<Option<Range<usize>>>,
}

impl<'t> Captures<'_, 't> {
    pub fn get(&self, i: usize) -> Option<Match<'t>> {
        let r = self.groups.get(i)?.clone()?;
        Some(Match {
            text: self.text,
            start: r.start,
            end: r.end,
        })
    }

    pub fn name(&self, name: &str) -> Option<Match<'t>> {
        self.get(self.names.index(name)?)
    }
}

impl<'t> Index<usize> for Captures<'_, 't> {
    type Output = str;

    /// Panics when the group did not take part, as the regex crate does.
    fn index(&self, i: usize) -> &str {
        self.get(i)
            .map(|m| m.as_str())
            .unwrap_or_else(|| panic!("no group {i} in the match"))
    }
}

impl<'t> Index<&str> for Captures<'_, 't> {
    type Output = str;

    fn index(&self, name: &str) -> &str {
        self.name(name)
            .map(|m| m.as_str())
            .unwrap_or_else(|| panic!("no group {name:?} in the match"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATTERNS: [&str; 18] = [
        r"user\s+unknown",
        r"(?-u:\b)no\s+such\s+(user|mailbox)(?-u:\b)",
        r"\bword\b",
        r"\d{3}[- ]\d\.\d\.\d",
        r"^x-mailer: .*notes",
        r"mailbox .*(full|over quota)",
        r"[^>]*> not found",
        r"(?P<local>\w+)@(?P<domain>\w+\.\w+) .{0,10}rejected",
        r"(?s)begin.*end",
        r"ß|straße|überfüllt|bo[iî]te",
        r"k",
        r"(?x) ^\s* (?:[*•]\s+)? (?P<addr>[^\s<>]+@[^\s<>]+) \s* (?P<rest>.*)$",
        r"(a)|(b)|(c)",
        r"\p{Greek}+|x",
        r"\W+x\S|[^\w\s]{2}",
        r"caf\x{e9}|caf\xE9|cafe",
        r"É|e\B",
        r"(?u:\w+)\s(?-u:\w+)",
    ];

    const TEXTS: [&str; 15] = [
        "550 5.1.1 User   Unknown",
        "NO SUCH MAILBOX here",
        "552-5.2.2 mailbox full, a word here",
        "X-Mailer: Lotus Notes Release 8",
        "<a@b> not found",
        "kijitora@example.jp was rejected",
        "BEGIN\nmiddle\nEND",
        "strasse boite",
        "K",
        "  * bob@example.net: 550 no",
        "xbc",
        "",
        "words_word",
        "cafe -- x! ?? E e",
        "\x0b\x1c x\x7f",
    ];

    /// The two forms agree on ASCII texts: matches, places and groups.
    #[test]
    fn ascii_form_agrees_with_unicode_form() {
        for p in PATTERNS {
            let pattern = Pattern::new(p, true, true);
            assert!(pattern.ascii().is_some(), "{p:?} has an ASCII form");
            let plain = RegexBuilder::new(p)
                .case_insensitive(true)
                .multi_line(true)
                .build()
                .unwrap();
            for t in TEXTS {
                assert_eq!(pattern.is_match(t), plain.is_match(t), "{p:?} on {t:?}");
                assert_eq!(
                    pattern.find(t),
                    plain.find(t).map(|m| m.range()),
                    "{p:?} on {t:?}"
                );
                let ours: Vec<_> = pattern.find_iter(t).map(|m| m.range()).collect();
                let theirs: Vec<_> = plain.find_iter(t).map(|m| m.range()).collect();
                assert_eq!(ours, theirs, "{p:?} on {t:?}");
                let ours = pattern.captures(t);
                let theirs = plain.captures(t);
                assert_eq!(ours.is_some(), theirs.is_some(), "{p:?} on {t:?}");
                if let (Some(a), Some(b)) = (ours, theirs) {
                    for i in 0..b.len() {
                        assert_eq!(a.get(i).map(|m| m.range()), b.get(i).map(|m| m.range()));
                    }
                    for name in plain.capture_names().flatten() {
                        assert_eq!(
                            a.name(name).map(|m| m.as_str()),
                            b.name(name).map(|m| m.as_str())
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn non_ascii_texts_use_the_pattern_as_written() {
        let pattern = Pattern::new(r"\w+ unknown|k|bo[iî]te", true, false);
        assert!(pattern.is_match("Benutzer_ä unknown"));
        assert_eq!(pattern.find("été unknown"), Some(0.."été unknown".len()));
        assert!(pattern.is_match("BOÎTE"));
        // KELVIN SIGN folds to k only in the pattern as written.
        assert!(pattern.is_match("\u{212A}"));
    }

    #[test]
    fn groups_by_name_and_number() {
        let pattern = Pattern::new(r"(?P<code>[245]\d\d) (\d\.\d\.\d)", false, false);
        let c = pattern.captures("said: 550 5.1.1 no").unwrap();
        assert_eq!(&c["code"], "550");
        assert_eq!(&c[2], "5.1.1");
        assert_eq!(c.get(0).unwrap().range(), 6..15);
        assert!(c.name("missing").is_none());
        assert!(pattern.captures("nothing").is_none());
    }

    #[test]
    fn check_reports_a_bad_pattern() {
        assert!(Pattern::new("(", true, false).check().is_err());
        assert!(Pattern::new("a+", true, false).check().is_ok());
    }
}
