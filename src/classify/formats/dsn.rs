//! DSN (RFC 3464), the delivery status notification: the
//! `message/delivery-status` part (and RFC 6533's
//! `message/global-delivery-status`), one block of per-message fields
//! followed by one block per recipient, or the same fields pasted into the
//! text of a report.
//!
//! Real reports bend the format: blocks without blank lines between them,
//! `Original-Recipient` after `Final-Recipient`, missing address types,
//! folded `Diagnostic-Code` lines. The parser groups fields by recipient
//! instead of trusting the blank lines.

use super::report_format::{Recognition, ReportFormat, ReportParts};
use crate::classify::address::is_role_mailbox;
use crate::classify::report::{Delivery, Report};
use crate::classify::text::{
    clean_address, collapse_ws, find_smtp_code, find_status, floor_char_boundary,
};

/// The start of the delivery-status part kept in `Report::dsn_head`.
const HEAD: usize = 2048;

/// The DSN format: the delivery-status part, or its fields in the text.
pub(crate) struct Dsn;

impl ReportFormat for Dsn {
    fn name(&self) -> &'static str {
        "rfc3464"
    }

    fn read(&self, parts: &ReportParts<'_>, report: &mut Report) {
        let text = if !parts.delivery_status.is_empty() {
            parts.delivery_status
        } else if has_inline_dsn(&report.body) {
            report.body.as_str()
        } else {
            return;
        };
        let head = text[..floor_char_boundary(text, HEAD)].to_string();
        let mut dsn = parse(text);
        // Sendmail writes the Final-Recipient in RFC 3461's xtext too
        // ("anna+2Bnews@" for "anna+news@"): the decoded form is the
        // address when the report's own text names it so.
        for d in &mut dsn.deliveries {
            if let Some(r) = d.recipient.as_mut()
                && r.contains('+')
            {
                let decoded = xtext_decoded(r);
                if decoded != *r
                    && report
                        .body
                        .to_ascii_lowercase()
                        .contains(&decoded.to_ascii_lowercase())
                {
                    *r = decoded;
                }
            }
        }
        report.dsn_head = head;
        report.has_dsn = !dsn.deliveries.is_empty();
        report.reporting_mta = dsn.reporting_mta;
        report.deliveries = dsn.deliveries;
    }

    /// Many servers write a DSN: the name of the one that wrote it, when
    /// known, says more.
    fn recognizes(&self, report: &Report) -> Recognition {
        if report.has_dsn {
            Recognition::Fallback
        } else {
            Recognition::No
        }
    }
}

/// Whether the text carries DSN fields (a report that pasted them into its
/// prose instead of a delivery-status part).
fn has_inline_dsn(text: &str) -> bool {
    let lower_has = |needle: &str| {
        text.lines().any(|l| {
            l.as_bytes()
                .get(..needle.len())
                .is_some_and(|b| b.eq_ignore_ascii_case(needle.as_bytes()))
        })
    };
    lower_has("Final-Recipient:") || (lower_has("Original-Recipient:") && lower_has("Status:"))
}

#[derive(Debug, Default, Clone)]
pub(crate) struct DsnReport {
    pub reporting_mta: Option<String>,
    pub deliveries: Vec<Delivery>,
}

/// One `Name: value` field of a report part; a blank line is a field
/// with an empty name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HeaderField {
    /// Lower-cased.
    pub name: String,
    pub value: String,
}

/// Header-style fields with folded lines joined; names lower-cased.
pub(crate) fn fields(text: &str) -> Vec<HeaderField> {
    let mut out: Vec<HeaderField> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.value.push(' ');
                last.value.push_str(line.trim());
            }
            continue;
        }
        if line.trim().is_empty() {
            out.push(HeaderField {
                name: String::new(),
                value: String::new(),
            });
            continue;
        }
        let field = line.split_once(':').and_then(|(name, value)| {
            let name = name.trim();
            (!name.is_empty() && !name.contains(' ') && name.len() < 64).then_some((name, value))
        });
        match field {
            Some((name, value)) => out.push(HeaderField {
                name: name.to_ascii_lowercase(),
                value: value.trim().to_string(),
            }),
            // A server's text wrapped without the folding indent (RFC
            // 1894's own example): the rest of the diagnostic, the one
            // free-text field. Other stray lines are not read.
            None => {
                if let Some(last) = out.last_mut()
                    && last.name == "diagnostic-code"
                {
                    last.value.push(' ');
                    last.value.push_str(line.trim());
                }
            }
        }
    }
    out
}

/// `dns; mx.example.com` -> `mx.example.com`.
pub(crate) fn strip_type(value: &str) -> &str {
    match value.split_once(';') {
        Some((t, rest)) if !t.trim().is_empty() && !t.contains(['@', ' ', '<']) => rest.trim(),
        _ => value.trim(),
    }
}

/// The host of a Reporting-MTA or Remote-MTA field: RFC 3464 allows a
/// comment after the name ("dns; mx.example.jp. (192.0.2.1, the server for
/// the domain example.jp.)"), and rules match the name alone, so the
/// comment and the root dot go.
fn mta_host(value: &str) -> &str {
    let name = strip_type(value);
    let name = name.split([' ', '\t', '(']).next().unwrap_or("");
    match name.strip_suffix('.') {
        Some(host) if !host.is_empty() => host,
        _ => name,
    }
}

pub(crate) fn parse(text: &str) -> DsnReport {
    let mut report = DsnReport::default();
    let mut current: Option<Delivery> = None;
    let mut seen_recipient_field = false;
    let mut pending: Option<Delivery> = None;
    // The current delivery took fields written above its recipient field.
    let mut carried = false;
    // A blank line after a delivery's recipient ends its block: an Action
    // or Status below it belongs to the next recipient (Oracle Messaging
    // Server and Exim write them above the recipient fields).
    let mut closed = false;
    for HeaderField { name, value } in fields(text) {
        if name.is_empty() {
            closed |= current.is_some();
            continue;
        }
        match name.as_str() {
            "reporting-mta" if report.reporting_mta.is_none() => {
                report.reporting_mta = non_empty(mta_host(&value));
            }
            "final-recipient" | "original-recipient" | "x-actual-recipient" => {
                let addr = clean_address(strip_type(&value));
                let starts_new = match &current {
                    None => true,
                    Some(_) if closed => true,
                    Some(d) => match name.as_str() {
                        // An Action written above the block's first recipient
                        // field belongs to this delivery, not the last one.
                        // Exim writes Original-Recipient, Action, then
                        // Final-Recipient and Status: only a block that
                        // already has its Status is done.
                        "final-recipient" => {
                            d.final_seen
                                || d.action.is_some()
                                    && d.status.is_some()
                                    && d.original_seen
                                    && !carried
                        }
                        "original-recipient" => {
                            d.original_seen || d.final_seen && d.action.is_some() && !carried
                        }
                        _ => false,
                    },
                };
                if starts_new {
                    if let Some(d) = current.take() {
                        report.deliveries.push(d);
                    }
                    // Fields written above the first recipient field of
                    // its block (Facebook puts Diagnostic-Code first).
                    carried = pending.is_some();
                    current = Some(pending.take().unwrap_or_default());
                }
                seen_recipient_field = true;
                closed = false;
                let d = current.as_mut().expect("set above");
                match name.as_str() {
                    "final-recipient" => {
                        d.final_seen = true;
                        if addr.is_some() {
                            d.recipient = addr;
                        }
                    }
                    "original-recipient" => {
                        d.original_seen = true;
                        if d.recipient.is_none() {
                            d.recipient = addr;
                        }
                        d.original_recipient = addr_or(d.original_recipient.take(), &value);
                    }
                    _ => {
                        if d.recipient.is_none() {
                            d.recipient = addr;
                        }
                    }
                }
            }
            "action" | "status" | "diagnostic-code" | "remote-mta"
                if !seen_recipient_field || closed =>
            {
                let d = pending.get_or_insert_with(Delivery::default);
                apply_field(d, &name, &value);
            }
            _ if !seen_recipient_field => {}
            "action"
            | "status"
            | "diagnostic-code"
            | "remote-mta"
            | "x-powermta-bouncecategory" => {
                let d = current.get_or_insert_with(Delivery::default);
                apply_field(d, &name, &value);
            }
            // Exchange 2003 and Hotmail put the reply there and write no
            // Diagnostic-Code: "< #5.5.0 smtp;550 Requested action not
            // taken: mailbox unavailable>".
            "x-supplementary-info" => {
                if let Some(d) = current.as_mut().filter(|d| d.diagnostic.is_none()) {
                    let inner = value.trim().trim_start_matches('<').trim_end_matches('>');
                    let inner = inner.trim_start();
                    let inner = match inner.strip_prefix('#') {
                        Some(rest) => rest.split_once(' ').map_or("", |(_, r)| r),
                        None => inner,
                    };
                    apply_field(d, "diagnostic-code", inner.trim());
                }
            }
            "x-postfix-sender" | "x-original-message-id" => {}
            _ => {}
        }
    }
    if let Some(mut d) = current.take() {
        // Fields after a blank line that no recipient followed were the
        // last delivery's after all.
        if let Some(p) = pending.take() {
            d.action = d.action.or(p.action);
            d.status = d.status.or(p.status);
            d.smtp_code = d.smtp_code.or(p.smtp_code);
            d.diagnostic_type = d.diagnostic_type.or(p.diagnostic_type);
            d.bounce_category = d.bounce_category.or(p.bounce_category);
            d.diagnostic = d.diagnostic.or(p.diagnostic);
            d.remote_mta = d.remote_mta.or(p.remote_mta);
        }
        report.deliveries.push(d);
    } else if let Some(p) = pending
        .take()
        .filter(|p| p.action.is_some() || p.status.is_some())
    {
        // A block without any recipient field: its Action and Status still
        // say what happened, and the address comes from elsewhere
        // (X-Failed-Recipients, the prose).
        report.deliveries.push(p);
    }
    for d in &mut report.deliveries {
        // The subscriber is the Original-Recipient the sender used when the
        // Final-Recipient is the receiving side's own name for the mailbox:
        // an internal route (Sun ONE / Oracle Messaging Server, LMTP
        // stores: "@store1.example.net:user@ims_daemon") or another mailbox
        // of the same organisation.
        if let Some(original) = d
            .original_recipient
            .as_deref()
            // "rfc822; rfc822;x@y": a sender that wrote the type twice.
            .map(|value| value.rsplit_once(';').map_or(value, |(_, address)| address))
            .and_then(clean_address)
            && d.recipient.as_deref().is_some_and(|r| {
                !is_routable(r) && is_routable(&original) || is_alias_expansion(&original, r)
            })
        {
            // The two fields trade places: the report's own text may name
            // the mailbox by its Final-Recipient only, and the prose is
            // joined to the delivery through either address.
            d.original_recipient = d.recipient.replace(original);
        }
    }
    report
        .deliveries
        .retain(|d| d.recipient.is_some() || d.status.is_some() || d.diagnostic.is_some());
    report
}

/// Whether the receiving organisation rewrote the address the sender
/// used (the Original-Recipient, RFC 3464: the subscriber on the list) to
/// another mailbox of its own: an alias or virtual map, or the mailbox's
/// internal name on one of its hosts ("sandra.kessler@example.de" to
/// "sandra.k@mailhost.example.de"). A forward to another domain is not one:
/// there the final mailbox is the one that failed, and Sisimai reports it.
pub(crate) fn is_alias_expansion(original: &str, final_recipient: &str) -> bool {
    let (Some((original_local, original_domain)), Some((final_local, final_domain))) =
        (original.rsplit_once('@'), final_recipient.rsplit_once('@'))
    else {
        return false;
    };
    let unquoted = |local: &str| local.trim_matches('"').to_ascii_lowercase();
    // An MTA that copies ORCPT without decoding it leaves RFC 3461's xtext
    // ("anna+2Bnews" for "anna+news"): the same mailbox, not an alias.
    let original_local = xtext_decoded(original_local);
    let final_domain = final_domain.to_ascii_lowercase();
    let same_organisation = final_domain.eq_ignore_ascii_case(original_domain)
        || final_domain
            .strip_suffix(&original_domain.to_ascii_lowercase())
            .is_some_and(|host| host.ends_with('.'));
    // A group or role address ("team-all@", "sales@") expanded to its
    // members is no alias: the member's mailbox failed, and the group
    // still reaches the others.
    is_routable(original)
        && ((same_organisation
            && unquoted(&original_local) != unquoted(final_local)
            && !is_role_mailbox(original))
            || is_hosted_route(&final_domain))
}

/// RFC 3461 xtext decoded: "+" and two upper-case hex digits stand for
/// one byte; anything else is kept as written.
fn xtext_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| matches!(b, b'0'..=b'9' | b'A'..=b'F');
        if bytes[i] == b'+' && i + 2 < bytes.len() && hex(bytes[i + 1]) && hex(bytes[i + 2]) {
            let value = u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap_or(b'+');
            out.push(value);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// A domain a hosted mail service gives a customer's domain for routing
/// mail to it, never an address anyone subscribes with: Exchange Online's
/// "<tenant>.mail.protection.outlook.com" (a gateway in front of Microsoft
/// 365 rewrites the recipient to it), its tenant domain
/// "<tenant>.mail.onmicrosoft.com" (an Exchange hybrid's route to the cloud
/// mailbox) and Google Workspace's
/// "<domain>.test-google-a.com" (dual delivery). Lowercase.
fn is_hosted_route(domain: &str) -> bool {
    [
        ".mail.protection.outlook.com",
        ".mail.onmicrosoft.com",
        ".test-google-a.com",
    ]
    .iter()
    .any(|suffix| domain.ends_with(suffix))
}

/// Whether an address can be mail to someone outside the server that
/// wrote it: no source route in the local part, and a domain with a dot
/// or an address literal.
fn is_routable(addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    !local.starts_with('@')
        && !local.contains(':')
        && (domain.contains('.') || domain.starts_with('['))
}

/// One per-recipient field into the delivery.
fn apply_field(d: &mut Delivery, name: &str, value: &str) {
    match name {
        "action" => {
            let a = value
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            d.action = non_empty(&a);
        }
        "status" => {
            d.status = find_status(value).or(d.status.take());
            // "Status: 5.1.2 (550 Tried all MXs example.net)": Haraka and
            // others put the reason in a comment and write no
            // Diagnostic-Code; a Diagnostic-Code, when there is one, wins.
            if d.diagnostic.is_none()
                && let Some((_, comment)) = value.split_once('(')
            {
                let comment = collapse_ws(comment.trim_end().trim_end_matches(')'));
                if !comment.is_empty() {
                    d.diagnostic = Some(comment);
                }
            }
        }
        "remote-mta" => {
            d.remote_mta = non_empty(mta_host(value));
        }
        "diagnostic-code" => {
            let (kind, text) = match value.split_once(';') {
                Some((t, rest)) if !t.contains(' ') => (t.trim().to_ascii_lowercase(), rest),
                _ => (String::new(), value),
            };
            let text = collapse_ws(text);
            if !text.is_empty() {
                if d.smtp_code.is_none() {
                    d.smtp_code = find_smtp_code(&text);
                }
                d.diagnostic_type = non_empty(&kind);
                d.diagnostic = Some(text);
            }
        }
        "x-powermta-bouncecategory" => {
            d.bounce_category = non_empty(&value.to_ascii_lowercase());
        }
        _ => {}
    }
}

fn addr_or(old: Option<String>, value: &str) -> Option<String> {
    old.or_else(|| clean_address(strip_type(value)))
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn mta_host_drops_comment_and_root_dot() {
        assert_eq!(
            mta_host("dns; mx.example.jp. (192.0.2.1, the server for the domain example.jp.)"),
            "mx.example.jp"
        );
        assert_eq!(
            mta_host("dns;mx.example.jp (TCP|192.0.2.1|25) (au mail)"),
            "mx.example.jp"
        );
        assert_eq!(mta_host("dns; [192.0.2.7]"), "[192.0.2.7]");
        assert_eq!(mta_host("."), ".");
    }

    use super::*;

    #[test]
    fn a_block_without_a_recipient_field_keeps_its_status() {
        let r = parse("Reporting-MTA: dns; mx.example.com\n\nAction: failed\nStatus: 5.1.1\n");
        assert_eq!(r.deliveries.len(), 1);
        assert_eq!(r.deliveries[0].recipient, None);
        assert_eq!(r.deliveries[0].status.as_deref(), Some("5.1.1"));
        // Per-message fields alone are no delivery.
        assert!(
            parse("Reporting-MTA: dns; mx.example.com\nArrival-Date: x\n")
                .deliveries
                .is_empty()
        );
    }

    #[test]
    fn powermta_bounce_category_belongs_to_its_recipient() {
        let r = parse(
            "Reporting-MTA: dns;pmta.example.com\n\nFinal-Recipient: rfc822;a@example.net\nAction: failed\nStatus: 4.4.7\nX-PowerMTA-BounceCategory: Message-Expired\n\nFinal-Recipient: rfc822;b@example.net\nAction: failed\nStatus: 5.1.1\n",
        );
        let categories: Vec<_> = r
            .deliveries
            .iter()
            .map(|d| d.bounce_category.as_deref())
            .collect();
        assert_eq!(categories, [Some("message-expired"), None]);
    }

    #[test]
    fn a_diagnostic_wrapped_without_indent_goes_on() {
        let text = "Final-Recipient: rfc822; arathib@vnet.example.com\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 550 'arathib@vnet.example.com' is not a\nregistered gateway user\nRemote-MTA: dns; vnet.example.com\nstray words\n";
        let r = parse(text);
        let d = &r.deliveries[0];
        assert_eq!(
            d.diagnostic.as_deref(),
            Some("550 'arathib@vnet.example.com' is not a registered gateway user")
        );
        assert_eq!(d.remote_mta.as_deref(), Some("vnet.example.com"));
        assert_eq!(d.status.as_deref(), Some("5.0.0"));
    }

    #[test]
    fn parses_two_recipients_without_blank_line() {
        let text = "Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; a@Example.ORG\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <a@example.org>:\n  user unknown\nFinal-Recipient: rfc822; b@example.org\nOriginal-Recipient: rfc822;b@example.org\nAction: delayed\nStatus: 4.4.7 (timeout)\nRemote-MTA: dns; mx2.example.org\n";
        let r = parse(text);
        assert_eq!(r.reporting_mta.as_deref(), Some("mx.example.org"));
        assert_eq!(r.deliveries.len(), 2);
        let a = &r.deliveries[0];
        assert_eq!(a.recipient.as_deref(), Some("a@example.org"));
        assert_eq!(a.status.as_deref(), Some("5.1.1"));
        assert_eq!(a.smtp_code, Some(550));
        assert_eq!(
            a.diagnostic.as_deref(),
            Some("550 5.1.1 <a@example.org>: user unknown")
        );
        let b = &r.deliveries[1];
        assert_eq!(b.action.as_deref(), Some("delayed"));
        assert_eq!(b.status.as_deref(), Some("4.4.7"));
        assert_eq!(b.remote_mta.as_deref(), Some("mx2.example.org"));
    }

    #[test]
    fn fields_above_the_recipient_belong_to_it() {
        // Oracle Messaging Server: Action and Status open each block.
        let text = "Reporting-MTA: dns;mta.example.net\n\nAction: failed\nStatus: 5.1.1 (Remote SMTP server has rejected address)\nOriginal-recipient: rfc822;h.w@example.net\nFinal-recipient: rfc822;hw@example.net\nDiagnostic-code: smtp;550 5.1.1 unknown alias\n\nAction: failed\nStatus: 5.2.2 (recipient reached disk quota)\nOriginal-recipient: rfc822;a.n@example.net\nFinal-recipient: rfc822;a.n@example.net\n";
        let r = parse(text);
        assert_eq!(r.deliveries.len(), 2);
        assert_eq!(r.deliveries[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(r.deliveries[1].status.as_deref(), Some("5.2.2"));
        assert_eq!(
            r.deliveries[1].recipient.as_deref(),
            Some("a.n@example.net")
        );
        // A blank line inside a block that no recipient follows.
        let loose =
            parse("Final-Recipient: rfc822; c@example.org\n\nAction: failed\nStatus: 5.1.1\n");
        assert_eq!(loose.deliveries.len(), 1);
        assert_eq!(loose.deliveries[0].status.as_deref(), Some("5.1.1"));
    }

    #[test]
    fn utf8_address_type() {
        let r = parse(
            "Final-Recipient: utf-8; j\\x{00F6}rg@example.de\nAction: failed\nStatus: 5.1.1\n",
        );
        assert_eq!(
            r.deliveries[0].recipient.as_deref(),
            Some("jörg@example.de")
        );
    }

    #[test]
    fn internal_final_recipient_gives_way_to_the_original() {
        let text = "Reporting-MTA: dns;mta1.example.net\n\nOriginal-recipient: rfc822;ana@example.net\nFinal-recipient: rfc822;@store1.example.net:ana@ims_daemon\nAction: failed\nStatus: 5.2.0\n";
        let report = parse(text);
        assert_eq!(
            report.deliveries[0].recipient.as_deref(),
            Some("ana@example.net")
        );
        assert!(!is_routable("user@localhost") && is_routable("user@[192.0.2.1]"));
    }

    #[test]
    fn an_alias_expanded_in_the_same_organisation_gives_way_to_the_original() {
        let recipient = |original: &str, final_recipient: &str| {
            let text = format!(
                "Reporting-MTA: dns;mx.example.de\n\nFinal-Recipient: rfc822;{final_recipient}\nOriginal-Recipient: rfc822;{original}\nAction: failed\nStatus: 5.2.2\n"
            );
            parse(&text).deliveries[0].recipient.clone().unwrap()
        };
        // A virtual alias, and the mailbox's name on one of the domain's hosts.
        assert_eq!(
            recipient("sandra.kessler@example.de", "sandra.k@example.de"),
            "sandra.kessler@example.de"
        );
        assert_eq!(
            recipient("sandra.kessler@example.de", "sandra.k@mailhost.example.de"),
            "sandra.kessler@example.de"
        );
        // A forward to another domain: the final mailbox failed.
        assert_eq!(
            recipient("sandra.kessler@example.de", "sandra@mail.example.com"),
            "sandra@mail.example.com"
        );
        // A group expanded to its members: the member failed.
        assert_eq!(
            recipient("team-all@example.de", "d.fair@example.de"),
            "d.fair@example.de"
        );
        assert_eq!(
            recipient("vertrieb@example.de", "p.novak@example.de"),
            "p.novak@example.de"
        );
        // A hosted service's routing address for the customer's domain,
        // with the local part rewritten or not.
        assert_eq!(
            recipient(
                "s.kessler@example.de",
                "sandra.kessler@example-de.mail.protection.outlook.com"
            ),
            "s.kessler@example.de"
        );
        assert_eq!(
            recipient("sandra@example.de", "sandra@example.de.test-google-a.com"),
            "sandra@example.de"
        );
        // Not a host of the original's domain, only a name that ends alike.
        assert_eq!(
            recipient("sandra@example.de", "s.k@otherexample.de"),
            "s.k@otherexample.de"
        );
        // The same mailbox written with quotes, or with its type twice.
        assert_eq!(
            recipient("neko.@example.de", "\"neko.\"@example.de"),
            "\"neko.\"@example.de"
        );
        assert_eq!(
            recipient("rfc822;fred@example.de", "fred@example.de"),
            "fred@example.de"
        );
        // ORCPT left in xtext: the same mailbox, so the one that failed.
        assert_eq!(
            recipient("anna+2Bnews@example.fi", "anna+news@example.fi"),
            "anna+news@example.fi"
        );
        assert_eq!(xtext_decoded("a+2Bb+3Dc"), "a+b=c");
        assert_eq!(xtext_decoded("a+2b+"), "a+2b+");
    }

    #[test]
    fn a_final_recipient_in_xtext_is_decoded_when_the_report_names_it_so() {
        let dsn =
            "Final-Recipient: rfc822; lena+2Bchor@example.de\nAction: failed\nStatus: 5.1.1\n";
        let read = |body: &str| {
            let mut report = Report {
                body: body.into(),
                ..Report::default()
            };
            let parts = ReportParts {
                delivery_status: dsn,
                ..ReportParts::default()
            };
            Dsn.read(&parts, &mut report);
            report.deliveries[0].recipient.clone().unwrap()
        };
        assert_eq!(
            read("<Lena+chor@example.de>: User unknown"),
            "lena+chor@example.de"
        );
        // A tag that only looks like xtext stays as written.
        assert_eq!(read("User unknown"), "lena+2Bchor@example.de");
    }
}
