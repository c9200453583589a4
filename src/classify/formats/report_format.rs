//! The one trait every report format implements, and the plain-text
//! signature that most mail servers' formats amount to.

use crate::classify::report::Report;

/// The parts of a message that the structured formats read, as the MIME
/// walk found them (empty when absent).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReportParts<'a> {
    /// The `message/delivery-status` parts, joined.
    pub delivery_status: &'a str,
    /// The `message/feedback-report` parts, joined.
    pub feedback_report: &'a str,
    /// The `message/disposition-notification` parts, joined.
    pub disposition_notification: &'a str,
}

/// Whether a format names a report, once every format has read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recognition {
    /// Not this format.
    No,
    /// This format, whatever comes later in the list.
    Certain,
    /// This format, unless a later one in the list is certain: a DSN is
    /// written by many servers, and the server's name says more.
    Fallback,
}

/// A report format: what it reads from a message into the [`Report`], and
/// when it names the report (the record's `mta` field, which rules can
/// test too). Formats stand in one ordered list, `formats::LIST`.
pub(crate) trait ReportFormat: Sync {
    /// The name written to the record's `mta` field.
    fn name(&self) -> &'static str;

    /// Reads what this format says into the report. Formats read in list
    /// order, each seeing what the earlier ones read.
    fn read(&self, _parts: &ReportParts<'_>, _report: &mut Report) {}

    /// Whether this format names the report, from what was read.
    fn recognizes(&self, _report: &Report) -> Recognition {
        Recognition::No
    }

    /// A pattern that names the format when it matches the head of the
    /// message: "From: …\nSubject: …\n<headers>\n<first 4 KB of body>\n<the
    /// start of the delivery-status part>". All signatures are searched in
    /// one literal pass (`formats::name`).
    fn signature(&self) -> Option<&'static str> {
        None
    }
}

/// A mail server's plain-text report format, known by its signature; its
/// prose is read like any other (`prose`).
pub(crate) struct MtaSignature {
    pub name: &'static str,
    pub signature: &'static str,
}

impl ReportFormat for MtaSignature {
    fn name(&self) -> &'static str {
        self.name
    }

    fn signature(&self) -> Option<&'static str> {
        Some(self.signature)
    }
}
