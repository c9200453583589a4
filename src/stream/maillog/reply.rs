//! `--input reply`: `ADDRESS<TAB>REPLY`, the SMTP reply an application got
//! at send time (a multi-line reply's lines joined by the reader).

use crate::record::{Category, Reason};
use crate::stream::notice::{Affected, Notice, NoticeKind};

/// The notice for one reply item; None when the line has no address.
pub fn parse(bytes: &[u8]) -> Option<Notice> {
    let text = String::from_utf8_lossy(bytes);
    let (address, reply) = text.split_once('\t')?;
    let address = address.trim();
    if address.is_empty() {
        return None;
    }
    let reply = reply
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let (kind, category, reason) = match reply.as_bytes().first() {
        Some(b'2') => (NoticeKind::Delivery, Category::Delivered, Reason::Delivered),
        // A 4xx at send time is a failure of this attempt; nobody retries
        // it for the application.
        Some(b'4') => (NoticeKind::Failure, Category::Soft, Reason::Undefined),
        Some(b'5') => (NoticeKind::Failure, Category::Failed, Reason::Undefined),
        _ => (
            NoticeKind::Failure,
            Category::Undetermined,
            Reason::Undefined,
        ),
    };
    let mut n = Notice {
        format: "reply",
        kind,
        ..Notice::default()
    };
    n.means(category, reason);
    n.affected.push(Affected {
        address: address.to_string(),
        diagnostic: (!reply.is_empty()).then_some(reply),
        ..Affected::default()
    });
    Some(n)
}
