//! The report formats, one file each, in one ordered list ([`LIST`]): a
//! new format is a new file and one line there.
//!
//! Every format reads, in list order, what it recognises in the message
//! into the [`Report`] (the DSN, ARF and SES formats have parts of their
//! own to parse); then the first format that is certain of the report, or
//! else the first that falls back to it, names it. Most mail servers'
//! formats are only a signature: their prose is read by `prose`, like the
//! prose of any report.

mod arf;
mod dmarc_failure;
mod dsn;
mod hotmail_jmrp;
mod list_removals;
mod listserv_monitor;
mod mailman_hold;
mod mdn;
pub(crate) mod pec;
mod report_format;
mod ses;

mod activehunter;
mod amazonworkmail;
mod aol;
mod apachejames;
mod barracuda;
mod courier;
mod domino;
mod dragonfly;
mod exchange;
mod exim;
mod facebook;
mod fml;
mod gmail;
mod gmx;
mod googlegroups;
mod groupwise;
mod gsuite;
mod hmailserver;
mod imailserver;
mod interscanmss;
mod mailfoundry;
mod mailru;
mod mcafee;
mod messagelabs;
mod messagingserver;
mod mimecast;
mod mxlogic;
mod notes;
mod office365;
mod opensmtpd;
mod outlook;
mod postfix;
mod powermta;
mod qmail;
mod sendgrid;
mod sendmail;
mod surfcontrol;
mod x4;
mod yahoo;
mod yandex;
mod zoho;

pub(crate) use dsn::is_alias_expansion;
pub(crate) use report_format::{Recognition, ReportFormat, ReportParts};

use crate::classify::pattern::Pattern;
use crate::classify::prefilter::{Prefilter, Residual};
use crate::classify::report::Report;
use crate::classify::text::{ascii_word_boundaries, floor_char_boundary};
use crate::classify::verdict::Verdict;
use std::sync::LazyLock;

/// The report formats in the order they read a message and are asked to
/// name it. Order matters twice: the DSN is read before the feedback
/// report and SES's notification (which read only what it left), and among
/// signatures the first that matches names the report.
pub(crate) static LIST: &[&dyn ReportFormat] = &[
    &dsn::Dsn,
    &hotmail_jmrp::HotmailJmrp,
    &dmarc_failure::DmarcFailure,
    &mailman_hold::MailmanHold,
    &listserv_monitor::ListservMonitor,
    &list_removals::MailmanRemoval,
    &list_removals::SympaBounceManagement,
    &arf::Arf,
    &mdn::Mdn,
    &ses::Ses,
    &pec::FORMAT,
    &amazonworkmail::FORMAT,
    &sendgrid::FORMAT,
    &googlegroups::FORMAT,
    &gsuite::FORMAT,
    &gmail::FORMAT,
    &office365::FORMAT,
    &outlook::FORMAT,
    &hmailserver::FORMAT,
    &exchange::FORMAT,
    &yahoo::FORMAT,
    &aol::FORMAT,
    &mailru::FORMAT,
    &yandex::FORMAT,
    &zoho::FORMAT,
    &gmx::FORMAT,
    &facebook::FORMAT,
    &messagelabs::FORMAT,
    &mimecast::FORMAT,
    &barracuda::FORMAT,
    &mcafee::FORMAT,
    &surfcontrol::FORMAT,
    &mxlogic::FORMAT,
    &interscanmss::FORMAT,
    &activehunter::FORMAT,
    &imailserver::FORMAT,
    &mailfoundry::FORMAT,
    &messagingserver::FORMAT,
    &domino::FORMAT,
    &notes::FORMAT,
    &groupwise::FORMAT,
    &courier::FORMAT,
    &powermta::FORMAT,
    &opensmtpd::FORMAT,
    &dragonfly::FORMAT,
    &qmail::FORMAT,
    &exim::FORMAT,
    &postfix::FORMAT,
    &sendmail::FORMAT,
    &apachejames::FORMAT,
    &fml::FORMAT,
    &x4::FORMAT,
];

/// Reads every format's part of the message into the report.
pub(crate) fn read(parts: &ReportParts<'_>, report: &mut Report) {
    for format in LIST {
        format.read(parts, report);
    }
}

/// The name of the format that wrote the report: the first in list order
/// that is certain of it (its signature matches, or what it read says
/// so), else the first that falls back to it.
pub(crate) fn name(report: &Report) -> Option<&'static str> {
    let signatures = &*SIGNATURES;
    let mut head: Option<Head> = None;
    let mut fallback = None;
    for (format, signature) in LIST.iter().zip(&signatures.of_format) {
        match format.recognizes(report) {
            Recognition::Certain => return Some(format.name()),
            Recognition::Fallback => {
                fallback = fallback.or(Some(format.name()));
            }
            Recognition::No => {}
        }
        if let Some(i) = *signature {
            let head = head.get_or_insert_with(|| Head::of(report, signatures));
            if signatures.matches(i, head) {
                return Some(format.name());
            }
        }
    }
    fallback
}

/// The signatures of the formats in [`LIST`], compiled, with one literal
/// pass over the head that decides most of them before any runs.
struct Signatures {
    /// For each format in the list, the index of its signature.
    of_format: Vec<Option<usize>>,
    prefilter: Prefilter,
    whole: Vec<Pattern>,
    /// The alternatives that are not plain literals, when only some are.
    part: Vec<Option<Pattern>>,
}

static SIGNATURES: LazyLock<Signatures> = LazyLock::new(|| {
    let mut of_format = Vec::with_capacity(LIST.len());
    let mut patterns: Vec<String> = Vec::new();
    for format in LIST {
        of_format.push(format.signature().map(|signature| {
            patterns.push(ascii_word_boundaries(signature));
            patterns.len() - 1
        }));
    }
    let prefilter = Prefilter::new(patterns.iter().map(String::as_str), false);
    let part = (0..patterns.len())
        .map(|i| match prefilter.residual(i) {
            Residual::Part(source) => Some(Pattern::new(source, false, false)),
            _ => None,
        })
        .collect();
    Signatures {
        of_format,
        whole: patterns
            .iter()
            .map(|p| Pattern::new(p, false, false))
            .collect(),
        part,
        prefilter,
    }
});

impl Signatures {
    fn matches(&self, i: usize, head: &Head) -> bool {
        head.verdicts[i].settle(&self.whole[i], self.part[i].as_ref(), &head.text)
    }
}

/// What signatures are matched against, and the literal pass's verdicts
/// on it.
struct Head {
    text: String,
    verdicts: Vec<Verdict>,
}

impl Head {
    fn of(report: &Report, signatures: &Signatures) -> Head {
        let mut text = String::with_capacity(8192);
        text.push_str("From: ");
        text.push_str(&report.from);
        text.push_str("\nSubject: ");
        text.push_str(&report.subject);
        text.push('\n');
        text.push_str(&report.headers[..floor_char_boundary(&report.headers, 8192)]);
        text.push_str(&report.body[..floor_char_boundary(&report.body, 4096)]);
        text.push('\n');
        text.push_str(&report.dsn_head);
        let verdicts = signatures.prefilter.candidates(&text);
        Head { text, verdicts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal pass and the residuals name the same signature as
    /// running every signature in order, on the project's fixtures.
    #[test]
    fn literal_pass_agrees_with_the_signatures() {
        let signatures = &*SIGNATURES;
        let texts = crate::classify::fixtures::fixture_texts();
        for fixture in &texts {
            let (path, text) = (&fixture.path, &fixture.text);
            let verdicts = signatures.prefilter.candidates(text);
            for (i, v) in verdicts.into_iter().enumerate() {
                let said = v.settle(&signatures.whole[i], signatures.part[i].as_ref(), text);
                let whole = signatures.whole[i].is_match(text);
                assert_eq!(said, whole, "signature {i} on {}", path.display());
            }
        }
        assert!(texts.len() >= 60);
        for p in signatures
            .whole
            .iter()
            .chain(signatures.part.iter().flatten())
        {
            assert!(p.check().is_ok(), "{}", p.source());
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = LIST.iter().map(|f| f.name()).collect();
        names.sort();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
