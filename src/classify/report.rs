//! What a message says, gathered once per message by `analyze`: the
//! [`Report`] the rules look at, with one [`Delivery`] per affected
//! address.

use super::original::Returned;

/// What a report says about one recipient.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Delivery {
    pub recipient: Option<String>,
    pub original_recipient: Option<String>,
    pub action: Option<String>,
    pub status: Option<String>,
    pub smtp_code: Option<u16>,
    pub diagnostic: Option<String>,
    pub diagnostic_type: Option<String>,
    pub remote_mta: Option<String>,
    /// SMTP command the remote side answered (`RCPT`, `DATA`, …).
    pub command: Option<String>,
    pub(crate) final_seen: bool,
    pub(crate) original_seen: bool,
}

/// Everything the rules look at in one message.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub message_id: Option<String>,
    pub date: Option<String>,
    pub subject: String,
    pub from: String,
    pub from_address: Option<String>,
    pub to: String,
    pub content_type: String,
    /// `Name: value` lines of the message's own header, unfolded.
    pub headers: String,
    /// The human-readable report, without the returned message.
    pub body: String,
    pub mta: Option<&'static str>,
    pub reporting_mta: Option<String>,
    pub deliveries: Vec<Delivery>,
    pub has_dsn: bool,
    /// The start of the delivery-status part: its extension fields
    /// (`X-PowerMTA-…`) tell which server wrote it.
    pub dsn_head: String,
    pub feedback_type: Option<String>,
    pub feedback_recipients: Vec<String>,
    pub returned: Option<Returned>,
    pub failed_header: Vec<String>,
    /// The message could not be parsed at all (no header found).
    pub unparsable: bool,
    /// The message looks like a delivery report of some kind.
    pub bounce_like: bool,
}

impl Report {
    /// The `kind` rule field: what sort of message this is.
    pub fn kind(&self) -> &'static str {
        if self.feedback_type.is_some() {
            "feedback"
        } else if self.bounce_like {
            "bounce"
        } else {
            "message"
        }
    }
}
