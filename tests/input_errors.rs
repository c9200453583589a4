//! Issue 15, input errors: no message makes no record, what is not mail is
//! one clear error naming the input, at most ten per-message errors per
//! input, and addresses checked before they become records. The chain
//! `bfetch --new | bclassify | bapply && bfetch ack` succeeds on an empty
//! mailbox.

use crate::support::dovecot::{Dovecot, PASSWORD, USER};
use crate::support::{Run, run};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bclassify");

#[test]
fn no_message_no_record() {
    let d = tempfile::tempdir().unwrap();
    for input in [
        &b""[..],
        b"\n\n",
        b"\r\n",
        b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n",
    ] {
        let r = run(BIN, &[], Some(input), d.path());
        r.expect_code(0);
        assert_eq!(r.stdout(), "", "{input:?}: {r}");
        assert_eq!(r.stderr(), "", "{input:?}: {r}");
    }
    std::fs::write(d.path().join("empty.mbox"), b"").unwrap();
    std::fs::write(d.path().join("empty.ndjson"), b"\n").unwrap();
    let r = run(BIN, &["empty.mbox", "empty.ndjson"], None, d.path());
    r.expect_code(0);
    assert_eq!(r.stdout(), "", "{r}");
    // An empty Maildir is a Maildir with nothing in it: no error.
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(d.path().join("Maildir").join(sub)).unwrap();
    }
    run(BIN, &["Maildir"], None, d.path()).expect_code(0);
}

#[test]
fn what_is_not_mail_is_one_error_naming_the_input() {
    let d = tempfile::tempdir().unwrap();
    let w = |name: &str, bytes: &[u8]| std::fs::write(d.path().join(name), bytes).unwrap();
    w(
        "photo.jpg",
        b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0",
    );
    // A JSON array of objects is ESP events (--input events); a JSON
    // string is nothing bclassify reads.
    w("string.json", br#""a JSON string, not mail""#);
    w("wrong.json", b"{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
    std::fs::create_dir(d.path().join("notes")).unwrap();
    std::fs::create_dir(d.path().join("notes/sub")).unwrap();
    let cases = [
        ("photo.jpg", "photo.jpg: binary data, not mail"),
        (
            "string.json",
            "string.json: JSON that is not a message stream",
        ),
        (
            "wrong.json",
            "wrong.json: line 1: not a bfetch NDJSON message stream",
        ),
        ("notes", "notes: not a Maildir folder (no cur/ or new/)"),
    ];
    for (input, want) in cases {
        let r = run(BIN, &[input], None, d.path());
        r.expect_code(65);
        assert_eq!(r.stdout(), "", "{r}");
        assert_eq!(r.stderr().lines().count(), 1, "{r}");
        assert!(r.stderr().starts_with(&format!("bclassify: {want}")), "{r}");
    }
    // A wrong --input: one line, not one per line of the file.
    let mbox = crate::support::repo_root().join("fixtures/sample.mbox");
    let r = run(
        BIN,
        &["--input", "ndjson", mbox.to_str().unwrap()],
        None,
        d.path(),
    );
    r.expect_code(65);
    assert_eq!(r.stderr().lines().count(), 1, "{r}");
    assert!(
        r.stderr().contains("not a bfetch NDJSON message stream"),
        "{r}"
    );
}

#[test]
fn at_most_ten_errors_per_input_then_a_count() {
    let d = tempfile::tempdir().unwrap();
    let mut input = String::from("{\"raw\":\"Subject: hello\\n\\nhi\\n\"}\n");
    for i in 0..25 {
        input.push_str(&format!("{{\"raw\":{i}}}\n"));
    }
    input.push_str("{\"raw\":\"Subject: last\\n\\nhi\\n\"}\n");
    let r = run(BIN, &[], Some(input.as_bytes()), d.path());
    r.expect_code(65);
    assert_eq!(
        r.records().len(),
        2,
        "the good lines around the bad ones: {r}"
    );
    let err: Vec<String> = r.stderr().lines().map(str::to_string).collect();
    assert_eq!(err.len(), 11, "{r}");
    assert!(err[0].starts_with("bclassify: <stdin>: line 2: "), "{r}");
    assert_eq!(
        err[10],
        "bclassify: <stdin>: 15 more errors not shown (25 in all)"
    );
}

#[test]
fn addresses_are_checked_before_they_become_records() {
    let d = tempfile::tempdir().unwrap();
    let msg = "From: MAILER-DAEMON@mx.example.net\nTo: bounces@example.com\n\
               Subject: Undelivered Mail Returned to Sender\n\
               X-Failed-Recipients: bad\u{1}user@example.org\n\
               Content-Type: text/plain\n\n\
               This is the mail system.\n\n\
               <bad\u{1}user@example.org>: host mx.example.org said: 550 5.1.1 User unknown\n";
    let r = run(BIN, &[], Some(msg.as_bytes()), d.path());
    r.expect_code(0);
    let records = r.records();
    assert!(!records.is_empty(), "{r}");
    for rec in &records {
        assert!(rec["recipient"].is_null(), "{r}");
        assert!(
            rec["evidence"]
                .as_str()
                .is_some_and(|e| e.contains("bad\u{1}user@example.org")),
            "{r}"
        );
    }
}

/// The SPEC's chain on a mailbox with no new mail: every step exits 0.
#[test]
fn chain_with_ack_succeeds_with_no_new_mail() {
    if crate::support::find_program(&["sqlite3"]).is_none() {
        return crate::support::skip("sqlite3");
    }
    let Some(dv) = Dovecot::start() else { return };
    let bins = Path::new(env!("CARGO_BIN_EXE_bfetch")).parent().unwrap();
    let work = tempfile::tempdir().unwrap();
    let conn = format!(
        "--host 127.0.0.1 --port {} --user {USER} --ca-file {}",
        dv.imaps_port,
        dv.cert().display()
    );
    let script = format!(
        "set -e\n\
         sqlite3 contacts.db 'CREATE TABLE contacts (email TEXT PRIMARY KEY, status TEXT)'\n\
         bfetch {conn} --new > batch.ndjson\n\
         bclassify batch.ndjson > events.jsonl\n\
         bapply events.jsonl --apply sqlite:contacts.db --state state.sqlite\n\
         bfetch ack {conn} --move Processed < events.jsonl\n\
         bfetch {conn} --new | bclassify | bapply --state state.sqlite > updates.csv\n\
         wc -c < events.jsonl\n"
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(work.path())
        .env("PATH", format!("{}:/usr/bin:/bin", bins.display()))
        .env("HOME", dv.home.path())
        .env("XDG_STATE_HOME", dv.home.path().join("state"))
        .env("BFETCH_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let r = Run { cmd: script, out };
    r.expect_code(0);
    assert_eq!(
        r.stdout().trim(),
        "0",
        "no records from an empty mailbox: {r}"
    );
}

/// What the fuzz targets once stopped at (`fuzz/regressions/TARGET/`):
/// each input still gives records and no internal error.
#[test]
fn fuzz_regressions_give_records() {
    let dir = crate::support::repo_root().join("fuzz/regressions/classify");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let r = run(BIN, &[], Some(&bytes), &dir);
        r.expect_code(0);
        assert!(r.stdout().lines().count() >= 1, "{}: {r}", path.display());
        assert!(
            !r.stderr().contains("internal error"),
            "{}: {r}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen > 0, "no regression inputs in {}", dir.display());
}
