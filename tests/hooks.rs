//! The mail-hook recipes with the real `procmail` and `maildrop`:
//! `contrib/procmailrc.example` and `contrib/maildroprc.example` through
//! `contrib/bounce-hook`. A bounce updates the SQLite contact table; with
//! the table locked the delivery defers with 75 (the MTA keeps the message)
//! and changes nothing; the retry then applies it, once. A message that is
//! not a bounce falls through to normal delivery: the test's own mailbox in
//! its temporary directory, never the system's /var/mail.

use crate::support::repo_root;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `false` (after a loud SKIPPED) when `prog` is missing and CI does not
/// require it.
fn available(prog: &str) -> bool {
    if have(prog) {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{prog} is required in CI (apt-get install {prog})");
    }
    eprintln!("\n*** SKIPPED: {prog} not installed — hook test not run ***\n");
    false
}

struct Setup {
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let s = Setup {
            db: dir.path().join("contacts.db"),
            dir,
        };
        let c = rusqlite::Connection::open(s.db()).unwrap();
        c.execute_batch(
            "CREATE TABLE contacts (email TEXT PRIMARY KEY, status TEXT NOT NULL);
             INSERT INTO contacts VALUES ('alice@example.org', 'active'), ('bob@example.org', 'active');",
        )
        .unwrap();
        s
    }
    fn db(&self) -> PathBuf {
        self.db.clone()
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state.sqlite")
    }
    /// The review mailbox (a Maildir) for what needs a person.
    fn review(&self) -> PathBuf {
        self.dir.path().join("Review")
    }
    /// The messages in the review Maildir.
    fn reviewed(&self) -> Vec<String> {
        std::fs::read_dir(self.review().join("new"))
            .map(|d| {
                d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
    /// Where normal delivery puts a message the recipe lets through.
    fn mailbox(&self) -> PathBuf {
        self.dir.path().join("mailbox")
    }
    fn status(&self) -> Vec<(String, String)> {
        let c = rusqlite::Connection::open(self.db()).unwrap();
        let mut st = c
            .prepare("SELECT email, status FROM contacts ORDER BY email")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
    /// Variables both recipes read.
    fn vars(&self) -> Vec<(String, String)> {
        let bin = Path::new(env!("CARGO_BIN_EXE_bclassify")).parent().unwrap();
        vec![
            (
                "BOUNCE_PATH".into(),
                format!(
                    "{}:{}:/usr/local/bin:/usr/bin:/bin",
                    bin.display(),
                    repo_root().join("contrib").display()
                ),
            ),
            ("BOUNCE_DB".into(), self.db().display().to_string()),
            (
                "BOUNCE_REVIEW".into(),
                format!("{}/", self.review().display()),
            ),
            (
                "BOUNCE_OPTS".into(),
                format!("--state {} --lock-timeout 1", self.state().display()),
            ),
        ]
    }
}

fn deliver(mut cmd: Command, msg: &[u8]) -> (i32, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A hook that fails before it reads (a missing program) closes its
    // stdin early; the MTA sees the exit code, and so does the test.
    if let Err(e) = child.stdin.take().unwrap().write_all(msg) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn procmail(s: &Setup) -> Command {
    let mut c = Command::new("procmail");
    c.arg("-m").env("HOME", s.dir.path());
    for (k, v) in s.vars() {
        c.arg(format!("{k}={v}"));
    }
    // Normal delivery goes to DEFAULT, which else is /var/mail/$LOGNAME.
    c.arg(format!("DEFAULT={}", s.mailbox().display()));
    c.arg(repo_root().join("contrib/procmailrc.example"));
    c
}

fn maildrop(s: &Setup) -> Command {
    // maildrop wants a filter file only its owner can write. It sets
    // DEFAULT (normal delivery) to /var/mail/$LOGNAME and takes no value for
    // it from the environment or the command line, so the test's mailbox is
    // set in a line before the recipe.
    let rc = s.dir.path().join("mailfilter");
    let recipe = std::fs::read_to_string(repo_root().join("contrib/maildroprc.example")).unwrap();
    let default = format!("DEFAULT=\"{}\"\n", s.mailbox().display());
    std::fs::write(&rc, default + &recipe).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut c = Command::new("maildrop");
    c.arg(&rc).envs(s.vars());
    c
}

fn hard_bounce() -> Vec<u8> {
    std::fs::read(repo_root().join("fixtures/hard/001-postfix-user-unknown.eml")).unwrap()
}

fn check(name: &str, make: fn(&Setup) -> Command) {
    let msg = hard_bounce();
    let initial = vec![
        ("alice@example.org".to_string(), "active".to_string()),
        ("bob@example.org".to_string(), "active".to_string()),
    ];
    let blocked = vec![
        ("alice@example.org".to_string(), "blocked".to_string()),
        ("bob@example.org".to_string(), "active".to_string()),
    ];

    // A bounce goes through and updates the table.
    let s = Setup::new();
    let (code, out) = deliver(make(&s), &msg);
    assert_eq!(code, 0, "{name}: {out}");
    assert_eq!(s.status(), blocked, "{name}: {out}");
    assert!(
        s.reviewed().is_empty(),
        "{name}: a hard bounce needs no person"
    );

    // Not a bounce: bapply never runs.
    let s = Setup::new();
    let (_, out) = deliver(
        make(&s),
        b"From: bob@example.org\nTo: news@example.com\nSubject: lunch?\n\nAre you coming?\n",
    );
    assert_eq!(s.status(), initial, "{name}: {out}");
    assert!(!s.state().exists(), "{name}: bapply ran on a non-bounce");
    let delivered = std::fs::read_to_string(s.mailbox()).unwrap_or_default();
    assert!(
        delivered.contains("Subject: lunch?"),
        "{name}: a non-bounce must reach normal delivery: {out}"
    );

    // The contact table is locked: the delivery defers with 75 and changes
    // nothing; the retry applies the update, once.
    let s = Setup::new();
    {
        let lock = rusqlite::Connection::open(s.db()).unwrap();
        lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let (code, out) = deliver(make(&s), &msg);
        assert_eq!(code, 75, "{name}: locked database must defer: {out}");
        lock.execute_batch("ROLLBACK").unwrap();
    }
    assert_eq!(s.status(), initial, "{name}");
    let (code, out) = deliver(make(&s), &msg);
    assert_eq!(code, 0, "{name}: retry: {out}");
    assert_eq!(s.status(), blocked, "{name}: retry");
    // A second delivery of the same message (an MTA retrying after a lost
    // answer) counts nothing twice.
    let (code, out) = deliver(make(&s), &msg);
    assert_eq!(code, 0, "{name}: {out}");
    let c = rusqlite::Connection::open(s.state()).unwrap();
    let events: i64 = c
        .query_row("SELECT count(*) FROM event", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 1, "{name}: the bounce was counted {events} times");

    // The database cannot be opened at all (its directory is gone): 75 too.
    let mut s = Setup::new();
    s.db = s.dir.path().join("no/such/dir/contacts.db");
    let cmd = make(&s);
    let (code, out) = deliver(cmd, &msg);
    assert_eq!(code, 75, "{name}: unusable database must defer: {out}");
}

#[test]
fn procmail_recipe_applies_and_defers_on_failure() {
    if available("procmail") {
        check("procmail", procmail);
    }
}

#[test]
fn maildrop_recipe_applies_and_defers_on_failure() {
    if available("maildrop") {
        check("maildrop", maildrop);
    }
}

#[test]
fn bounce_hook_maps_every_failure_to_75() {
    let bin = Path::new(env!("CARGO_BIN_EXE_bclassify")).parent().unwrap();
    let run = |args: &[&str], env_bin: &Path| {
        let mut c = Command::new(repo_root().join("contrib/bounce-hook"));
        c.args(args).env("BOUNCE_BIN_DIR", env_bin);
        deliver(c, &hard_bounce())
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.sqlite");
    let (code, out) = run(
        &["--state", state.to_str().unwrap(), "--format", "csv"],
        bin,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("alice@example.org,block"), "{out}");
    // bapply usage error, and programs that are not there: all 75.
    assert_eq!(run(&["--no-such-flag"], bin).0, 75);
    assert_eq!(run(&[], &dir.path().join("nowhere")).0, 75);
}

/// What the system mailbox of the user running the tests looks like, so
/// that a test can show it left nothing there.
fn system_mailbox() -> Option<(u64, std::time::SystemTime)> {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".into());
    std::fs::metadata(format!("/var/mail/{user}"))
        .ok()
        .map(|m| (m.len(), m.modified().unwrap()))
}

/// Issue 15: hooks lose nothing. An undetermined message (and a challenge)
/// reaches the review mailbox; the hard bounce does not; nothing lands in
/// /var/mail.
fn check_review(name: &str, make: fn(&Setup) -> Command) {
    let before = system_mailbox();
    let undetermined = std::fs::read(
        repo_root().join("fixtures/undetermined/001-undelivered-mail-no-details.eml"),
    )
    .unwrap();
    let s = Setup::new();
    let (code, out) = deliver(make(&s), &undetermined);
    assert_eq!(code, 0, "{name}: {out}");
    let reviewed = s.reviewed();
    assert_eq!(reviewed.len(), 1, "{name}: {out}");
    // procmail may add a final newline; the message itself is whole.
    assert!(
        reviewed[0].trim_end().as_bytes() == undetermined.trim_ascii_end(),
        "{name}: not delivered whole"
    );
    let (code, out) = deliver(make(&s), &hard_bounce());
    assert_eq!(code, 0, "{name}: {out}");
    assert_eq!(
        s.reviewed().len(),
        1,
        "{name}: the hard bounce is not for review"
    );
    assert!(
        !s.mailbox().exists(),
        "{name}: nothing went to normal delivery"
    );
    // An unwritable review mailbox defers the message: nothing is lost.
    let s = Setup::new();
    std::fs::write(s.review(), "a file, not a folder").unwrap();
    let (code, out) = deliver(make(&s), &undetermined);
    assert_eq!(code, 75, "{name}: {out}");
    assert_eq!(system_mailbox(), before, "{name}: /var/mail was touched");
}

#[test]
fn procmail_delivers_what_needs_a_person_to_the_review_mailbox() {
    if available("procmail") {
        check_review("procmail", procmail);
    }
}

#[test]
fn maildrop_delivers_what_needs_a_person_to_the_review_mailbox() {
    if available("maildrop") {
        check_review("maildrop", maildrop);
    }
}
