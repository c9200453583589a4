//! Who a notice is about when its report names nobody: the person who
//! wrote or auto-replied (unless a program did), the subscriber a
//! complaint or a challenge names, the old address of a change-of-address
//! notice, the VERP address a bounce came back to.

use super::original;
use super::pattern::Pattern;
use super::report::Report;
use super::text;
use crate::record::{Category, is_placeholder_address};
use std::sync::LazyLock;

/// Who a notice is about when the report names nobody: the person who
/// wrote or auto-replied, the subscriber a complaint is about, the VERP
/// address a bounce came back to.
pub(super) fn fallback_recipient(report: &Report, category: Category) -> Option<String> {
    let returned = report.returned.as_ref();
    let original_to = || returned.and_then(|r| r.original.to.clone());
    // The mailbox our mail went to, as a reply's copy of it shows.
    let wrote_to = || report.quoted_to.clone().or_else(original_to);
    match category {
        Category::Unknown => None,
        // A report about our sending names no subscriber unless it is an
        // ARF report (not-spam, auth-failure) about one message.
        Category::Report if report.feedback_type.is_none() => None,
        // A feedback loop that hides the recipient (a hash, "redacted@")
        // often still returns the message with its To.
        Category::Complaint | Category::Report => {
            let named = report.feedback_recipients.first().cloned();
            named
                .clone()
                .filter(|a| !is_placeholder_address(a))
                // Microsoft's reports stamp the complaining mailbox on the
                // message they return, whatever its To (often a Bcc).
                .or_else(|| returned.and_then(|r| r.hotmail_recipient.clone()))
                .or_else(|| original_to().filter(|a| !is_placeholder_address(a)))
                .or(named)
                .or_else(original_to)
                .or_else(|| verp_recipient(report))
                // A hosting provider's abuse ticket quotes the reported
                // message with "> ": its To is the one who complained.
                .or_else(|| report.quoted_to.clone())
                // A person answering our mail with a complaint ("This is
                // spam, I have reported it"), or writing one of their own
                // with no copy of our mail ("STOP. I never signed up"), is
                // the subscriber who complains; an abuse desk is not.
                .or_else(|| {
                    (report.feedback_type.is_none()
                        && (super::person::replying_subject(&report.subject)
                            || report.returned.is_none()))
                    .then(|| report.from_address.clone())
                    .flatten()
                    .filter(|a| !is_robot_address(a) && !is_service_mailbox(a))
                    // A reporting service writes from its own domain
                    // (reports.spamcop.net, fbl.example): not the subscriber.
                    .filter(|a| {
                        let domain = a.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
                        !["report", "fbl", "abuse", "feedback"]
                            .iter()
                            .any(|w| domain.contains(w))
                    })
                })
        }
        // Someone of the same organisation answering the mail we sent to
        // another mailbox there (IT writing that a colleague has left, a
        // reply from an alias): the subscriber is the mailbox we wrote to,
        // as the quoted copy of our mail shows.
        Category::AddressChange
            if wrote_to().as_deref().is_some_and(|quoted| {
                // Not a shared or group mailbox: a person leaving who was
                // reached through "all-staff@" is not the group moving.
                !super::address::is_role_mailbox(quoted)
                    && report.from_address.as_deref().is_some_and(|from| {
                        !from.eq_ignore_ascii_case(quoted)
                            && super::address::share_a_domain(from, quoted)
                            && !super::new_address::announced_as_new(report, quoted)
                    })
            }) =>
        {
            wrote_to()
        }
        // A change-of-address notice sent by the provider's robot is about
        // the subscriber our mail went to, not about the robot.
        Category::AddressChange
            if report
                .from_address
                .as_deref()
                .is_none_or(|a| is_robot_address(a) || is_service_mailbox(a)) =>
        {
            verp_recipient(report)
                .or_else(original_to)
                .or_else(|| retired_address_named(report))
                .or_else(|| report.from_address.clone())
        }
        // A person writing from the new address they announce ("old
        // address: x, new address: y" from y): the subscriber is the old
        // one they name.
        Category::AddressChange if super::new_address::names_sender_as_new(report) => {
            old_address_named(report).or_else(|| report.from_address.clone())
        }
        Category::Unsubscribe => removal_named(report).or_else(|| report.from_address.clone()),
        // A help desk's acknowledgement sent from a no-reply address
        // answers for the mailbox its Reply-To names, the one we mailed.
        Category::Autoreply => report
            .from_address
            .as_deref()
            .filter(|from| is_robot_address(from))
            .and_then(|_| reply_to_person(report))
            .or_else(|| report.from_address.clone()),
        Category::Subscribe | Category::AddressChange => report.from_address.clone(),
        // The subscriber who asks us to verify: the original's To, our own
        // VERP address, else the person the notice names when it comes
        // from a verification service's robot rather than from them.
        Category::Challenge => original_to()
            .or_else(|| verp_recipient(report))
            .or_else(|| challenged_in(report, &report.subject))
            .or_else(|| {
                report
                    .from_address
                    .as_deref()
                    .is_none_or(is_robot_address)
                    .then(|| challenged_subscriber(report))
                    .flatten()
            })
            .or_else(|| report.from_address.clone()),
        Category::Virus if report.feedback_type.is_some() => report
            .feedback_recipients
            .first()
            .cloned()
            .or_else(original_to),
        _ => report
            .failed_header
            .first()
            .cloned()
            .or_else(|| verp_recipient(report))
            .or_else(|| returned.and_then(|r| r.sole_recipient()))
            // A list server refusing our post: the subscriber is the list.
            .or_else(|| super::list_notice::list_address(report)),
    }
}

/// The old address a provider's robot names in its notice ("the address
/// x was retired on 31 March; from now on write to y", an alumni
/// forwarder closed): the first one the text names that is neither the
/// robot's, nor ours, nor the new address the notice gives. A notice
/// that only asks us to update our records announces no new address: an
/// address it calls old ("your message to x", "x is no longer in use") is
/// then the old one, though the new-address reader offers it as the
/// replacement.
fn retired_address_named(report: &Report) -> Option<String> {
    let new = super::new_address::new_address(report, None);
    let mut named = people_named(report).filter(|a| !is_service_mailbox(a));
    let first = named.next()?;
    let is_new = |a: &str| new.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(a));
    if !is_new(&first)
        || !super::new_address::announced_as_new(report, &first)
            && super::new_address::named_as_old(report, &first)
    {
        return Some(first);
    }
    named.find(|a| !is_new(a))
}

/// The address a person asks us to take off the list when they name one
/// ("Please remove support@x from your list": the admin of a role or help
/// desk mailbox that receives our mail writes from their own), in the
/// subject or their own words, never in what they quote.
fn removal_named(report: &Report) -> Option<String> {
    static REMOVE_ADDRESS: LazyLock<Pattern> = LazyLock::new(|| {
        text::regex(
            r"(?i)\b(?:remove|unsubscribe|delete|drop|take)\s+(?:the\s+(?:e-?mail\s+)?address\s+)?<?([^\s<>@]+@[^\s<>]+?)>?\s+(?:from|off)\b",
        )
    });
    // A person's body is already their own words (analyze drops what they
    // quote).
    [report.subject.as_str(), report.body.as_str()]
        .into_iter()
        .find_map(|text| {
            let named = REMOVE_ADDRESS.captures(text)?.get(1)?.as_str();
            let address = super::address::clean_address(named)?;
            (!is_ours(report, &address) && !is_robot_address(&address)).then_some(address)
        })
}

/// The one address of the message's Reply-To, when it is neither a
/// program's nor ours.
fn reply_to_person(report: &Report) -> Option<String> {
    let mut values = report.header_values("reply-to");
    let value = values.next()?;
    let mut named = text::addresses_in(value);
    let address = named.next()?;
    // A per-ticket reply address ("reply+t8Hk2a@helpdesk.example") or one
    // at another domain (a help desk platform's) is no subscriber's.
    let from = report.from_address.as_deref().unwrap_or("");
    (values.next().is_none()
        && named.next().is_none()
        && !address.split('@').next().unwrap_or("").contains('+')
        && super::address::share_a_domain(&address, from)
        && !is_robot_address(&address)
        && !is_ours(report, &address))
    .then_some(address)
}

/// Whether an address is on one of our own domains or their relatives.
fn is_ours(report: &Report, address: &str) -> bool {
    report
        .our_addresses()
        .iter()
        .any(|o| super::address::share_a_domain(o, address))
}

/// The old address a person writing from their new one names ("Old
/// address: x"): only one the text calls old, never merely the next
/// address it gives (an office's, a colleague's).
fn old_address_named(report: &Report) -> Option<String> {
    people_named(report).find(|a| super::new_address::named_as_old(report, a))
}

/// The addresses a notice's text names that may be a subscriber's: not a
/// program's, not the sender's, not on our own domains or their relatives
/// (the notice may quote the list's From: "your message from news@x to
/// jane@y").
fn people_named(report: &Report) -> impl Iterator<Item = String> + '_ {
    let ours = report.our_addresses();
    text::addresses_in(&report.body).filter(move |a| {
        !is_robot_address(a)
            && !ours.iter().any(|o| super::address::share_a_domain(o, a))
            && report
                .from_address
                .as_deref()
                .is_none_or(|f| !f.eq_ignore_ascii_case(a))
    })
}

/// An address that a program writes from, not a person
/// (`no-reply@`, `verify@`, `notifications@`, `confirm+x@`).
fn is_robot_address(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or("").to_ascii_lowercase();
    // Any word of the local part: "sqr-notify@", "mail.filter@".
    // "no"/"do" only open a name ("no-reply", "do-not-reply").
    local
        .split(['+', '-', '_', '.'])
        .filter(|w| !w.is_empty())
        .enumerate()
        .any(|(i, word)| {
            matches!(
                word,
                "no" | "noreply"
                    | "donotreply"
                    | "do"
                    | "verify"
                    | "verification"
                    | "verificatie"
                    | "verificacion"
                    | "verificacao"
                    | "verifizierung"
                    | "verifica"
                    | "weryfikacja"
                    | "verifikasi"
                    | "verifikace"
                    | "overeni"
                    | "overenie"
                    | "dogrulama"
                    | "confirm"
                    | "confirmation"
                    | "challenge"
                    | "notification"
                    | "notifications"
                    | "notify"
                    | "mailer"
                    | "postmaster"
                    | "bounce"
                    | "bounces"
                    | "robot"
                    | "auto"
                    | "system"
                    | "guard"
                    | "filter"
                    | "filtro"
                    | "spamfilter"
                    | "spamguard"
                    | "mailguard"
                    | "bekraeft"
                    | "bekræft"
                    | "bekraft"
                    | "bekreft"
                    | "bekrafta"
                    | "bekräfta"
                    | "bekraeftelse"
                    | "bekræftelse"
                    | "bekreftelse"
                    | "verifiering"
                    | "vahvistus"
                    | "quarantine"
                    | "antispam"
                    | "antyspam"
                    | "protect"
                    | "protection"
                    | "whitelist"
                    | "allowlist"
                    | "kakunin"
                    | "ninsho"
            ) && (i == 0 || !matches!(word, "no" | "do"))
        })
}

/// The first address a challenge's text names that is neither the
/// service's nor ours: "Your message to x has been held", "Anna (x) uses
/// a guest list".
fn challenged_subscriber(report: &Report) -> Option<String> {
    challenged_in(report, &report.body)
}

/// The first address `text` names on a domain that is neither the
/// sender's nor ours (nor a parent or subdomain of one: our bounces come
/// back to `bounces@em.example.com` for mail from `news@example.com`).
/// A verification service's subject names the person it protects ("your
/// e-mail to x is on hold"); a person's own challenge names themself.
fn challenged_in(report: &Report, text: &str) -> Option<String> {
    let domain_of = |a: &str| a.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
    let sender: Option<String> = report.from_address.as_deref().map(domain_of);
    let ours: Vec<String> = report
        .our_addresses()
        .iter()
        .map(|a| domain_of(a))
        .collect();
    // The service may sit on a subdomain of the subscriber's domain
    // (filter.example.org guarding example.org): only our own domains
    // count with their relatives.
    let related = |a: &str, b: &str| {
        a == b
            || a.strip_suffix(b).is_some_and(|p| p.ends_with('.'))
            || b.strip_suffix(a).is_some_and(|p| p.ends_with('.'))
    };
    // A provider's own filter robot (antispam@provider) guards that
    // provider's users: a person on its domain is the one it protects.
    let robot_sender = report.from_address.as_deref().is_some_and(is_robot_address);
    let named = |accept_on_sender_domain: &dyn Fn(&str) -> bool| {
        text::addresses_in(text).find(|a| {
            let domain = domain_of(a);
            !is_robot_address(a)
                && (sender.as_deref() != Some(domain.as_str())
                    || robot_sender && accept_on_sender_domain(a))
                && !ours.iter().any(|o| related(o, &domain))
        })
    };
    // A person first; else, on the robot's own domain, the shared mailbox
    // it guards ("You sent mail to info@x") but not its help addresses.
    named(&|a| !super::address::is_role_mailbox(a)).or_else(|| named(&|a| !is_service_mailbox(a)))
}

/// Where a provider's notice sends questions: never the one it protects.
fn is_service_mailbox(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or("").to_ascii_lowercase();
    matches!(
        local.as_str(),
        "postmaster"
            | "abuse"
            | "support"
            | "help"
            | "helpdesk"
            | "webmaster"
            | "hostmaster"
            | "admin"
            | "administrator"
            | "security"
            | "noc"
            | "soporte"
            | "suporte"
    )
}

/// The subscriber address encoded in a VERP address the bounce was sent to.
pub(super) fn verp_recipient(report: &Report) -> Option<String> {
    const NAMES: [&str; 4] = ["To", "Delivered-To", "X-Original-To", "Envelope-To"];
    // The first value of each header.
    let values = NAMES.map(|name| report.header(name).map(str::trim));
    let mut candidates: Vec<String> = Vec::new();
    // A VERP address always carries `=`; most headers need no parse.
    for v in values.into_iter().flatten().filter(|v| v.contains('=')) {
        candidates.extend(text::addresses_in(v));
    }
    if let Some(rp) = report.returned.as_ref().and_then(|r| r.return_path.clone()) {
        candidates.push(rp);
    }
    candidates.iter().find_map(|c| original::verp_address(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::analyze::analyze;

    #[test]
    fn robot_addresses() {
        for a in [
            "no-reply@filter.example.test",
            "noreply@guestlist.example.com",
            "verify@guard.example.net",
            "confirm+x1@quarantine.example.org",
            "notifications@boxbe.example.com",
            "filtro@provedor.example.com.br",
            "bekraeft@spamvagt.example.dk",
        ] {
            assert!(is_robot_address(a), "{a}");
        }
        for a in ["anna.berg@example.org", "zane@isp.example.net"] {
            assert!(!is_robot_address(a), "{a}");
        }
    }

    /// A challenge sent by a verification service is about the person it
    /// names, not the service (issue 13).
    #[test]
    fn challenge_from_a_service_names_the_subscriber() {
        let mail = b"From: Boxbe <notifications@boxbe.example.com>\r\nTo: bounces@lists.example.com\r\nSubject: Example Weekly (Action Required)\r\nMessage-ID: <c1@boxbe.example.com>\r\nAuto-Submitted: auto-replied\r\n\r\nHello bounces@lists.example.com,\r\n\r\nYour message to anna.berg@example.org has been waitlisted.\r\nPlease click the link below to request that Anna Berg add you to her Guest List.\r\nWrite to support@boxbe.example.com with questions.\r\n";
        let report = analyze(mail, "X-Subscriber-Id");
        assert_eq!(
            fallback_recipient(&report, Category::Challenge).as_deref(),
            Some("anna.berg@example.org")
        );
    }

    /// A provider's own filter robot names its user on its own domain; its
    /// help address there is no subscriber.
    #[test]
    fn challenge_from_a_providers_robot_names_its_user() {
        let mail = b"From: AntiSpam <antispam@isp.example.br>\r\nTo: news@lists.example.com\r\nSubject: Confirme o envio da sua mensagem\r\nMessage-ID: <c2@isp.example.br>\r\nAuto-Submitted: auto-replied\r\n\r\nDuvidas: suporte@isp.example.br.\r\nVoce enviou uma mensagem para ricardo.m@isp.example.br, que utiliza o AntiSpam.\r\n";
        let report = analyze(mail, "X-Subscriber-Id");
        assert_eq!(
            fallback_recipient(&report, Category::Challenge).as_deref(),
            Some("ricardo.m@isp.example.br")
        );
    }
}
