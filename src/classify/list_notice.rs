//! The list a list server's notice is about. When a subscriber's address
//! is itself a mailing list and the list refuses our post (Mailman, Sympa,
//! groups.io), the notice names the list in its text ("Your request to the
//! x@lists.example.org mailing list", "Your message for list x@…") or only
//! through the robot address it comes from (`x-bounces@`, `x-owner@`).

use super::pattern::Pattern;
use super::report::Report;
use super::text;
use std::sync::LazyLock;

/// The list's address as the notice names it, else its robot's address
/// without the robot's suffix.
pub fn list_address(report: &Report) -> Option<String> {
    let body = &report.body[..text::floor_char_boundary(&report.body, 4000)];
    NAMED_LIST
        .captures(body)
        .and_then(|c| text::clean_address(c.get(1)?.as_str()))
        // LISTSERV names it in the subject: "Rejected posting to X-L@…".
        .or_else(|| {
            REJECTED_POSTING_SUBJECT
                .captures(&report.subject)
                .and_then(|c| text::clean_address(c.get(1)?.as_str()))
        })
        .or_else(|| {
            let from = report.from_address.as_deref()?;
            let (local, domain) = from.rsplit_once('@')?;
            let lower = local.to_ascii_lowercase();
            ROBOT_SUFFIXES.iter().find_map(|suffix| {
                let list = &local[..lower.strip_suffix(suffix)?.len()];
                (!list.is_empty()).then(|| format!("{list}@{domain}").to_ascii_lowercase())
            })
        })
        // "not distributed to the district-news mailing list", from the
        // list server's own domain (Lyris, Majordomo).
        .or_else(|| {
            let (_, domain) = report.from_address.as_deref()?.rsplit_once('@')?;
            let found = LIST_BY_NAME.captures(body)?;
            let name = found.get(1).or_else(|| found.get(2))?.as_str();
            let generic = ["following", "same", "whole", "entire", "above", "moderated"];
            (!generic.iter().any(|g| name.eq_ignore_ascii_case(g)))
                .then(|| format!("{name}@{domain}").to_ascii_lowercase())
        })
}

/// A list named without its domain: "to the district-news mailing list",
/// "Your message for list club-photo (attached below)".
static LIST_BY_NAME: LazyLock<Pattern> = LazyLock::new(|| {
    text::regex(
        r"(?i)\b(?:(?:to|for|on)\s+the\s+([a-z0-9][a-z0-9._-]{0,63})\s+mailing\s+list\b|message\s+for\s+list\s+([a-z0-9][a-z0-9._-]{0,63})[\s.,(])",
    )
});

/// The suffixes list servers give their robots' addresses.
const ROBOT_SUFFIXES: [&str; 6] = [
    "-bounces", "-owner", "-request", "-admin", "+owner", "-help",
];

/// "Your request to the x@… mailing list", "Your message for list x@…",
/// "Your message to x@…, with the subject", and Sympa's translations
/// ("Votre message pour la liste x@…", "Ihre Nachricht an die Liste x@…",
/// "Su mensaje para la lista x@…").
static NAMED_LIST: LazyLock<Pattern> = LazyLock::new(|| {
    text::regex(
        r#"(?i)(?:\byour\s+(?:e-?mail\s+)?(?:request|message|post(?:ing)?)\s+(?:to|for)\s+(?:the\s+)?(?:list\s+)?|\bvotre\s+message\s+(?:pour|à|a)\s+(?:la\s+liste\s+)?|\bihre\s+nachricht\s+an\s+(?:die\s+liste\s+)?|\bsu\s+mensaje\s+(?:para|a)\s+(?:la\s+lista\s+)?)(?:<|\[?")?([^\s<>@"\[\]]+@[^\s<>@,;"\[\]]+?)(?:>|"\]?)?(?:[\s,;]|\.\s|$)"#,
    )
});

static REJECTED_POSTING_SUBJECT: LazyLock<Pattern> =
    LazyLock::new(|| text::regex(r"(?i)\brejected\s+posting\s+to\s+<?([^\s<>@]+@[^\s<>@,;]+)>?"));

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(from: &str, body: &str) -> Report {
        Report {
            from_address: Some(from.into()),
            body: body.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_list_is_named_or_its_robot_speaks_for_it() {
        let named = notice(
            "gardening-bounces@lists.example.org",
            "Your request to the gardening@lists.example.org mailing list\n    Posting of your message",
        );
        assert_eq!(
            list_address(&named).as_deref(),
            Some("gardening@lists.example.org")
        );
        let sympa = notice(
            "sympa@lists.example.be",
            "Your message for list chorale@lists.example.be has been rejected by the moderator.",
        );
        assert_eq!(
            list_address(&sympa).as_deref(),
            Some("chorale@lists.example.be")
        );
        // Sympa in French, from the sympa robot (no list-robot suffix).
        let sympa_fr = notice(
            "sympa@listes.example.fr",
            "Votre message pour la liste chorale@listes.example.fr a été rejeté.",
        );
        assert_eq!(
            list_address(&sympa_fr).as_deref(),
            Some("chorale@listes.example.fr")
        );
        let robot = notice(
            "Rd-Bounces@lab.example.it",
            "Your request to the Rd mailing list",
        );
        assert_eq!(list_address(&robot).as_deref(), Some("rd@lab.example.it"));
        let lyris = notice(
            "lyris@lists.example.org",
            "Your message was not distributed to the district-news mailing list\nbecause you are not a member.",
        );
        assert_eq!(
            list_address(&lyris).as_deref(),
            Some("district-news@lists.example.org")
        );
        let person = notice("anna@example.org", "Thanks for the newsletter.");
        assert_eq!(list_address(&person), None);
        let listserv = Report {
            subject: "Rejected posting to CHEM-GRAD@LISTSERV.EXAMPLE.EDU".into(),
            ..notice(
                "LISTSERV@LISTSERV.EXAMPLE.EDU",
                "You are not authorized to send mail to the CHEM-GRAD list.",
            )
        };
        assert_eq!(
            list_address(&listserv).as_deref(),
            Some("CHEM-GRAD@listserv.example.edu")
        );
    }
}
