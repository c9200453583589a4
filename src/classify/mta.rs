//! Which mail server or service wrote a report. The name goes into the
//! record's `mta` field so a person can see which format was read; it is
//! also a condition rules can test. Detection looks at the sender, the
//! subject, a few headers and the first lines of the report.

use super::pattern::Pattern;
use super::prefilter::{Prefilter, Residual};
use super::report::Report;
use std::sync::LazyLock;

struct Signature {
    name: &'static str,
    /// Matched against "From: …\nSubject: …\n<headers>\n<first 4 KB of body>".
    pattern: &'static str,
}

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "amazonses",
        pattern: r"(?m)^X-SES-Outgoing:|^X-AWS-Outgoing|amazonses\.com|^Feedback-ID: .*:amazonses",
    },
    Signature {
        name: "amazonworkmail",
        pattern: r"(?m)^X-Mailer: Amazon WorkMail|^X-Original-Mailer: Amazon WorkMail",
    },
    Signature {
        name: "sendgrid",
        pattern: r"(?mi)^From: .*@sendgrid\.|^X-SG-EID:",
    },
    Signature {
        name: "googlegroups",
        pattern: r"(?mi)groups\.google\.com/support|^Google Groups\s*$",
    },
    Signature {
        name: "gsuite",
        pattern: r"(?m)^From: .*mailer-daemon@googlemail\.com.*\n(?:.*\n)*?X-Gm-Message-State:|G Suite|Google Workspace",
    },
    Signature {
        name: "gmail",
        pattern: r"(?mi)^From: .*mailer-daemon@(?:googlemail|gmail)\.com|Delivery to the following recipient failed|Google tried to deliver your message",
    },
    Signature {
        name: "office365",
        pattern: r"(?mi)^X-MS-Exchange-Message-Is-Ndr:|outlook\.com|Office ?365|protection\.outlook",
    },
    Signature {
        name: "outlook",
        pattern: r"(?mi)^From: .*@(?:hotmail|outlook|live)\.(?:com|jp)",
    },
    Signature {
        name: "exchange",
        pattern: r"(?mi)^X-MS-Exchange|Microsoft Exchange|X-MimeOLE: Produced By Microsoft Exchange|Your message did not reach some or all of the intended recipients|Delivery has failed to these recipients or groups",
    },
    Signature {
        name: "yahoo",
        pattern: r"(?mi)^From: .*@yahoo(?:-inc)?\.|Sorry, we were unable to deliver your message to the following address|yahoo\.com",
    },
    Signature {
        name: "aol",
        pattern: r"(?mi)^From: .*@aol\.com",
    },
    Signature {
        name: "mailru",
        pattern: r"(?mi)^From: .*@(?:mail|corp\.mail|inbox|bk|list)\.ru",
    },
    Signature {
        name: "yandex",
        pattern: r"(?mi)^From: .*@yandex\.|^X-Yandex-",
    },
    Signature {
        name: "zoho",
        pattern: r"(?mi)^From: .*@zoho|^X-ZohoMail",
    },
    Signature {
        name: "gmx",
        pattern: r"(?mi)^From: .*@(?:gmx|web)\.(?:net|de|com)|^Envelope-To:.*\n.*mail\.gmx",
    },
    Signature {
        name: "facebook",
        pattern: r"(?mi)^From: .*@facebook(?:mail)?\.com",
    },
    Signature {
        name: "messagelabs",
        pattern: r"(?mi)MessageLabs|^X-Msg-Ref: server-",
    },
    Signature {
        name: "mimecast",
        pattern: r"(?i)mimecast",
    },
    Signature {
        name: "barracuda",
        pattern: r"(?i)Barracuda",
    },
    Signature {
        name: "mcafee",
        pattern: r"(?mi)^X-NAI-Header:|McAfee",
    },
    Signature {
        name: "surfcontrol",
        pattern: r"(?mi)^X-SEF-|SurfControl",
    },
    Signature {
        name: "mxlogic",
        pattern: r"(?mi)^X-MXL-|MXLogic|MX Logic",
    },
    Signature {
        name: "interscanmss",
        pattern: r"(?i)InterScan|Trend Micro",
    },
    Signature {
        name: "activehunter",
        pattern: r"(?mi)^X-AHMAILID:|ActiveHunter",
    },
    Signature {
        name: "imailserver",
        pattern: r"(?mi)^X-Mailer: <SMTP32 v|IMail Server",
    },
    Signature {
        name: "mailfoundry",
        pattern: r"(?i)MailFoundry",
    },
    Signature {
        name: "messagingserver",
        pattern: r"(?mi)Oracle Communications Messaging|Sun Java\(tm\) System Messaging|Messaging Server|iPlanet Messaging",
    },
    Signature {
        name: "domino",
        pattern: r"(?mi)Lotus Domino|^X-Mailer: Lotus Domino|Domino",
    },
    Signature {
        name: "notes",
        pattern: r"(?mi)^X-Mailer: Lotus Notes|Lotus Notes|Notes Mail",
    },
    Signature {
        name: "groupwise",
        pattern: r"(?i)GroupWise",
    },
    Signature {
        name: "courier",
        pattern: r"(?mi)Courier mail server|^From: Courier mail server",
    },
    Signature {
        name: "powermta",
        pattern: r"(?mi)^X-PowerMTA-|PowerMTA",
    },
    Signature {
        name: "opensmtpd",
        pattern: r"(?mi)This is the MAILER-DAEMON, please DO NOT REPLY|OpenSMTPD",
    },
    Signature {
        name: "dragonfly",
        pattern: r"(?mi)DragonFly Mail Agent|This is the DragonFly",
    },
    Signature {
        name: "qmail",
        pattern: r"(?mi)This is the qmail-send program|qmail-send|\(qmail \d+ invoked",
    },
    Signature {
        name: "exim",
        pattern: r"(?mi)This message was created automatically by mail delivery software|\(Exim \d|^X-Failed-Recipients:",
    },
    Signature {
        name: "postfix",
        pattern: r"(?mi)This is the mail system at host|\(Postfix\)|^X-Postfix-",
    },
    Signature {
        name: "sendmail",
        pattern: r"(?mi)-+ The following addresses had (?:permanent fatal errors|transient non-fatal errors)|Transcript of session follows|\(\d+\.\d+\.\d+/\d+\.\d+\.\d+\)",
    },
    Signature {
        name: "apachejames",
        pattern: r"(?i)Apache James|JAMES",
    },
    Signature {
        name: "fml",
        pattern: r"(?mi)^X-MLServer: fml|^X-ML-Name:",
    },
    Signature {
        name: "x4",
        pattern: r"(?mi)^Subject: failure notice",
    },
];

/// The signatures, their residuals, and one literal pass over the head
/// that decides most of them before any runs; the first in list order
/// that matches names the format.
struct Compiled {
    prefilter: Prefilter,
    whole: Vec<Pattern>,
    /// The alternatives that are not plain literals, when only some are.
    part: Vec<Option<Pattern>>,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let patterns: Vec<String> = SIGNATURES
        .iter()
        .map(|s| super::text::ascii_word_boundaries(s.pattern))
        .collect();
    let prefilter = Prefilter::new(patterns.iter().map(String::as_str), false);
    let part = (0..patterns.len())
        .map(|i| match prefilter.residual(i) {
            Residual::Part(source) => Some(Pattern::new(source, false, false)),
            _ => None,
        })
        .collect();
    Compiled {
        whole: patterns
            .iter()
            .map(|p| Pattern::new(p, false, false))
            .collect(),
        part,
        prefilter,
    }
});

pub fn detect(report: &Report) -> Option<&'static str> {
    if report.feedback_type.is_some() {
        return Some("arf");
    }
    let mut head = String::with_capacity(8192);
    head.push_str("From: ");
    head.push_str(&report.from);
    head.push_str("\nSubject: ");
    head.push_str(&report.subject);
    head.push('\n');
    let hdr_end = report.headers.len().min(8192);
    head.push_str(&report.headers[..floor_boundary(&report.headers, hdr_end)]);
    let body_end = floor_boundary(&report.body, report.body.len().min(4096));
    head.push_str(&report.body[..body_end]);
    head.push('\n');
    head.push_str(&report.dsn_head);
    let compiled = &*COMPILED;
    let found = compiled
        .prefilter
        .candidates(&head)
        .into_iter()
        .enumerate()
        .position(|(i, v)| v.settle(&compiled.whole[i], compiled.part[i].as_ref(), &head));
    if let Some(i) = found {
        return Some(SIGNATURES[i].name);
    }
    if report.has_dsn {
        Some("rfc3464")
    } else {
        None
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Adjustments a format needs after detection.
pub fn refine(report: &mut Report) {
    // A failed-recipients header lists the addresses the DSN forgot.
    if report.deliveries.is_empty() && !report.failed_header.is_empty() {
        report.has_dsn = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal pass and the residuals name the same signature as
    /// running every signature in order, on the project's fixtures.
    #[test]
    fn literal_pass_agrees_with_the_signatures() {
        let compiled = &*COMPILED;
        let texts = crate::classify::fixture_texts();
        for (path, text) in &texts {
            let verdicts = compiled.prefilter.candidates(text);
            for (i, v) in verdicts.into_iter().enumerate() {
                let said = v.settle(&compiled.whole[i], compiled.part[i].as_ref(), text);
                let whole = compiled.whole[i].is_match(text);
                assert_eq!(said, whole, "{} on {}", SIGNATURES[i].name, path.display());
            }
        }
        assert!(texts.len() >= 60);
        for p in compiled.whole.iter().chain(compiled.part.iter().flatten()) {
            assert!(p.check().is_ok(), "{}", p.source());
        }
    }
}
