//! The record schema every stage shares: `Record`, one classification
//! result as the JSON line bclassify writes and bapply reads
//! (bounce-tools(7), RECORD FORMAT), and its vocabularies (categories, reasons,
//! the hard/soft rule). It sits at the bottom of the crate and imports
//! nothing from it.
//!
//! The record types are generic over their string type so that one
//! schema serves both sides: bclassify builds and writes `Record` (owned
//! `String`s), bapply reads [`RecordRef`] (`Record<Str>`, strings borrowed
//! from the input line where they hold no escapes). Both are the same
//! struct, so they accept the same fields with the same types by
//! construction.

pub mod date;
pub mod fast;
mod text;
mod vocabulary;

use serde::{Deserialize, Serialize};
pub use text::Str;
pub use vocabulary::{Bounce, Category, Provenance, Reason};

/// A record read in place: strings borrowed from the line they came from.
pub type RecordRef<'a> = Record<Str<'a>>;

/// Version of the record format written in `v`.
pub const RECORD_VERSION: u32 = 1;

/// Where a message came from; only the known fields are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct Source<S = String> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uidvalidity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// ESP events (`--input events`): the provider (`sendgrid`, `ses`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esp: Option<S>,
    /// ESP events: the provider's own id of the event (`sg_event_id`,
    /// SES `feedbackId`, Mailgun `id`, …); log lines: the queue id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<S>,
}

/// What is known of the message that bounced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct Original<S = String> {
    #[serde(default)]
    pub message_id: Option<S>,
    #[serde(default)]
    pub subject: Option<S>,
    #[serde(default)]
    pub from: Option<S>,
    #[serde(default)]
    pub to: Option<S>,
    #[serde(default)]
    pub list_id: Option<S>,
}

/// One classification result (bounce-tools(7), RECORD FORMAT). `S` is the
/// string type: `String` where records are built, [`Str`] where they are
/// read in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct Record<S = String> {
    pub v: u32,
    #[serde(default)]
    pub source: Source<S>,
    #[serde(default)]
    pub message_id: Option<S>,
    #[serde(default)]
    pub date: Option<S>,
    #[serde(default)]
    pub recipient: Option<S>,
    pub category: Category,
    pub reason: Reason,
    #[serde(default)]
    pub bounce: Option<Bounce>,
    #[serde(default)]
    pub action: Option<S>,
    #[serde(default)]
    pub status: Option<S>,
    #[serde(default)]
    pub smtp_code: Option<u16>,
    #[serde(default)]
    pub diagnostic: Option<S>,
    #[serde(default)]
    pub remote_mta: Option<S>,
    #[serde(default)]
    pub reporting_mta: Option<S>,
    #[serde(default)]
    pub mta: Option<S>,
    pub rule: S,
    #[serde(default)]
    pub evidence: Option<S>,
    #[serde(default)]
    pub feedback_type: Option<S>,
    #[serde(default)]
    pub new_address: Option<S>,
    #[serde(default)]
    pub subscriber: Option<S>,
    #[serde(default)]
    pub original: Original<S>,
    /// `signed`, `known` or `unverified` when bclassify was given a tag
    /// key or a sent log; left out (null) when neither was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// For a DMARC aggregate or SMTP TLS report: what it says. Written
    /// only when present (an extra field, bounce-tools(7), RECORD FORMAT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<AggregateReport<S>>,
}

/// What a DMARC aggregate report (RFC 7489 appendix C) or an SMTP TLS
/// report (RFC 8460) says about our sending, in the record of category
/// `report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct AggregateReport<S = String> {
    /// `dmarc` or `tlsrpt`.
    pub kind: S,
    /// The reporting organisation (`org_name`, `organization-name`).
    #[serde(default)]
    pub organization: Option<S>,
    #[serde(default)]
    pub report_id: Option<S>,
    /// The domain whose policy was evaluated (`policy_published/domain`,
    /// `policy-domain`).
    #[serde(default)]
    pub policy_domain: Option<S>,
    /// The period covered, RFC 3339 UTC.
    #[serde(default)]
    pub begin: Option<S>,
    #[serde(default)]
    pub end: Option<S>,
    /// Messages (DMARC: DKIM or SPF aligned pass) or TLS sessions that
    /// passed, and those that failed.
    #[serde(default)]
    pub pass: u64,
    #[serde(default)]
    pub fail: u64,
}

/// Longest `evidence`, in characters (bounce-tools(7), RECORD FORMAT).
pub const MAX_EVIDENCE_CHARS: usize = 200;

/// True when `s` can be a mailbox address: a local part, `@`, a domain,
/// and no white space or control characters anywhere.
pub fn is_mailbox_address(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            // A quoted local part may hold spaces (RFC 5321's
            // Quoted-string: "anna maria"@example.at); nothing else may.
            let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
            let spaced = |part: &str| part.chars().any(char::is_whitespace);
            !local.is_empty()
                && !domain.is_empty()
                && !s.chars().any(char::is_control)
                && !spaced(domain)
                && (quoted || !spaced(local))
        }
        None => false,
    }
}

/// True when `s` is a stand-in rather than someone's address: what a
/// feedback loop writes when it redacts the recipient (`redacted@…`,
/// `xxxxx@…`, `***@…`), `undisclosed-recipients`, and the like.
pub fn is_placeholder_address(s: &str) -> bool {
    let local = s.rsplit_once('@').map_or(s, |(l, _)| l).trim_matches('"');
    let lower = local.to_ascii_lowercase();
    (local.len() >= 3
        && local
            .chars()
            .all(|c| matches!(c, 'x' | 'X' | '*' | '#' | '.' | '-' | '_')))
        // A hash in place of the local part (Comcast's feedback loop
        // writes an MD5 of the recipient).
        || (local.len() >= 24 && local.chars().all(|c| c.is_ascii_hexdigit()))
        || matches!(
            lower.as_str(),
            "redacted"
                | "undisclosed-recipients"
                | "undisclosed"
                | "removed"
                | "hidden"
                | "anonymized"
                | "anonymised"
                | "anonymous"
                | "unknown"
                | "null"
                | "none"
        )
}

impl Record<String> {
    /// Addresses are checked before they become records: a `recipient`
    /// that is no mailbox address becomes null, its raw text kept in
    /// `evidence` (unless the deciding rule's text is already there); a
    /// `new_address` that is none is dropped.
    pub fn check_addresses(&mut self) {
        if let Some(raw) = self.recipient.take_if(|r| !is_mailbox_address(r)) {
            let raw: String = raw.chars().take(MAX_EVIDENCE_CHARS).collect();
            self.evidence = Some(match self.evidence.take() {
                Some(e) => format!("{e}; not an address: {raw}")
                    .chars()
                    .take(MAX_EVIDENCE_CHARS)
                    .collect(),
                None => raw,
            });
        }
        self.new_address.take_if(|a| !is_mailbox_address(a));
    }
}

// Written out rather than derived: a derived `Default` would ask for
// `S: Default`, which a borrowed string has no use for.
impl<S> Default for Source<S> {
    fn default() -> Self {
        Source {
            path: None,
            index: None,
            offset: None,
            mailbox: None,
            uidvalidity: None,
            uid: None,
            esp: None,
            event_id: None,
        }
    }
}

impl<S> Default for Original<S> {
    fn default() -> Self {
        Original {
            message_id: None,
            subject: None,
            from: None,
            to: None,
            list_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    const LINE: &str = r#"{"v":1,"source":{"path":"a","index":1,"mailbox":"INBOX","uidvalidity":5,"uid":9},"message_id":"<m\"1>","date":"2024-01-01T00:00:00Z","recipient":"a@b","category":"hard","reason":"userunknown","bounce":"hard","action":"failed","status":"5.1.1","smtp_code":550,"diagnostic":"x\\y","remote_mta":"mx","reporting_mta":null,"mta":"postfix","rule":"r","evidence":"e","feedback_type":null,"new_address":null,"subscriber":null,"original":{"message_id":null,"subject":"s","from":null,"to":null,"list_id":null},"extra":[1,2]}"#;

    /// Read in place, a record borrows every string that holds no escape
    /// and reads the same as the owned record.
    #[test]
    fn borrowed_record_reads_like_the_owned_one() {
        let owned: Record = serde_json::from_str(LINE).unwrap();
        let borrowed: RecordRef = serde_json::from_str(LINE).unwrap();
        assert!(matches!(
            borrowed.recipient,
            Some(Str(Cow::Borrowed("a@b")))
        ));
        assert!(matches!(borrowed.rule, Str(Cow::Borrowed("r"))));
        assert!(matches!(
            borrowed.source.mailbox,
            Some(Str(Cow::Borrowed(_)))
        ));
        assert!(matches!(
            borrowed.original.subject,
            Some(Str(Cow::Borrowed(_)))
        ));
        assert!(matches!(borrowed.message_id, Some(Str(Cow::Owned(_)))));
        assert_eq!(borrowed.message_id.as_deref(), Some("<m\"1>"));
        assert_eq!(borrowed.diagnostic.as_deref(), owned.diagnostic.as_deref());
        assert_eq!(
            serde_json::to_string(&borrowed).unwrap(),
            serde_json::to_string(&owned).unwrap()
        );
    }

    #[test]
    fn placeholders_are_known() {
        for p in [
            "redacted@example.org",
            "xxxxx@example.org",
            "***@example.org",
            "Undisclosed-Recipients",
            "\"redacted\"@example.org",
            "cb4a01a48251d4765f489076aa81e2a4@example.net",
        ] {
            assert!(is_placeholder_address(p), "{p}");
        }
        for a in [
            "alice@example.org",
            "max@example.org",
            "x.ray@example.org",
            "deadbeef@example.org",
            "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5-news@example.org",
        ] {
            assert!(!is_placeholder_address(a), "{a}");
        }
    }

    #[test]
    fn addresses_are_checked() {
        for ok in [
            "a@example.org",
            "\"a.b\"@example.org",
            "\"anna maria\"@example.org",
            "a+b@xn--bcher-kva.example",
        ] {
            assert!(is_mailbox_address(ok), "{ok}");
        }
        for bad in [
            "",
            "alice",
            "@example.org",
            "a@",
            "a b@example.org",
            "\"a b@example.org",
            "a@exa mple.org",
            "\"a\tb\"@example.org",
            "a@ex\u{1}ample.org",
            "a@example.org\n",
        ] {
            assert!(!is_mailbox_address(bad), "{bad:?}");
        }
        let mut r: Record = serde_json::from_str(
            r#"{"v":1,"category":"hard","reason":"userunknown","rule":"r","recipient":"no one","new_address":"x"}"#,
        )
        .unwrap();
        r.check_addresses();
        assert_eq!(r.recipient, None);
        assert_eq!(r.new_address, None);
        assert_eq!(r.evidence.as_deref(), Some("no one"));
    }

    /// A record leaves out unknown source fields and defaults missing ones.
    #[test]
    fn defaults_for_missing_parts() {
        let r: RecordRef =
            serde_json::from_str(r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r"}"#)
                .unwrap();
        assert_eq!(r.source, Source::default());
        assert_eq!(r.original, Original::default());
        let r: Record = Record {
            source: Source::default(),
            ..serde_json::from_str(r#"{"v":1,"category":"soft","reason":"mailboxfull","rule":"r"}"#)
                .unwrap()
        };
        assert_eq!(
            serde_json::to_string(&r.source).unwrap(),
            "{}",
            "only the known source fields are written"
        );
    }
}
