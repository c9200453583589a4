//! Issue 14, points 2 and 3: signed return paths. `btag sign` and `btag
//! verify` round trip; bclassify --tag-key marks a bounce that came back
//! to a valid signed path `signed` and anything else `unverified`; bapply
//! --require-provenance acts only on signed or known records. The
//! templates in fixtures/btag/ are filled in at run time, since a tag is
//! only valid for a while after it is made.

use crate::support::{Run, find_program, repo_root, run, skip};
use serde_json::Value;
use std::path::Path;

const BASE: &str = "bounces@list.example.com";

fn bin(name: &str) -> &'static str {
    match name {
        "btag" => env!("CARGO_BIN_EXE_btag"),
        "bclassify" => env!("CARGO_BIN_EXE_bclassify"),
        _ => env!("CARGO_BIN_EXE_bapply"),
    }
}

/// A scratch directory with a key file `key`.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "example-key-0123456789abcdef\n").unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn run(&self, name: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
        run(bin(name), args, stdin, self.path())
    }

    /// `btag sign` of one address (as of `date`, or today).
    fn sign(&self, address: &str, date: Option<&str>) -> String {
        let mut args = vec!["sign", "--key-file", "key", "--return-path", BASE];
        if let Some(d) = date {
            args.extend(["--date", d]);
        }
        args.push(address);
        let r = self.run("btag", &args, None);
        r.expect_code(0);
        r.stdout().trim().to_string()
    }

    /// Writes a fixture template filled in as `name`.
    fn message(&self, template: &str, name: &str, fill: &[(&str, &str)]) -> String {
        let mut text =
            std::fs::read_to_string(repo_root().join("fixtures/btag").join(template)).unwrap();
        for (k, v) in fill {
            text = text.replace(k, v);
        }
        std::fs::write(self.path().join(name), text).unwrap();
        name.to_string()
    }

    /// A DSN for `rcpt`, sent back to `to`, about our message `msgid`.
    fn dsn(&self, name: &str, to: &str, rcpt: &str, msgid: &str) -> String {
        self.message(
            "dsn.eml.in",
            name,
            &[("{TO}", to), ("{RCPT}", rcpt), ("{MSGID}", msgid)],
        )
    }

    fn classify(&self, extra: &[&str], files: &[&str]) -> Vec<Value> {
        let mut args = extra.to_vec();
        args.extend(files);
        let r = self.run("bclassify", &args, None);
        r.expect_code(0);
        r.records()
    }
}

/// `signed` with one character of its tag changed.
fn altered(signed: &str) -> String {
    let at = signed.find("bt1=").unwrap() + 4 + 4;
    let c = if &signed[at..=at] == "a" { "b" } else { "a" };
    format!("{}{c}{}", &signed[..at], &signed[at + 1..])
}

fn field<'a>(r: &'a Value, name: &str) -> &'a str {
    r[name].as_str().unwrap_or("")
}

#[test]
fn sign_and_verify_round_trip() {
    let s = Scratch::new();
    for address in [
        "alice@example.org",
        "a+b=c@example.net",
        "Bob.Smith@Example.COM",
    ] {
        let signed = s.sign(address, None);
        assert!(signed.starts_with("bounces+bt1="), "{signed}");
        assert!(signed.ends_with("@list.example.com"), "{signed}");
        let (local, domain) = address.rsplit_once('@').unwrap();
        let want = format!("{local}@{}", domain.to_ascii_lowercase());
        for variant in [signed.clone(), signed.to_ascii_lowercase()] {
            let r = s.run("btag", &["verify", "--key-file", "key", &variant], None);
            r.expect_code(0);
            assert!(r.stdout().trim().eq_ignore_ascii_case(&want), "{r}");
        }
    }
    // Many at once from standard input, one a line.
    let r = s.run(
        "btag",
        &["sign", "--key-file", "key", "--return-path", BASE],
        Some(b"ann@example.org\n\nben@example.org\n"),
    );
    r.expect_code(0);
    assert_eq!(r.stdout().lines().count(), 2, "{r}");
}

#[test]
fn verify_says_why_a_tag_is_not_valid() {
    let s = Scratch::new();
    let expired = s.sign("alice@example.org", Some("2020-01-01"));
    let signed = s.sign("alice@example.org", None);
    let forged = signed.replace("=alice=", "=mallory=");
    for (address, reason) in [
        (expired.as_str(), "expired"),
        (forged.as_str(), "altered"),
        (altered(&signed).as_str(), "altered"),
        (
            "bounces+alice=example.org@list.example.com",
            "not a signed return path",
        ),
    ] {
        let r = s.run("btag", &["verify", "--key-file", "key", address], None);
        r.expect_code(65);
        assert!(r.stdout().is_empty(), "{r}");
        let err = r.stderr();
        assert_eq!(err.lines().count(), 1, "{r}");
        assert!(err.contains(reason), "{r}");
    }
    // A longer lifetime takes the old tag.
    let r = s.run(
        "btag",
        &[
            "verify",
            "--key-file",
            "key",
            "--max-age-days",
            "3650",
            &expired,
        ],
        None,
    );
    r.expect_code(0);
}

#[test]
fn empty_short_or_missing_keys_are_configuration_errors() {
    let s = Scratch::new();
    std::fs::write(s.path().join("empty"), "").unwrap();
    std::fs::write(s.path().join("short"), "secret\n").unwrap();
    for (file, says) in [
        ("empty", "no key"),
        ("short", "at least 16"),
        ("missing", "missing"),
    ] {
        let r = s.run(
            "btag",
            &[
                "sign",
                "--key-file",
                file,
                "--return-path",
                BASE,
                "a@example.org",
            ],
            None,
        );
        r.expect_code(78);
        assert!(r.stderr().contains(says), "{r}");
        let r = s.run("bclassify", &["--tag-key", file, "x.eml"], None);
        r.expect_code(78);
    }
    // keygen makes a key that works.
    let r = s.run("btag", &["keygen"], None);
    r.expect_code(0);
    assert_eq!(r.stdout().trim().len(), 64, "{r}");
    std::fs::write(s.path().join("key"), r.stdout()).unwrap();
    let signed = s.sign("a@example.org", None);
    s.run("btag", &["verify", "--key-file", "key", &signed], None)
        .expect_code(0);
}

/// The acceptance of issue 14: a forged DSN naming a subscriber gives no
/// destructive update; the same DSN returned to a valid signed path
/// blocks; an expired or altered tag is unverified.
#[test]
fn only_bounces_to_a_valid_signed_path_block() {
    let s = Scratch::new();
    let bob = "bob@example.org";
    let signed = s.sign(bob, None);
    let expired = s.sign(bob, Some("2020-01-01"));
    // Mallory's own genuine return path, with a report naming Bob.
    let mallory = s.sign("mallory@example.net", None);
    let files = [
        s.dsn("forged.eml", BASE, bob, "news-1@list.example.com"),
        s.dsn("signed.eml", &signed, bob, "news-2@list.example.com"),
        s.dsn("expired.eml", &expired, bob, "news-3@list.example.com"),
        s.dsn(
            "altered.eml",
            &altered(&signed),
            bob,
            "news-4@list.example.com",
        ),
        s.dsn("misdirected.eml", &mallory, bob, "news-5@list.example.com"),
    ];
    let files: Vec<&str> = files.iter().map(String::as_str).collect();

    // Without a key, no provenance is written at all.
    for r in s.classify(&[], &files) {
        assert!(r.get("provenance").is_none(), "{r}");
    }
    let records = s.classify(&["--tag-key", "key"], &files);
    let got: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (field(r, "recipient"), field(r, "provenance")))
        .collect();
    assert_eq!(
        got,
        [
            (bob, "unverified"),
            (bob, "signed"),
            (bob, "unverified"),
            (bob, "unverified"),
            (bob, "unverified"),
        ]
    );
    assert!(records.iter().all(|r| field(r, "category") == "hard"));

    // Each record alone through bapply --require-provenance.
    for (i, want) in ["manual", "block", "manual", "manual", "manual"]
        .iter()
        .enumerate()
    {
        let line = format!("{}\n", records[i]);
        let r = s.run(
            "bapply",
            &["--no-state", "--require-provenance", "--format", "jsonl"],
            Some(line.as_bytes()),
        );
        r.expect_code(0);
        let updates = r.records();
        assert_eq!(updates.len(), 1, "{r}");
        assert_eq!(field(&updates[0], "action"), *want, "{}: {r}", files[i]);
        if *want == "manual" {
            assert!(
                r.stderr()
                    .contains("not signed or known, left to a person (--require-provenance): 1"),
                "{r}"
            );
        }
    }
    // Without --require-provenance the forged report blocks, as before.
    let line = format!("{}\n", records[0]);
    let r = s.run(
        "bapply",
        &["--no-state", "--format", "jsonl"],
        Some(line.as_bytes()),
    );
    assert_eq!(field(&r.records()[0], "action"), "block", "{r}");
}

#[test]
fn a_valid_tag_names_the_recipient_a_report_leaves_out() {
    let s = Scratch::new();
    let signed = s.sign("carol@example.org", None);
    let eml = s.message("norecipient.eml.in", "plain.eml", &[("{TO}", &signed)]);
    let records = s.classify(&["--tag-key", "key"], &[&eml]);
    assert_eq!(records.len(), 1);
    assert_eq!(field(&records[0], "recipient"), "carol@example.org");
    assert_eq!(field(&records[0], "provenance"), "signed");
}

#[test]
fn the_sent_log_makes_a_bounce_known() {
    let s = Scratch::new();
    std::fs::write(
        s.path().join("sent.log"),
        "<news-1@list.example.com>\nnews-7@list.example.com\n",
    )
    .unwrap();
    let files = [
        s.dsn(
            "ours.eml",
            BASE,
            "dan@example.org",
            "news-1@list.example.com",
        ),
        s.dsn(
            "bare.eml",
            BASE,
            "eve@example.org",
            "news-7@list.example.com",
        ),
        s.dsn(
            "other.eml",
            BASE,
            "fay@example.org",
            "news-9@list.example.com",
        ),
    ];
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let records = s.classify(&["--sent-log", "sent.log"], &files);
    let got: Vec<&str> = records.iter().map(|r| field(r, "provenance")).collect();
    assert_eq!(got, ["known", "known", "unverified"]);
    let input: String = records.iter().map(|r| format!("{r}\n")).collect();
    let r = s.run(
        "bapply",
        &["--no-state", "--require-provenance", "--format", "jsonl"],
        Some(input.as_bytes()),
    );
    r.expect_code(0);
    let actions: Vec<(String, String)> = r
        .records()
        .iter()
        .map(|u| (field(u, "email").into(), field(u, "action").into()))
        .collect();
    assert!(
        actions.contains(&("dan@example.org".into(), "block".into())),
        "{r}"
    );
    assert!(
        actions.contains(&("eve@example.org".into(), "block".into())),
        "{r}"
    );
    assert!(
        actions.contains(&("fay@example.org".into(), "manual".into())),
        "{r}"
    );
    // A missing log is a missing input.
    s.run("bclassify", &["--sent-log", "nope.log", "ours.eml"], None)
        .expect_code(66);
}

#[test]
fn batv_signatures_are_stripped_from_addresses() {
    let s = Scratch::new();
    let eml = s.dsn(
        "batv.eml",
        "prvs=4068eb2540=bounces@list.example.com",
        "prvs=0891a9abd5=gus@example.org",
        "news-1@list.example.com",
    );
    let records = s.classify(&[], &[&eml]);
    assert_eq!(records.len(), 1);
    assert_eq!(field(&records[0], "recipient"), "gus@example.org");
    assert_eq!(records[0]["original"]["to"], "gus@example.org");
    let text = records[0].to_string();
    assert!(!text.contains("\"prvs="), "{text}");
}

/// The README's Python snippet computes the return path btag verifies.
#[test]
fn the_readme_python_snippet_signs_like_btag() {
    let Some(python) = find_program(&["python3"]) else {
        skip("python3");
        return;
    };
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("```python\n")
        .expect("a ```python block in the README")
        + 10;
    let end = readme[start..].find("```").unwrap() + start;
    let s = Scratch::new();
    let script = format!(
        "{}\nkey = open('key', 'rb').read().strip()\nfor a in ['alice@example.org', 'a+b=c@Example.NET', 'o.hara..x@example.com']:\n    print(btag_sign(key, '{BASE}', a))\n",
        &readme[start..end]
    );
    std::fs::write(s.path().join("snippet.py"), script).unwrap();
    let r = run(python.to_str().unwrap(), &["snippet.py"], None, s.path());
    r.expect_code(0);
    let lines: Vec<String> = r.stdout().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{r}");
    for (line, want) in lines.iter().zip([
        "alice@example.org",
        "a+b=c@example.net",
        "o.hara..x@example.com",
    ]) {
        let v = s.run("btag", &["verify", "--key-file", "key", line], None);
        v.expect_code(0);
        assert_eq!(v.stdout().trim(), want, "{v}");
        // And btag signs the very same text.
        assert_eq!(*line, s.sign(want, None), "{r}");
    }
}
