//! The fields a rule can test, declared once: the rule-file keys
//! (`subject`, `not_subject`, …), the per-field tables of the matcher and
//! the text each field has in a report all come from [`Field`].

use crate::classify::report::{Delivery, Report};

/// What a rule can look at. Message fields are the same for every
/// recipient of a message; recipient fields differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    Subject,
    From,
    To,
    Header,
    Body,
    ContentType,
    Mta,
    FeedbackType,
    Kind,
    Diagnostic,
    Status,
    SmtpCode,
    Action,
    Command,
    Recipient,
    RemoteMta,
    DiagnosticType,
    BounceCategory,
}

impl Field {
    /// How many fields there are: the size of per-field tables.
    pub const COUNT: usize = 18;

    /// Every field, in the order of per-field tables.
    pub const ALL: [Field; Field::COUNT] = [
        Field::Subject,
        Field::From,
        Field::To,
        Field::Header,
        Field::Body,
        Field::ContentType,
        Field::Mta,
        Field::FeedbackType,
        Field::Kind,
        Field::Diagnostic,
        Field::Status,
        Field::SmtpCode,
        Field::Action,
        Field::Command,
        Field::Recipient,
        Field::RemoteMta,
        Field::DiagnosticType,
        Field::BounceCategory,
    ];

    /// The field's key in a rule file; `not_` and the name is its negation.
    pub fn name(self) -> &'static str {
        match self {
            Field::Subject => "subject",
            Field::From => "from",
            Field::To => "to",
            Field::Header => "header",
            Field::Body => "body",
            Field::ContentType => "content_type",
            Field::Mta => "mta",
            Field::FeedbackType => "feedback_type",
            Field::Kind => "kind",
            Field::Diagnostic => "diagnostic",
            Field::Status => "status",
            Field::SmtpCode => "smtp_code",
            Field::Action => "action",
            Field::Command => "command",
            Field::Recipient => "recipient",
            Field::RemoteMta => "remote_mta",
            Field::DiagnosticType => "diagnostic_type",
            Field::BounceCategory => "bounce_category",
        }
    }

    pub fn per_recipient(self) -> bool {
        matches!(
            self,
            Field::Diagnostic
                | Field::Status
                | Field::SmtpCode
                | Field::Action
                | Field::Command
                | Field::Recipient
                | Field::RemoteMta
                | Field::DiagnosticType
                | Field::BounceCategory
        )
    }

    /// How dear a test of the field is: the short per-message values
    /// first, the body last. A rule's conditions are tried in this order,
    /// so a rule that cannot hold (a delay template's body rule on a DSN
    /// that names an action) is dropped before its long text is read.
    pub fn evaluation_cost(self) -> u8 {
        match self {
            Field::Kind
            | Field::Mta
            | Field::FeedbackType
            | Field::Action
            | Field::Status
            | Field::SmtpCode
            | Field::Command
            | Field::DiagnosticType
            | Field::BounceCategory
            | Field::ContentType => 0,
            Field::Recipient | Field::RemoteMta | Field::From | Field::To | Field::Subject => 1,
            Field::Diagnostic => 2,
            Field::Header => 3,
            Field::Body => 4,
        }
    }

    /// Which field's match is shown as evidence when several decided.
    pub fn evidence_rank(self) -> u8 {
        match self {
            Field::Diagnostic => 0,
            Field::Body => 1,
            Field::Subject => 2,
            Field::Header => 3,
            Field::FeedbackType => 4,
            Field::Status => 5,
            Field::Action => 6,
            Field::SmtpCode => 7,
            Field::From => 8,
            Field::To => 9,
            Field::Recipient => 10,
            Field::RemoteMta => 11,
            Field::DiagnosticType => 16,
            Field::BounceCategory => 17,
            Field::Command => 12,
            Field::ContentType => 13,
            Field::Mta => 14,
            Field::Kind => 15,
        }
    }
}

/// A field's index in per-field tables: its place in `Field::ALL`.
pub(super) fn field_slot(f: Field) -> usize {
    f as usize
}

/// The text of a message field.
pub(super) fn message_field(report: &Report, f: Field) -> &str {
    match f {
        Field::Subject => &report.subject,
        Field::From => &report.from,
        Field::To => &report.to,
        Field::Header => &report.headers,
        Field::Body => &report.body,
        Field::ContentType => &report.content_type,
        Field::Mta => report.mta.unwrap_or(""),
        Field::FeedbackType => report.feedback_type.as_deref().unwrap_or(""),
        Field::Kind => report.kind(),
        _ => "",
    }
}

/// The text of a recipient field; `code` is the reply code as text.
pub(super) fn recipient_field<'a>(d: &'a Delivery, f: Field, code: &'a str) -> &'a str {
    match f {
        Field::Diagnostic => d.diagnostic.as_deref().unwrap_or(""),
        Field::Status => d.status.as_deref().unwrap_or(""),
        Field::SmtpCode => code,
        Field::Action => d.action.as_deref().unwrap_or(""),
        Field::Command => d.command.as_deref().unwrap_or(""),
        Field::Recipient => d.recipient.as_deref().unwrap_or(""),
        Field::RemoteMta => d.remote_mta.as_deref().unwrap_or(""),
        Field::DiagnosticType => d.diagnostic_type.as_deref().unwrap_or(""),
        Field::BounceCategory => d.bounce_category.as_deref().unwrap_or(""),
        _ => "",
    }
}
