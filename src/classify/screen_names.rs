//! Recipients a report names without a domain. AOL's own refusals list
//! screen names under "Your mail to the following recipients could not be
//! delivered because …", one indented name a line; the names are mailboxes
//! of the domain that wrote the report.

use super::pattern::Pattern;
use super::report::{Delivery, Report};
use std::sync::LazyLock;

/// The lead-in sentence (possibly wrapped), then the indented names.
static NAME_LIST: LazyLock<Pattern> = LazyLock::new(|| {
    super::text::regex(
        r"(?i)(?P<why>(?:your\s+mail|your\s+message|mail)\s+to\s+the\s+following\s+recipients?\s+could\s+not\s+be\s+delivered[^:]{0,300}):[ \t]*\r?\n(?P<names>(?:[ \t]+[A-Za-z0-9][A-Za-z0-9._+-]{0,63}[ \t]*\r?\n?)+)",
    )
});

/// Deliveries for the bare names of a report whose sender is a mailbox of
/// the domain the names belong to; none when the report names addresses.
pub fn deliveries(report: &Report) -> Vec<Delivery> {
    let Some(domain) = report
        .from_address
        .as_deref()
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.to_ascii_lowercase())
        .filter(|d| d.contains('.'))
    else {
        return Vec::new();
    };
    let Some(c) = NAME_LIST.captures(&report.body) else {
        return Vec::new();
    };
    let why = super::text::collapse_ws(c.name("why").map_or("", |m| m.as_str()));
    c.name("names")
        .map_or("", |m| m.as_str())
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .take(100)
        .map(|name| Delivery {
            recipient: Some(format!("{}@{domain}", name.to_ascii_lowercase())),
            diagnostic: Some(why.clone()),
            ..Delivery::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(from: &str, body: &str) -> Report {
        Report {
            from_address: Some(from.into()),
            body: body.into(),
            ..Report::default()
        }
    }

    #[test]
    fn screen_names_take_the_domain_of_the_report() {
        let r = report(
            "MAILER-DAEMON@AOL.com",
            "Your mail to the following recipients could not be delivered because\nthey are not accepting mail from news@example.com:\n\tScreenName\n\tother.name\n\n",
        );
        let d = deliveries(&r);
        let got: Vec<_> = d.iter().filter_map(|d| d.recipient.as_deref()).collect();
        assert_eq!(got, ["screenname@aol.com", "other.name@aol.com"]);
        assert!(
            d[0].diagnostic
                .as_deref()
                .unwrap()
                .contains("not accepting mail from")
        );
    }

    #[test]
    fn prose_without_an_indented_name_list_gives_nothing() {
        let r = report(
            "postmaster@example.net",
            "Your mail to the following recipients could not be delivered:\nalice@example.org\n",
        );
        assert!(deliveries(&r).is_empty());
        assert!(deliveries(&report("nobody", "x")).is_empty());
    }
}
