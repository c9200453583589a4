//! What a message says, gathered once per message by `analyze`: the
//! [`Report`] the rules look at, with one [`Delivery`] per affected
//! address.

use super::original::Returned;

/// What a report says about one recipient.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Delivery {
    pub recipient: Option<String>,
    /// The Original-Recipient field; when the recipient was taken from it
    /// (an alias or internal route of the same mailbox), the
    /// Final-Recipient instead. Either way the other name of the mailbox.
    pub original_recipient: Option<String>,
    pub action: Option<String>,
    pub status: Option<String>,
    pub smtp_code: Option<u16>,
    pub diagnostic: Option<String>,
    pub diagnostic_type: Option<String>,
    /// The sending MTA's own class of the failure, from its DSN extension
    /// field (PowerMTA's X-PowerMTA-BounceCategory: "bad-mailbox",
    /// "message-expired", …), lowercase.
    pub bounce_category: Option<String>,
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
    /// Where each field's name and value stand in `headers`, so a format
    /// looking for one field need not read every line.
    pub header_spans: Vec<HeaderSpan>,
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
    /// A mail system's notice is attached whole and was read as the
    /// report's text.
    pub attached_notice: bool,
    /// A disposition notification that says the message reached the
    /// person (displayed, processed): a receipt, never a failure.
    pub receipt: bool,
    /// The text quotes or forwards a message the way mail clients do
    /// ("On … wrote:", "> " lines, "-----Original Message-----").
    pub quotes: bool,
    /// The To of a message the text quotes with "> " (a hosting
    /// provider's abuse ticket pasting the reported mail), read before a
    /// message's quoted lines are dropped from `body`.
    pub quoted_to: Option<String>,
    /// A DMARC aggregate or SMTP TLS report found in an attachment.
    pub aggregate: Option<crate::record::AggregateReport>,
}

/// One field of [`Report::headers`]: byte ranges of its name and value.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderSpan {
    pub name: std::ops::Range<usize>,
    pub value: std::ops::Range<usize>,
}

impl Report {
    /// Our own side's addresses as the report names them: the mailbox it
    /// came to and the returned original's From. Never the subscriber,
    /// though a message sent to oneself may name one of them.
    pub fn our_addresses(&self) -> Vec<String> {
        let mut v: Vec<String> = super::text::addresses_in(&self.to).collect();
        v.extend(self.returned.as_ref().and_then(|r| r.original.from.clone()));
        v
    }

    /// Whether the message carries a delivery report's own structure: a
    /// delivery-status part, per-recipient results, an X-Failed-Recipients
    /// field or a multipart/report of delivery status.
    pub fn has_report_structure(&self) -> bool {
        self.has_dsn
            || !self.deliveries.is_empty()
            || !self.failed_header.is_empty()
            || self.content_type.contains("report-type=delivery-status")
    }

    /// The values of the message's own header fields called `name`
    /// (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.header_spans.iter().filter_map(move |span| {
            let field = self.headers.get(span.name.clone())?;
            field
                .eq_ignore_ascii_case(name)
                .then(|| self.headers.get(span.value.clone()))
                .flatten()
        })
    }

    /// Sets the header fields, as `analyze` does from a parsed message.
    pub fn set_headers<'a>(&mut self, fields: impl IntoIterator<Item = (&'a str, &'a str)>) {
        self.headers.clear();
        self.header_spans.clear();
        for (name, value) in fields {
            self.push_header(name, value);
        }
    }

    /// Adds one `Name: value` line to `headers`.
    pub fn push_header(&mut self, name: &str, value: &str) {
        let name_start = self.headers.len();
        self.headers.push_str(name);
        let name_end = self.headers.len();
        self.headers.push_str(": ");
        let value_start = self.headers.len();
        self.headers.push_str(value);
        self.header_spans.push(HeaderSpan {
            name: name_start..name_end,
            value: value_start..self.headers.len(),
        });
        self.headers.push('\n');
    }

    /// The value of the first header field called `name`.
    pub fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.header_values(name).next()
    }

    /// The `kind` rule field: what sort of message this is.
    pub fn kind(&self) -> &'static str {
        if self.feedback_type.is_some() {
            "feedback"
        } else if self.receipt && !self.bounce_like {
            "receipt"
        } else if self.bounce_like {
            "bounce"
        } else {
            "message"
        }
    }
}
