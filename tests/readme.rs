//! Issue 15, acceptance: walk the README from a fresh clone — the demo,
//! the batch recipe (review with `--dry-run`, apply, a second apply that
//! changes nothing), and the first run over a backlog of 1,200 hard bounces
//! (`bounce-cron --dry-run`, `--review`, `--approve`) with the commands as
//! the README writes them, against a private Dovecot. The tools are the
//! ones this test run built (scripts/demo's BIN_DIR), installed under a
//! scratch prefix for the cron part.

use crate::support::dovecot::{Dovecot, hard_bounce};
use crate::support::{find_program, repo_root, skip};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_bclassify"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The command lines of the first code block after `heading`, without
/// their trailing comments.
fn block_after(readme: &str, heading: &str) -> Vec<String> {
    let at = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README: no {heading:?}"));
    let rest = &readme[at..];
    let start = rest.find("```sh\n").expect("a ```sh block") + 6;
    let end = rest[start..].find("```").unwrap() + start;
    rest[start..end]
        .lines()
        .map(|l| l.split(" # ").next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn sh(dir: &Path, env: &[(&str, String)], line: &str) -> (i32, String, String) {
    let out = Command::new("/bin/sh")
        .args(["-c", line])
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn count(db: &Path, status: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM contacts WHERE status = ?1",
            [status],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn walk_the_readme_from_a_fresh_clone() {
    if find_program(&["git"]).is_none() {
        return skip("git");
    }
    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("bounce-tools");
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(repo_root())
        .arg(&clone)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let readme = std::fs::read_to_string(clone.join("README.md")).unwrap();

    // 1. The demo, as the README says (with this run's build).
    let demo = block_after(&readme, "## Two commands");
    assert_eq!(demo[0], "scripts/demo");
    let (code, stdout, stderr) = sh(
        &clone,
        &[("BIN_DIR", bin_dir().display().to_string())],
        &demo[0],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("== contact updates ("),
        "{stdout}\n{stderr}"
    );

    // 2. The batch recipe: review, apply, apply again.
    let path = format!("{}:/usr/bin:/bin", bin_dir().display());
    let batch_dir = work.path().join("batch");
    std::fs::create_dir(&batch_dir).unwrap();
    std::fs::copy(
        clone.join("fixtures/sample.mbox"),
        batch_dir.join("bounces.mbox"),
    )
    .unwrap();
    let db = batch_dir.join("contacts.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    // The sample's addresses on a list of 200.
    c.execute_batch(
        "CREATE TABLE contacts (email TEXT PRIMARY KEY, status TEXT NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 200)
         INSERT INTO contacts SELECT 'reader' || i || '@example.com', 'active' FROM n;",
    )
    .unwrap();
    let env = [
        ("PATH", path.clone()),
        ("HOME", work.path().display().to_string()),
        (
            "XDG_STATE_HOME",
            batch_dir.join("state").display().to_string(),
        ),
    ];
    let lines = block_after(&readme, "### A batch over an exported archive");
    assert_eq!(lines.len(), 4, "{lines:?}");
    let (code, _, err) = sh(&batch_dir, &env, &lines[0]);
    assert_eq!(code, 0, "{}: {err}", lines[0]);
    let events = std::fs::read_to_string(batch_dir.join("events.jsonl")).unwrap();
    for r in events.lines() {
        let v: serde_json::Value = serde_json::from_str(r).unwrap();
        if let Some(a) = v["recipient"].as_str() {
            c.execute("INSERT OR IGNORE INTO contacts VALUES (?1, 'active')", [a])
                .unwrap();
        }
    }
    assert!(lines[1].contains("--dry-run"), "{lines:?}");
    let (code, _, err) = sh(&batch_dir, &env, &lines[1]);
    assert_eq!(code, 0, "{}: {err}", lines[1]);
    let review = std::fs::read_to_string(batch_dir.join("review.csv")).unwrap();
    assert!(review.lines().count() > 10, "{review}");
    assert!(err.contains("dry run: nothing applied"), "{err}");
    assert_eq!(count(&db, "blocked"), 0, "the review changed the table");
    let (code, _, err) = sh(&batch_dir, &env, &lines[2]);
    assert_eq!(code, 0, "{}: {err}", lines[2]);
    assert_eq!(count(&db, "blocked"), 7, "{err}");
    assert_eq!(count(&db, "unsubscribed"), 3, "{err}");
    let (code, _, err) = sh(&batch_dir, &env, &lines[3]);
    assert_eq!(code, 0, "{}: {err}", lines[3]);
    assert!(err.contains("0 rows changed"), "the second apply: {err}");

    // 3. The first run over a backlog, with bounce-cron installed.
    let Some(dv) = Dovecot::start() else { return };
    let prefix = work.path().join("prefix");
    let home = work.path().join("home");
    let var = work.path().join("var/lib/bounces");
    std::fs::create_dir_all(&var).unwrap();
    let out = Command::new(clone.join("scripts/install"))
        .env("PREFIX", &prefix)
        .env("BIN_DIR", bin_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dv.write_bfetch_account(&home);
    let db = var.join("contacts.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE contacts (email TEXT PRIMARY KEY, status TEXT NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 4000)
         INSERT INTO contacts SELECT 'u' || i || '@d' || i || '.example.org', 'active' FROM n;",
    )
    .unwrap();
    const BACKLOG: usize = 1_200;
    dv.seed_inbox((0..BACKLOG).map(hard_bounce));
    let env = [
        (
            "PATH",
            format!("{}:/usr/bin:/bin", prefix.join("bin").display()),
        ),
        ("HOME", home.display().to_string()),
        ("BOUNCE_LOG", "none".to_string()),
    ];
    let local = |l: &str| l.replace("/var/lib/bounces", var.to_str().unwrap());
    // The routine pass trips the guard ...
    let cron_line = readme
        .lines()
        .find(|l| l.starts_with("*/10 * * * *"))
        .unwrap()
        .splitn(6, char::is_whitespace)
        .last()
        .unwrap()
        .replace("/usr/local", prefix.to_str().unwrap());
    let (code, _, err) = sh(work.path(), &env, &local(&cron_line));
    assert_eq!(code, 75, "{err}");
    // ... and the README's way through: dry run, review, read, approve.
    let steps = block_after(&readme, "**The first run over a backlog.**");
    assert_eq!(steps.len(), 4, "{steps:?}");
    for step in &steps {
        let (code, _, err) = sh(work.path(), &env, &local(step));
        assert_eq!(code, 0, "{step}: {err}");
    }
    assert_eq!(count(&db, "blocked"), BACKLOG as i64);
    assert_eq!(dv.status("INBOX", "messages"), "0");
    assert_eq!(dv.status("Processed", "messages"), BACKLOG.to_string());
    // The next routine pass does not trip.
    for i in BACKLOG..BACKLOG + 12 {
        dv.save("INBOX", &hard_bounce(i));
    }
    let (code, _, err) = sh(work.path(), &env, &local(&cron_line));
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&db, "blocked"), BACKLOG as i64 + 12);
}
