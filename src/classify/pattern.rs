//! A regex compiled twice, lazily: once with Unicode off, for texts that
//! are pure ASCII, and once as written, for the rest.
//!
//! On an ASCII text the two give the same answers. With Unicode off,
//! `\w`, `\d`, `\s` and `.` are their ASCII halves and case folding is
//! ASCII folding, and an ASCII text holds nothing the other halves could
//! match (the two characters whose simple case folding is ASCII, KELVIN
//! SIGN and LONG S, are not ASCII either). Match positions agree too: the
//! same leftmost-first search runs over the same characters.
//!
//! The ASCII form is much smaller: a case-insensitive Unicode `\w` or a
//! folded letter turns into dozens of byte ranges, so each state of the
//! lazy DFA is a row of up to 256 transitions, while the ASCII form
//! needs a few dozen. Most report texts are ASCII, and hundreds of rule
//! patterns each run on a few of them per message: smaller tables mean
//! fewer cache misses and less memory per thread. Most patterns never
//! meet a non-ASCII text and never build their Unicode form.

use regex::{Regex, RegexBuilder, bytes};
use std::ops::Range;
use std::sync::OnceLock;

#[derive(Debug)]
pub struct Pattern {
    source: String,
    case_insensitive: bool,
    multi_line: bool,
    /// None when the pattern needs Unicode to compile (`\p{…}`, a
    /// non-ASCII character in a class): the Unicode form then serves all.
    ascii: OnceLock<Option<bytes::Regex>>,
    unicode: OnceLock<Regex>,
}

/// Compiled size allowed for one pattern (the regex crate's default is
/// 10 MB; some built-in rule patterns are long alternations).
const SIZE_LIMIT: usize = 32 << 20;

impl Pattern {
    /// Nothing is compiled yet; see [`Pattern::check`].
    pub fn new(source: &str, case_insensitive: bool, multi_line: bool) -> Pattern {
        Pattern {
            source: source.to_string(),
            case_insensitive,
            multi_line,
            ascii: OnceLock::new(),
            unicode: OnceLock::new(),
        }
    }

    /// Compiles the pattern as written now, so that a bad one is reported
    /// where it was loaded rather than panicking at first use.
    pub fn check(&self) -> Result<(), String> {
        if self.unicode.get().is_none() {
            let re = self.unicode_builder().build().map_err(|e| e.to_string())?;
            let _ = self.unicode.set(re);
        }
        Ok(())
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    fn unicode_builder(&self) -> RegexBuilder {
        let mut b = RegexBuilder::new(&self.source);
        b.case_insensitive(self.case_insensitive)
            .multi_line(self.multi_line)
            .size_limit(SIZE_LIMIT);
        b
    }

    /// The pattern as written. Panics if it does not compile: built-in
    /// patterns are tested, and a user's are compiled by `check` at load.
    pub fn unicode(&self) -> &Regex {
        self.unicode.get_or_init(|| {
            self.unicode_builder()
                .build()
                .expect("pattern checked when it was loaded")
        })
    }

    fn ascii(&self) -> Option<&bytes::Regex> {
        self.ascii
            .get_or_init(|| {
                bytes::RegexBuilder::new(&self.source)
                    .unicode(false)
                    .case_insensitive(self.case_insensitive)
                    .multi_line(self.multi_line)
                    .size_limit(SIZE_LIMIT)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    pub fn is_match(&self, text: &str) -> bool {
        if text.is_ascii()
            && let Some(re) = self.ascii()
        {
            return re.is_match(text.as_bytes());
        }
        self.unicode().is_match(text)
    }

    /// Where the leftmost-first match is.
    pub fn find(&self, text: &str) -> Option<Range<usize>> {
        if text.is_ascii()
            && let Some(re) = self.ascii()
        {
            return re.find(text.as_bytes()).map(|m| m.range());
        }
        self.unicode().find(text).map(|m| m.range())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two forms agree on ASCII texts, for matches and positions.
    #[test]
    fn ascii_form_agrees_with_unicode_form() {
        let patterns = [
            r"user\s+unknown",
            r"(?-u:\b)no\s+such\s+(user|mailbox)(?-u:\b)",
            r"\d{3}[- ]\d\.\d\.\d",
            r"^x-mailer: .*notes",
            r"mailbox .*(full|over quota)",
            r"[^>]*> not found",
            r"\w+@\w+\.\w+ .{0,10}rejected",
            r"(?s)begin.*end",
            r"ß|straße|überfüllt",
            r"k",
        ];
        let texts = [
            "550 5.1.1 User   Unknown",
            "NO SUCH MAILBOX here",
            "552-5.2.2 mailbox full",
            "X-Mailer: Lotus Notes Release 8",
            "<a@b> not found",
            "kijitora@example.jp was rejected",
            "BEGIN\nmiddle\nEND",
            "strasse",
            "K",
            "",
        ];
        for p in patterns {
            let pattern = Pattern::new(p, true, true);
            let plain = RegexBuilder::new(p)
                .case_insensitive(true)
                .multi_line(true)
                .build()
                .unwrap();
            for t in texts {
                assert_eq!(pattern.is_match(t), plain.is_match(t), "{p:?} on {t:?}");
                assert_eq!(
                    pattern.find(t),
                    plain.find(t).map(|m| m.range()),
                    "{p:?} on {t:?}"
                );
            }
        }
    }

    #[test]
    fn non_ascii_texts_use_the_pattern_as_written() {
        let pattern = Pattern::new(r"\w+ unknown|k", true, false);
        assert!(pattern.is_match("Benutzer_ä unknown"));
        assert_eq!(pattern.find("été unknown"), Some(0.."été unknown".len()));
        // KELVIN SIGN folds to k only in the Unicode form.
        assert!(pattern.is_match("\u{212A}"));
    }

    #[test]
    fn patterns_that_need_unicode_still_work() {
        let pattern = Pattern::new(r"\p{Greek}+|bo[iî]te", true, false);
        assert!(pattern.ascii().is_none());
        assert!(pattern.is_match("BOÎTE"));
        assert!(pattern.is_match("boite"));
        assert!(!pattern.is_match("box"));
    }

    #[test]
    fn check_reports_a_bad_pattern() {
        assert!(Pattern::new("(", true, false).check().is_err());
        assert!(Pattern::new("a+", true, false).check().is_ok());
    }
}
