//! What a literal pass says of one pattern before any regex runs, and how
//! to finish the answer. The prefilter gives one [`Verdict`] per pattern;
//! the rules memo them, settled or not, per message and recipient.

use super::pattern::Pattern;

/// What the literal pass says of one pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub(crate) enum Verdict {
    /// Not known: run the whole pattern.
    #[default]
    Unknown,
    /// It does not match.
    No,
    /// It matches: one of its plain-literal alternatives is in the text.
    Yes,
    /// None of its plain-literal alternatives is in the text, but the
    /// others may match: run its residual (`Prefilter::residual`).
    Residual,
}

impl Verdict {
    /// Whether the verdict is final: the pattern need not run.
    pub(crate) fn is_settled(self) -> bool {
        matches!(self, Verdict::Yes | Verdict::No)
    }

    /// Whether the pattern matches, running what the verdict leaves open:
    /// the whole pattern, or `part` (its residual, when it is only part of
    /// the pattern).
    pub(crate) fn settle(self, whole: &Pattern, part: Option<&Pattern>, text: &str) -> bool {
        match self {
            Verdict::Yes => true,
            Verdict::No => false,
            Verdict::Residual => part.unwrap_or(whole).is_match(text),
            Verdict::Unknown => whole.is_match(text),
        }
    }

    /// The settled verdict for a pattern that did or did not match.
    pub(crate) fn from_match(matched: bool) -> Verdict {
        if matched { Verdict::Yes } else { Verdict::No }
    }
}
