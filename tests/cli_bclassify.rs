//! bclassify as users run it: stdin and files, formats, exit codes, hook
//! mode, broken pipes, rule files, and hostile input.

use crate::support::{repo_root, run, shared_corpus};
use std::io::Write;

const BIN: &str = env!("CARGO_BIN_EXE_bclassify");

const BOUNCE: &str = "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\nTo: news@list.example.com\nSubject: Undelivered Mail Returned to Sender\nDate: Mon, 2 Nov 2026 10:00:00 +0000\nMessage-ID: <b1@mx.example.org>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.org.\n\n<gone@example.net>: host mx.example.net[192.0.2.7] said: 550 5.1.1\n    <gone@example.net>: Recipient address rejected: User unknown in local\n    recipient table (in reply to RCPT TO command)\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.net>: Recipient address\n    rejected: User unknown in local recipient table\n\n--B\nContent-Type: text/rfc822-headers\n\nMessage-ID: <n1@list.example.com>\nFrom: news@list.example.com\nTo: gone@example.net\nSubject: November news\nX-Subscriber-Id: 4711\n\n--B--\n";

const NOT_BOUNCE: &str = "From: Alice <alice@example.org>\nTo: bob@example.com\nSubject: lunch?\nDate: Mon, 2 Nov 2026 10:00:00 +0000\nMessage-ID: <h1@example.org>\n\nShall we meet at noon?\n";

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn mbox_of(messages: &[&str]) -> String {
    let mut s = String::new();
    for m in messages {
        s.push_str("From MAILER-DAEMON Mon Nov  2 10:00:00 2026\n");
        for line in m.lines() {
            if line.starts_with("From ") {
                s.push('>');
            }
            s.push_str(line);
            s.push('\n');
        }
        s.push('\n');
    }
    s
}

#[test]
fn one_message_on_stdin() {
    let d = tmp();
    let r = run(BIN, &[], Some(BOUNCE.as_bytes()), d.path());
    r.expect_code(0);
    let recs = r.records();
    assert_eq!(recs.len(), 1, "{r}");
    let rec = &recs[0];
    assert_eq!(rec["v"], 1);
    assert_eq!(rec["recipient"], "gone@example.net");
    assert_eq!(rec["category"], "hard");
    assert_eq!(rec["reason"], "userunknown");
    assert_eq!(rec["bounce"], "hard");
    assert_eq!(rec["status"], "5.1.1");
    assert_eq!(rec["smtp_code"], 550);
    assert_eq!(rec["subscriber"], "4711");
    assert_eq!(rec["original"]["message_id"], "<n1@list.example.com>");
    assert_eq!(rec["original"]["subject"], "November news");
    assert!(rec["rule"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(rec["evidence"].as_str().is_some_and(|s| s.len() <= 200 * 4));
    assert!(
        rec["source"].get("path").is_none(),
        "stdin has no path: {r}"
    );
}

#[test]
fn dash_means_stdin_and_envelope_line_is_dropped() {
    let d = tmp();
    let input = format!("From MAILER-DAEMON Mon Nov  2 10:00:00 2026\n{BOUNCE}");
    let r = run(BIN, &["-"], Some(input.as_bytes()), d.path());
    r.expect_code(0);
    assert_eq!(r.records().len(), 1, "{r}");
    assert_eq!(r.records()[0]["recipient"], "gone@example.net");
}

#[test]
fn mbox_with_crlf_and_cr_line_endings() {
    let d = tmp();
    let mbox = mbox_of(&[BOUNCE, NOT_BOUNCE, BOUNCE]);
    for (name, data) in [
        ("lf.mbox", mbox.clone()),
        ("crlf.mbox", mbox.replace('\n', "\r\n")),
        ("cr.mbox", mbox.replace('\n', "\r")),
    ] {
        std::fs::write(d.path().join(name), &data).unwrap();
        let r = run(BIN, &[name], None, d.path());
        r.expect_code(0);
        let recs = r.records();
        assert_eq!(recs.len(), 3, "{name}: {r}");
        assert_eq!(recs[0]["category"], "hard", "{name}: {r}");
        assert_eq!(recs[1]["category"], "unknown", "{name}: {r}");
        assert_eq!(recs[1]["recipient"], serde_json::Value::Null);
        assert_eq!(recs[2]["source"]["index"], 2);
        assert_eq!(recs[0]["source"]["offset"], 0);
        assert!(recs[1]["source"]["offset"].as_u64().unwrap() > 0);
    }
}

#[test]
fn maildir_eml_files_and_ndjson_mixed() {
    let d = tmp();
    let md = d.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    std::fs::write(md.join("new/1.host"), BOUNCE).unwrap();
    std::fs::write(md.join("cur/2.host:2,S"), NOT_BOUNCE).unwrap();
    std::fs::write(d.path().join("one.eml"), BOUNCE).unwrap();
    let mut nd = String::new();
    nd.push_str(&serde_json::json!({"mailbox": "INBOX", "uidvalidity": 7, "uid": 42, "flags": [], "raw": BOUNCE}).to_string());
    nd.push('\n');
    use base64::Engine;
    let mut binary = BOUNCE.as_bytes().to_vec();
    binary.extend_from_slice(b"\xff\xfe trailing bytes\n");
    nd.push_str(&serde_json::json!({"mailbox": "INBOX", "uidvalidity": 7, "uid": 43, "flags": [], "raw_base64": base64::engine::general_purpose::STANDARD.encode(&binary)}).to_string());
    nd.push('\n');
    std::fs::write(d.path().join("batch.ndjson"), nd).unwrap();
    let r = run(BIN, &["Maildir", "one.eml", "batch.ndjson"], None, d.path());
    r.expect_code(0);
    let recs = r.records();
    assert_eq!(recs.len(), 5, "{r}");
    // cur/ before new/, sorted
    assert_eq!(recs[0]["category"], "unknown", "{r}");
    assert_eq!(recs[1]["category"], "hard");
    assert_eq!(recs[2]["source"]["path"], "one.eml");
    assert_eq!(recs[3]["source"]["uid"], 42);
    assert_eq!(recs[3]["source"]["mailbox"], "INBOX");
    assert_eq!(recs[3]["source"]["uidvalidity"], 7);
    assert_eq!(recs[4]["source"]["uid"], 43);
    assert_eq!(recs[4]["category"], "hard");
}

#[test]
fn quiet_mode_exit_codes() {
    let d = tmp();
    let r = run(BIN, &["-q"], Some(BOUNCE.as_bytes()), d.path());
    r.expect_code(0);
    assert!(r.out.stdout.is_empty(), "{r}");
    let r = run(BIN, &["-q"], Some(NOT_BOUNCE.as_bytes()), d.path());
    r.expect_code(1);
    assert!(r.out.stdout.is_empty(), "{r}");
}

#[test]
fn hook_mode_exits_75_on_unreadable_input() {
    let d = tmp();
    let r = run(BIN, &["--hook", "does-not-exist.eml"], None, d.path());
    r.expect_code(75);
    assert!(r.stderr().contains("does-not-exist.eml"), "{r}");
    let r = run(
        BIN,
        &["--hook", "--no-such-flag"],
        Some(BOUNCE.as_bytes()),
        d.path(),
    );
    r.expect_code(75);
    let r = run(BIN, &["--hook"], Some(BOUNCE.as_bytes()), d.path());
    r.expect_code(0);
}

#[test]
fn missing_input_is_66_and_the_rest_is_still_classified() {
    let d = tmp();
    std::fs::write(d.path().join("one.eml"), BOUNCE).unwrap();
    let r = run(BIN, &["missing.mbox", "one.eml"], None, d.path());
    r.expect_code(66);
    assert_eq!(r.records().len(), 1, "{r}");
    assert!(r.stderr().starts_with("bclassify: missing.mbox: "), "{r}");
    assert_eq!(r.stderr().lines().count(), 1, "{r}");
}

#[test]
fn bad_ndjson_line_is_reported_with_its_line_and_others_go_on() {
    let d = tmp();
    let good = serde_json::json!({"raw": BOUNCE}).to_string();
    let input = format!("{good}\n{{not json\n{good}\n");
    let r = run(BIN, &[], Some(input.as_bytes()), d.path());
    r.expect_code(65);
    assert_eq!(r.records().len(), 2, "{r}");
    assert!(r.stderr().contains("<stdin>: line 2:"), "{r}");
}

#[test]
fn broken_pipe_ends_quietly() {
    let d = tmp();
    let big = mbox_of(&vec![BOUNCE; 3000]);
    std::fs::write(d.path().join("big.mbox"), big).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{BIN}' big.mbox | head -1; echo \"status=${{PIPESTATUS:-x}}\""
        ))
        .current_dir(d.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{BIN}' big.mbox | head -1 >/dev/null; exit ${{PIPESTATUS[0]}}"
        ))
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        status.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn printed_rules_reload_to_the_same_results() {
    let d = tmp();
    let printed = run(BIN, &["--print-rules"], None, d.path());
    printed.expect_code(0);
    let text = printed.stdout();
    assert!(text.contains("name = \"final\""));
    for name in [
        "action-required",
        "list-unsubscribe",
        "acknowledge-subject",
        "feedback-loop",
        "feedback-loop-body",
        "mailbox-full",
        "google-groups",
        "mailbox-does-not-exist-1",
        "mailbox-does-not-exist-2",
        "recipient-filters",
        "domain-does-not-exist",
        "temporary-failure",
        "failed-permanently",
        "acknowledge-body",
        "final",
    ] {
        assert!(
            text.contains(&format!("name = \"{name}\"")),
            "missing built-in rule {name}"
        );
    }
    std::fs::write(
        d.path().join("all.toml"),
        text.replacen("replace = false", "replace = true", 1),
    )
    .unwrap();
    std::fs::write(d.path().join("b.eml"), BOUNCE).unwrap();
    let a = run(BIN, &["b.eml"], None, d.path());
    let b = run(BIN, &["--rules", "all.toml", "b.eml"], None, d.path());
    assert_eq!(a.stdout(), b.stdout());
}

#[test]
fn user_rules_go_first_and_bad_rule_files_exit_78() {
    let d = tmp();
    std::fs::write(d.path().join("b.eml"), BOUNCE).unwrap();
    std::fs::write(
        d.path().join("mine.toml"),
        "[[rule]]\nname = \"our-relay-is-blocked\"\ncategory = \"blocked\"\nreason = \"blocked\"\ndiagnostic = '''local recipient table'''\n",
    )
    .unwrap();
    let r = run(BIN, &["--rules", "mine.toml", "b.eml"], None, d.path());
    r.expect_code(0);
    assert_eq!(r.records()[0]["rule"], "our-relay-is-blocked");
    assert_eq!(r.records()[0]["category"], "blocked");
    assert_eq!(r.records()[0]["evidence"], "local recipient table");

    std::fs::write(
        d.path().join("bad.toml"),
        "[[rule]]\nname = \"oops\"\nreason = \"userunknown\"\nbody = '''(unclosed'''\n",
    )
    .unwrap();
    let r = run(BIN, &["--rules", "bad.toml", "b.eml"], None, d.path());
    r.expect_code(78);
    assert!(
        r.stderr().contains("bad.toml")
            && r.stderr().contains("oops")
            && r.stderr().contains("body"),
        "{r}"
    );
    assert!(r.out.stdout.is_empty(), "{r}");
    let r = run(BIN, &["--rules", "nowhere.toml", "b.eml"], None, d.path());
    r.expect_code(78);
}

/// A DSN refusing the content with words no built-in list knows.
const GRADE_Z: &str = "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\nTo: news@list.example.com\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <b2@mx.example.org>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\n<reader@example.net>: host mx.example.net[192.0.2.7] said: 554 Message\n    refused: grade Z content (in reply to end of DATA command)\n\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; reader@example.net\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 554 Message refused: grade Z content\n\n--B--\n";

#[test]
fn named_patterns_are_shared_by_user_and_built_in_rules() {
    let d = tmp();
    std::fs::write(d.path().join("z.eml"), GRADE_Z).unwrap();
    let r = run(BIN, &["z.eml"], None, d.path());
    r.expect_code(0);
    assert_ne!(r.records()[0]["reason"], "spamdetected", "{r}");

    // Redefining a built-in list changes the built-in rules that use it.
    std::fs::write(
        d.path().join("spam.toml"),
        "[patterns]\nspam_content = '''grade z content|looks like spam'''\n",
    )
    .unwrap();
    let r = run(BIN, &["--rules", "spam.toml", "z.eml"], None, d.path());
    r.expect_code(0);
    assert_eq!(r.records()[0]["rule"], "spam-detected", "{r}");
    assert_eq!(r.records()[0]["evidence"], "grade Z content", "{r}");

    // A user rule may use its own lists and the built-in ones.
    std::fs::write(
        d.path().join("mine.toml"),
        "[patterns]\ngrades = '''grade [x-z] content'''\n\n[[rule]]\nname = \"graded\"\ncategory = \"blocked\"\nreason = \"spamdetected\"\ndiagnostic = '''^554 message refused: (?&grades)$'''\n\n[[rule]]\nname = \"unknown-or-graded\"\nreason = \"userunknown\"\ndiagnostic = '''((?&user_unknown)|(?&grades))'''\n",
    )
    .unwrap();
    let r = run(BIN, &["--rules", "mine.toml", "z.eml"], None, d.path());
    r.expect_code(0);
    assert_eq!(r.records()[0]["rule"], "graded", "{r}");
    // The built-in list in a user rule: the unknown user of BOUNCE.
    std::fs::write(d.path().join("b.eml"), BOUNCE).unwrap();
    let r = run(BIN, &["--rules", "mine.toml", "b.eml"], None, d.path());
    assert_eq!(r.records()[0]["rule"], "unknown-or-graded", "{r}");

    // A later file's definition replaces an earlier one's.
    std::fs::write(
        d.path().join("grades-a.toml"),
        "[patterns]\ngrades = '''grade a content'''\n",
    )
    .unwrap();
    let r = run(
        BIN,
        &["--rules", "mine.toml", "--rules", "grades-a.toml", "z.eml"],
        None,
        d.path(),
    );
    assert_ne!(r.records()[0]["rule"], "graded", "{r}");
    let r = run(
        BIN,
        &["--rules", "grades-a.toml", "--rules", "mine.toml", "z.eml"],
        None,
        d.path(),
    );
    assert_eq!(r.records()[0]["rule"], "graded", "{r}");

    // A name that is not defined, or a list that names another: exit 78.
    std::fs::write(
        d.path().join("typo.toml"),
        "[[rule]]\nname = \"typo\"\nreason = \"blocked\"\ndiagnostic = '''(?&user_unknwon)'''\n",
    )
    .unwrap();
    let r = run(BIN, &["--rules", "typo.toml", "z.eml"], None, d.path());
    r.expect_code(78);
    assert!(
        r.stderr().contains("typo.toml")
            && r.stderr().contains("\"typo\"")
            && r.stderr().contains("(?&user_unknwon)"),
        "{r}"
    );
    std::fs::write(
        d.path().join("nested.toml"),
        "[patterns]\nboth = '''(?&user_unknown)|(?&spam_content)'''\n",
    )
    .unwrap();
    let r = run(BIN, &["--rules", "nested.toml", "z.eml"], None, d.path());
    r.expect_code(78);
    assert!(r.stderr().contains("cannot nest"), "{r}");
}

#[test]
fn unmatched_messages_are_appended_to_an_mbox() {
    let d = tmp();
    std::fs::write(d.path().join("in.mbox"), mbox_of(&[BOUNCE, NOT_BOUNCE])).unwrap();
    let r = run(
        BIN,
        &["--unmatched", "review.mbox", "in.mbox"],
        None,
        d.path(),
    );
    r.expect_code(0);
    let review = std::fs::read_to_string(d.path().join("review.mbox")).unwrap();
    assert_eq!(
        review.matches("\nFrom ").count() + review.starts_with("From ") as usize,
        1,
        "{review}"
    );
    assert!(review.contains("Shall we meet at noon?"));
    // and it reads back as one message
    let r = run(BIN, &["review.mbox"], None, d.path());
    assert_eq!(r.records().len(), 1, "{r}");
}

#[test]
fn usage_errors_exit_64() {
    let d = tmp();
    let r = run(BIN, &["--input", "nonsense"], Some(b""), d.path());
    r.expect_code(64);
    let r = run(BIN, &["--help"], None, d.path());
    r.expect_code(0);
    assert!(r.stdout().contains("--unmatched"));
}

/// Hostile input: every one gives records, never a crash or a hang.
#[test]
fn hostile_messages_still_give_records() {
    let d = tmp();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated-mime", b"Content-Type: multipart/report; boundary=\"x\"\nFrom: MAILER-DAEMON@a.example\n\n--x\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; u@b.example\nAction: fail".to_vec()),
        ("no-separator", b"From: a@b.example\nSubject: x\nbody without blank line".to_vec()),
        ("nul-bytes", b"From: MAILER-DAEMON@a.example\nSubject: Undelivered\n\n\0\0<u@b.example>: 550 5.1.1 no\0such user\n".to_vec()),
        ("bad-charset", "From: a@b.example\nSubject: =?x-unknown?B?////?=\nContent-Type: text/plain; charset=x-nonsense\nContent-Transfer-Encoding: base64\n\n!!!not base64!!!\n".as_bytes().to_vec()),
    ];
    let mut long_header = b"From: a@b.example\nX-Long: ".to_vec();
    long_header.extend(std::iter::repeat_n(b'a', 10 << 20));
    long_header.extend_from_slice(b"\n\nbody\n");
    cases.push(("10mb-header", long_header));
    let mut nested =
        b"From: a@b.example\nContent-Type: multipart/mixed; boundary=\"b0\"\n\n".to_vec();
    for i in 0..5000 {
        nested.extend_from_slice(
            format!(
                "--b{i}\nContent-Type: multipart/mixed; boundary=\"b{}\"\n\n",
                i + 1
            )
            .as_bytes(),
        );
    }
    cases.push(("deep-nesting", nested));
    for (name, bytes) in &cases {
        let path = d.path().join(format!("{name}.eml"));
        std::fs::write(&path, bytes).unwrap();
        let r = run(BIN, &[&format!("{name}.eml")], None, d.path());
        r.expect_code(0);
        assert_eq!(r.records().len(), 1, "{name}: {r}");
        assert!(!r.stderr().contains("panicked"), "{name}: {r}");
    }
    // Issue 15: no message, no record; what is not mail, one error.
    std::fs::write(d.path().join("empty.eml"), b"").unwrap();
    let r = run(BIN, &["empty.eml"], None, d.path());
    r.expect_code(0);
    assert_eq!(r.records().len(), 0, "{r}");
    let binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    std::fs::write(d.path().join("binary.eml"), binary).unwrap();
    let r = run(BIN, &["binary.eml"], None, d.path());
    r.expect_code(65);
    assert_eq!(r.stdout(), "", "{r}");
    assert_eq!(r.stderr(), "bclassify: binary.eml: binary data, not mail\n");
    // an mbox that ends in the middle of a message
    let mut mbox = mbox_of(&[BOUNCE, BOUNCE]).into_bytes();
    mbox.truncate(mbox.len() - 300);
    std::fs::write(d.path().join("cut.mbox"), &mbox).unwrap();
    let r = run(BIN, &["cut.mbox"], None, d.path());
    r.expect_code(0);
    assert_eq!(r.records().len(), 2, "{r}");
}

#[test]
fn oversized_message_is_cut_with_a_warning() {
    let d = tmp();
    let mut big = BOUNCE.as_bytes().to_vec();
    big.extend(std::iter::repeat_n(b'x', 200_000));
    std::fs::write(d.path().join("big.eml"), big).unwrap();
    let r = run(
        BIN,
        &["--max-message-size", "65536", "big.eml"],
        None,
        d.path(),
    );
    r.expect_code(0);
    assert_eq!(r.records()[0]["recipient"], "gone@example.net", "{r}");
    assert!(
        r.stderr().contains("big.eml: message 1: longer than"),
        "{r}"
    );
}

#[test]
fn man_page_and_flags_are_in_step() {
    let help = run(BIN, &["--help"], None, &repo_root()).stdout();
    let man = std::fs::read_to_string(repo_root().join("man/bclassify.1")).unwrap();
    let flags_in_help: std::collections::BTreeSet<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']' || c == '=')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(['.', ':']).to_string())
        .collect();
    let flags_in_man: std::collections::BTreeSet<String> = man
        .lines()
        .filter(|l| l.starts_with(".It Fl") || l.starts_with(".Fl") || l.contains("Fl -"))
        .flat_map(|l| {
            l.split("Fl ")
                .skip(1)
                .filter_map(|s| s.split_whitespace().next())
                .filter(|s| s.starts_with('-') && s.len() > 1)
                .map(|s| format!("-{}", s.trim_end_matches(',')))
                .collect::<Vec<_>>()
        })
        .filter(|f| f.starts_with("--"))
        .collect();
    for f in &flags_in_help {
        assert!(
            flags_in_man.contains(f),
            "{f} is in --help but not in man/bclassify.1"
        );
    }
    for f in &flags_in_man {
        assert!(
            flags_in_help.contains(f),
            "{f} is in man/bclassify.1 but not in --help"
        );
    }
}

#[test]
fn shared_corpus_every_file_gives_output() {
    let Some(corpus) = shared_corpus() else {
        return;
    };
    for dir in ["err", "not"] {
        let mut files: Vec<_> = std::fs::read_dir(corpus.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let args: Vec<String> = files
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(BIN, &argv, None, &repo_root());
        r.expect_code(0);
        let recs = r.records();
        for f in &files {
            let name = f.to_string_lossy();
            assert!(
                recs.iter().any(|x| x["source"]["path"] == name.as_ref()),
                "{name}: no record"
            );
        }
        if dir == "not" {
            assert!(
                recs.iter()
                    .all(|x| x["category"] == "unknown" && x["bounce"].is_null()),
                "{r}"
            );
        }
    }
    let _ = std::io::stderr().flush();
}
