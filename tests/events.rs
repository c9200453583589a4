//! `bclassify --input events|reply|maillog` (bclassify(1), ESP EVENTS;
//! SMTP REPLIES AND LOGS): every provider's fixtures in
//! `fixtures/events/PROVIDER/NNN-name.json` give the records of
//! `NNN-name.expect` (one line per record: recipient, category, bounce,
//! reason, and, where the provider's label disagrees with the status and
//! text, the start of the evidence, which must then show the label); the
//! mail-log fixtures in `fixtures/maillog/` likewise; duplicates are
//! dropped; the records go through bapply with the default policy.

use crate::support::{self, repo_root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn bclassify(args: &[&str], stdin: Option<&[u8]>, dir: &Path) -> support::Run {
    support::run(env!("CARGO_BIN_EXE_bclassify"), args, stdin, dir)
}

/// The fixture files of a folder (relative to the repository) with their
/// `.expect` files.
fn fixtures(folder: &str, ext: Option<&str>) -> Vec<(String, String)> {
    let root = repo_root();
    let mut out = Vec::new();
    let mut dirs = vec![root.join(folder)];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let name = p.to_string_lossy().into_owned();
            if name.ends_with(".expect")
                || name.ends_with(".md")
                || ext.is_some_and(|x| !name.ends_with(x))
            {
                continue;
            }
            let expect = match ext {
                Some(x) => format!("{}.expect", name.strip_suffix(x).unwrap()),
                None => format!("{name}.expect"),
            };
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((
                rel,
                std::fs::read_to_string(&expect).unwrap_or_else(|e| panic!("{expect}: {e}")),
            ));
        }
    }
    out.sort();
    out
}

fn summary(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
    format!(
        "{}\t{}\t{}\t{}",
        s("recipient"),
        s("category"),
        s("bounce"),
        s("reason")
    )
}

/// Runs all fixtures of one input kind in one bclassify run and compares
/// each file's records with its expectations.
fn check(input: &str, files: &[(String, String)], esp_from_folder: bool) {
    let mut args = vec!["--input", input];
    args.extend(files.iter().map(|(f, _)| f.as_str()));
    let run = bclassify(&args, None, &repo_root());
    run.expect_code(0);
    let mut by_file: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in run.records() {
        by_file
            .entry(r["source"]["path"].as_str().unwrap().to_string())
            .or_default()
            .push(r);
    }
    let mut failures = Vec::new();
    for (file, expect) in files {
        let records = by_file.remove(file).unwrap_or_default();
        let wanted: Vec<&str> = expect.lines().collect();
        let mut problems = Vec::new();
        if records.len() != wanted.len() {
            problems.push(format!(
                "{} records, expected {}",
                records.len(),
                wanted.len()
            ));
        }
        for (r, want) in records.iter().zip(&wanted) {
            let mut fields = want.splitn(5, '\t');
            let head: Vec<&str> = fields.by_ref().take(4).collect();
            let got = summary(r);
            if got != head.join("\t") {
                problems.push(format!("got {got:?}, expected {:?}", head.join("\t")));
            }
            let evidence = r["evidence"].as_str().unwrap_or("");
            if let Some(label) = fields.next()
                && !evidence.starts_with(label.trim_end())
            {
                problems.push(format!(
                    "evidence {evidence:?} does not show the label {label:?}"
                ));
            }
            if esp_from_folder {
                let folder = file.rsplit('/').nth(1).unwrap();
                if r["source"]["esp"] != folder || !r["source"]["event_id"].is_string() {
                    problems.push(format!(
                        "source {} (expected esp {folder:?} and an event_id)",
                        r["source"]
                    ));
                }
                if r["mta"].is_null() || r["rule"].as_str().unwrap_or("").is_empty() {
                    problems.push(format!("mta {} rule {}", r["mta"], r["rule"]));
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{file}: {}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}\n{run}", failures.join("\n"));
}

#[test]
fn every_provider_and_event_type_gives_its_expected_records() {
    let files = fixtures("fixtures/events", Some(".json"));
    let providers: std::collections::BTreeSet<String> = files
        .iter()
        .map(|(f, _)| f.rsplit('/').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(
        providers.into_iter().collect::<Vec<_>>(),
        [
            "brevo",
            "mailgun",
            "mailjet",
            "postal",
            "postmark",
            "sendgrid",
            "ses",
            "sparkpost"
        ]
    );
    check("events", &files, true);
}

#[test]
fn mail_log_lines_give_one_record_per_attempt() {
    let files = fixtures("fixtures/maillog", None);
    assert!(files.len() >= 4);
    check("maillog", &files, false);
}

/// The same input read twice in one run: every event and log line once.
#[test]
fn duplicates_in_one_run_are_dropped() {
    let root = repo_root();
    for (input, file) in [
        (
            "events",
            "fixtures/events/sendgrid/006-engagement-and-list-events.json",
        ),
        (
            "events",
            "fixtures/events/ses/001-bounce-permanent-sns.json",
        ),
        ("maillog", "fixtures/maillog/postfix.log"),
        ("maillog", "fixtures/maillog/powermta-acct.csv"),
    ] {
        let once = bclassify(&["--input", input, file], None, &root);
        let twice = bclassify(&["--input", input, file, file], None, &root);
        twice.expect_code(0);
        assert!(!once.records().is_empty(), "{once}");
        assert_eq!(once.records().len(), twice.records().len(), "{twice}");
    }
}

/// An SNS notification and the same event published raw read alike.
#[test]
fn sns_wrapped_and_raw_ses_read_alike() {
    let root = repo_root();
    let text =
        std::fs::read_to_string(root.join("fixtures/events/ses/003-complaint-sns.json")).unwrap();
    let sns: Value = serde_json::from_str(&text).unwrap();
    let raw = sns["Message"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let a = bclassify(
        &["--input", "events", "-"],
        Some(text.as_bytes()),
        dir.path(),
    );
    let b = bclassify(&[], Some(raw.as_bytes()), dir.path());
    let (a, b) = (a.records(), b.records());
    assert_eq!(a.len(), 1);
    for k in ["recipient", "category", "reason", "feedback_type", "date"] {
        assert_eq!(a[0][k], b[0][k], "{k}");
    }
    assert_eq!(b[0]["source"]["esp"], "ses");
}

/// Without `--input`, a JSON array or an event object is read as events.
#[test]
fn events_are_detected_from_the_first_bytes() {
    let root = repo_root();
    for f in [
        "fixtures/events/sendgrid/001-bounce-user-unknown.json",
        "fixtures/events/mailgun/001-failed-permanent.json",
        "fixtures/events/postmark/001-hardbounce.json",
    ] {
        let run = bclassify(&[f], None, &root);
        let records = run.expect_code(0).records();
        assert_eq!(records.len(), 1, "{run}");
        assert_eq!(records[0]["category"], "hard", "{run}");
    }
}

/// A broken event is reported with its input and position, the others are
/// still classified, and the exit code says that something failed.
#[test]
fn a_broken_event_is_reported_and_the_rest_still_read() {
    let input = b"{\"event\":\"bounce\",\"email\":\"a@example.com\",\"sg_event_id\":\"1\",\"reason\":\"550 5.1.1 no such user\",\"status\":\"5.1.1\"}\n{\"event\": bounce}\nnot json at all\n{\"shape\":\"unknown\"}\n{\"event\":\"spamreport\",\"email\":\"b@example.com\",\"sg_event_id\":\"2\"}\n";
    let dir = tempfile::tempdir().unwrap();
    let run = bclassify(&["--input", "events", "-"], Some(input), dir.path());
    run.expect_code(65);
    let records = run.records();
    let cats: Vec<&str> = records
        .iter()
        .map(|r| r["category"].as_str().unwrap())
        .collect();
    assert_eq!(cats, ["hard", "unknown", "complaint"], "{run}");
    assert_eq!(records[1]["rule"], "unknown-event");
    let err = run.stderr();
    assert!(err.contains("<stdin>: event 2: invalid JSON"), "{run}");
    assert!(err.contains("<stdin>: line 3: not a JSON object"), "{run}");
}

#[test]
fn smtp_replies_one_record_each_multi_line_joined() {
    let input = "ann@example.com\t550-5.1.1 The email account that you tried to reach does not exist. Please try\n550-5.1.1 double-checking the recipient's email address for typos or\n550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser - gsmtp\nbo@example.org\t452 4.2.2 Mailbox full\ncy@example.net\t250 2.0.0 OK queued\ndee@example.com\t550 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org\nno tab on this line\n";
    let dir = tempfile::tempdir().unwrap();
    let run = bclassify(
        &["--input", "reply", "-"],
        Some(input.as_bytes()),
        dir.path(),
    );
    run.expect_code(65);
    let got: Vec<String> = run.records().iter().map(summary).collect();
    assert_eq!(
        got,
        [
            "ann@example.com\thard\thard\tuserunknown",
            "bo@example.org\tsoft\tsoft\tmailboxfull",
            "cy@example.net\tdelivered\t-\tdelivered",
            "dee@example.com\tblocked\tsoft\tblocked",
        ],
        "{run}"
    );
    let first = &run.records()[0];
    assert!(
        first["diagnostic"]
            .as_str()
            .unwrap()
            .contains("Please try double-checking"),
        "{run}"
    );
    assert!(
        run.stderr()
            .contains("<stdin>: line 7: expected ADDRESS<TAB>REPLY"),
        "{run}"
    );
}

/// A bare reply never names the SMTP command, so user-unknown wording is
/// the address, in English as in other languages, with or without a status.
#[test]
fn smtp_replies_without_a_status_say_what_they_say() {
    let input = "ann@example.com\t550 Benutzer unbekannt\nbo@example.org\t550 no such user here\ncy@example.net\t550 Der Empf\u{e4}nger ist unbekannt\ndee@example.com\t452 Mailbox full\neva@example.es\t550 la cuenta no existe en este servidor\nfe@example.es\t550 la direcci\u{f3}n de correo electr\u{f3}nico no existe\ngil@example.es\t550 5.2.1 buz\u{f3}n deshabilitado\n";
    let dir = tempfile::tempdir().unwrap();
    let run = bclassify(
        &["--input", "reply", "-"],
        Some(input.as_bytes()),
        dir.path(),
    );
    run.expect_code(0);
    let got: Vec<String> = run.records().iter().map(summary).collect();
    assert_eq!(
        got,
        [
            "ann@example.com\thard\thard\tuserunknown",
            "bo@example.org\thard\thard\tuserunknown",
            "cy@example.net\thard\thard\tuserunknown",
            "dee@example.com\tsoft\tsoft\tmailboxfull",
            "eva@example.es\thard\thard\tuserunknown",
            "fe@example.es\thard\thard\tuserunknown",
            "gil@example.es\thard\tsoft\tsuspend",
        ],
        "{run}"
    );
}

/// `bclassify --input events x.json | bapply` with the default policy:
/// hard bounces and complaints act at once, a block of the sender does not.
#[test]
fn events_through_bapply_with_the_default_policy() {
    let root = repo_root();
    let files = [
        "fixtures/events/sendgrid/001-bounce-user-unknown.json",
        "fixtures/events/sendgrid/002-bounce-label-but-spam-block.json",
        "fixtures/events/ses/003-complaint-sns.json",
        "fixtures/events/mailjet/002-hard-bounce-label-but-mailbox-full.json",
        "fixtures/events/postmark/004-subscriptionchange.json",
    ];
    let mut args = vec!["--input", "events"];
    args.extend(files);
    let classified = bclassify(&args, None, &root);
    classified.expect_code(0);
    let env = support::bapply::Env::new();
    let out = env
        .bapply_raw(&["--force", "--format", "csv"], &classified.out.stdout)
        .expect(0);
    let rows = out.csv();
    let action = |addr: &str| {
        rows.iter()
            .find(|r| r.values().any(|v| v == addr))
            .map(|r| r.get("action").cloned().unwrap_or_default())
    };
    assert_eq!(action("ann@example.com").as_deref(), Some("block"), "{out}");
    assert_eq!(
        action("dan@example.com").as_deref(),
        Some("unsubscribe"),
        "{out}"
    );
    assert_eq!(
        action("dot@example.com").as_deref(),
        Some("unsubscribe"),
        "{out}"
    );
    assert_eq!(
        action("ben@example.org"),
        None,
        "a mailbox-full is not acted on once:\n{out}"
    );
    // The same events again: nothing new.
    let again = env
        .bapply_raw(&["--force", "--format", "csv"], &classified.out.stdout)
        .expect(0);
    assert!(again.csv().is_empty(), "{again}");
}
