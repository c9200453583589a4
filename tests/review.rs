//! Issue 15, review before apply: `bapply --dry-run` writes the updates
//! and the guard's verdict and changes neither state nor target; an update
//! is emitted once per destination, so a `--force` review written to a file
//! never makes a later `--apply` skip rows; the guard judges a backlog
//! against the list size.

use crate::support::bapply::{Env, day, record};
use crate::support::{find_program, skip};
use serde_json::Value;
use std::process::Command;

fn sqlite(db: &str, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A contact table with `n` addresses, all active.
fn contacts(env: &Env, n: usize) -> String {
    let db = env.path("contacts.db").display().to_string();
    let sql = format!(
        "CREATE TABLE contacts (email TEXT PRIMARY KEY, status TEXT); \
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {n}) \
         INSERT INTO contacts SELECT 'u' || i || '@d' || i || '.example.org', 'active' FROM n;"
    );
    sqlite(&db, &sql);
    db
}

/// `n` hard bounces, each from its own domain and host.
fn hard_bounces(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            record(
                &format!("m{i}"),
                &format!("u{i}@d{i}.example.org"),
                "hard",
                &day(1),
            )
        })
        .collect()
}

fn blocked(db: &str) -> usize {
    sqlite(db, "SELECT count(*) FROM contacts WHERE status = 'blocked'")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn dry_run_changes_nothing_and_exits_0_when_the_guard_fires() {
    if find_program(&["sqlite3"]).is_none() {
        return skip("sqlite3");
    }
    let env = Env::new();
    let db = contacts(&env, 20);
    let input = env.write_records("events.jsonl", &hard_bounces(12));
    let target = format!("sqlite:{db}");
    // 12 of 20 on the list: the guard fires; the dry run says so, exits 0,
    // and writes the updates it would apply.
    let r = env
        .bapply(&["--dry-run", "--apply", &target, &input], &[])
        .expect(0);
    assert_eq!(r.csv().len(), 12, "{r}");
    assert!(r.stderr.contains("of 20 on the list (60.0%)"), "{r}");
    assert!(
        r.stderr.contains("the guard would hold a real run back"),
        "{r}"
    );
    assert!(
        r.stderr
            .contains("dry run: nothing applied, state unchanged"),
        "{r}"
    );
    for format in ["jsonl", "sql"] {
        let r = env
            .bapply(&["-n", "--format", format, &input], &[])
            .expect(0);
        assert_eq!(
            r.stdout.lines().filter(|l| l.contains("@d")).count(),
            12,
            "{r}"
        );
    }
    assert_eq!(blocked(&db), 0, "the target is untouched");
    // The state is untouched: the real run sees the same 12 updates.
    let r = env.bapply(&["--apply", &target, &input], &[]).expect(75);
    assert!(r.stderr.contains("held back 12 updates"), "{r}");
    let r = env
        .bapply(&["--apply", &target, "--force", &input], &[])
        .expect(0);
    assert!(r.stderr.contains("12 rows changed"), "{r}");
    assert_eq!(blocked(&db), 12);
    // A second apply changes nothing, and neither does a dry run.
    let r = env.bapply(&["--apply", &target, &input], &[]).expect(0);
    assert!(r.stderr.contains("0 rows changed"), "{r}");
    let r = env
        .bapply(&["--dry-run", "--apply", &target, &input], &[])
        .expect(0);
    assert_eq!(r.csv().len(), 0, "{r}");
}

#[test]
fn a_forced_review_never_makes_a_later_apply_skip_rows() {
    if find_program(&["sqlite3"]).is_none() {
        return skip("sqlite3");
    }
    let env = Env::new();
    let db = contacts(&env, 20);
    let input = env.write_records("events.jsonl", &hard_bounces(12));
    let review = env.bapply(&["--force", &input], &[]).expect(0);
    assert_eq!(review.csv().len(), 12, "{review}");
    // The same review again repeats nothing ...
    assert_eq!(
        env.bapply(&["--force", &input], &[]).expect(0).csv().len(),
        0
    );
    // ... but the target has not seen these updates yet.
    let target = format!("sqlite:{db}");
    let r = env
        .bapply(&["--apply", &target, "--force", &input], &[])
        .expect(0);
    assert!(r.stderr.contains("12 rows changed"), "{r}");
    assert_eq!(blocked(&db), 12);
}

#[test]
fn the_guard_judges_a_backlog_against_the_list_size() {
    if find_program(&["sqlite3"]).is_none() {
        return skip("sqlite3");
    }
    let env = Env::new();
    let db = contacts(&env, 10_000);
    let input = env.write_records("backlog.jsonl", &hard_bounces(1_000));
    // Against the 1,000 contacts seen, 100% would go: the guard fires.
    let r = env.bapply(&["--dry-run", &input], &[]).expect(0);
    assert!(r.stderr.contains("1000 of 1000 contacts (100.0%)"), "{r}");
    assert!(r.stderr.contains("FIRED"), "{r}");
    // Against the list (counted in the target table, or given), 10%.
    let target = format!("sqlite:{db}");
    let r = env
        .bapply(&["--dry-run", "--apply", &target, &input], &[])
        .expect(0);
    assert!(
        r.stderr.contains("1000 of 10000 on the list (10.0%)"),
        "{r}"
    );
    assert!(r.stderr.contains("; passed"), "{r}");
    let r = env
        .bapply(&["--dry-run", "--list-size", "2000", &input], &[])
        .expect(0);
    assert!(r.stderr.contains("1000 of 2000 on the list (50.0%)"), "{r}");
    let r = env.bapply(&["--apply", &target, &input], &[]).expect(0);
    assert!(r.stderr.contains("1000 rows changed"), "{r}");
    assert_eq!(blocked(&db), 1_000);
}
