//! A message attached to the one being read: a forwarded or saved bounce
//! is read as the report itself; anything else is the returned original.

use super::{Walk, visit};
use crate::classify::{notice, original};
use mail_parser::{Message, MimeHeaders};

/// A message attached to `msg`: read as the report when it is one (a
/// forwarded bounce), else recorded as the returned original.
pub(super) fn visit_attached(
    msg: &Message<'_>,
    inner: &Message<'_>,
    depth: usize,
    walk: &mut Walk,
    subscriber_header: &str,
) {
    // A forwarded bounce: the attached message is itself a report
    // (or Exim's plain one with X-Failed-Recipients, as Mailman's
    // "Uncaught bounce notification" attaches it): that one counts.
    let structured = inner.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    }) || inner.header_raw("X-Failed-Recipients").is_some();
    let inner_is_report = structured
        || inner.subject().is_some_and(notice::is_bounce_subject) && original::from_a_daemon(inner);
    // A double bounce: the report that came back could not be
    // delivered to the return path it was sent to. That failure is
    // the sender's own mailbox; the report inside is about the
    // subscriber.
    // A plain daemon's notice inside counts only in a postmaster's
    // copy ("Postmaster Copy: Undelivered Mail", "Postmaster notify").
    let postmaster_copy = msg
        .subject()
        .is_some_and(|s| s.to_ascii_lowercase().contains("postmaster"));
    let double = inner_is_report && !walk.dsn.is_empty() && (structured || postmaster_copy) && {
        let outer = walk.dsn.to_ascii_lowercase();
        inner.to().is_some_and(|to| {
            to.iter()
                .filter_map(|a| a.address())
                .any(|a| a.contains('@') && outer.contains(&a.to_ascii_lowercase()))
        })
    };
    if double {
        walk.dsn.clear();
        walk.text.clear();
        walk.html.clear();
    }
    if inner_is_report && walk.dsn.is_empty() {
        walk.attached_notice = true;
        let nested = std::mem::replace(&mut walk.nested, true);
        visit(inner, 0, depth + 1, walk, subscriber_header);
        walk.nested = nested;
    } else if walk.returned.is_none() {
        walk.returned = Some(original::from_message(inner, subscriber_header));
    }
}
