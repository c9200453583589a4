//! Issue 15, bounce-cron as an administrator meets it: `--dry-run` shows
//! every stage and the guard and changes nothing; the first run over a
//! backlog of 1,000+ hard bounces trips the guard, `--review` writes the
//! plan, `--approve` applies exactly that plan, and the next routine run
//! does not trip; one summary line per run in the log; the README's
//! crontab line works under cron's bare environment.

use crate::support::dovecot::{Dovecot, hard_bounce};
use crate::support::repo_root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_bfetch"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A contact table of `n` active addresses `u{i}@d{i}.example.org`.
pub fn contacts(db: &Path, n: usize) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE contacts (email TEXT PRIMARY KEY, status TEXT NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {n})
         INSERT INTO contacts SELECT 'u' || i || '@d' || i || '.example.org', 'active' FROM n;"
    ))
    .unwrap();
}

pub fn count(db: &Path, status: &str) -> usize {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(
        "SELECT count(*) FROM contacts WHERE status = ?1",
        [status],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as usize
}

pub fn messages(dv: &Dovecot, mailbox: &str) -> usize {
    dv.status(mailbox, "messages").parse().unwrap()
}

struct Cron<'a> {
    dv: &'a Dovecot,
    dir: tempfile::TempDir,
}

impl Cron<'_> {
    fn db(&self) -> PathBuf {
        self.dir.path().join("contacts.db")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("bounce-cron.log")
    }

    fn run(&self, args: &[&str]) -> (i32, String) {
        let mut c = Command::new("bash");
        c.arg(repo_root().join("contrib/bounce-cron"))
            .arg("--bin-dir")
            .arg(bin_dir())
            .arg("--apply")
            .arg(format!("sqlite:{}", self.db().display()))
            .arg("--log")
            .arg(self.log());
        self.dv.cron_account(&mut c);
        c.args(args)
            .env("HOME", self.dir.path())
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env_remove("XDG_RUNTIME_DIR");
        let out: Output = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[test]
fn dry_run_review_approve_over_a_backlog() {
    let Some(dv) = Dovecot::start() else { return };
    let cron = Cron {
        dv: &dv,
        dir: tempfile::tempdir().unwrap(),
    };
    // Years of old bounces: 1,200 dead addresses on a list of 4,000 (30%).
    const BACKLOG: usize = 1_200;
    contacts(&cron.db(), 4_000);
    dv.seed_inbox((0..BACKLOG).map(hard_bounce));
    assert_eq!(messages(&dv, "INBOX"), BACKLOG);

    // --dry-run: each stage's outcome, the guard's verdict; nothing changes.
    let (code, err) = cron.run(&["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    for stage in [
        "dry run: fetch: 1200 messages",
        "dry run: classify: 1200 records; 1200 messages handled, 0 for review",
        "dry run: apply: guard: 1200 of 4000 on the list (30.0%)",
        "dry run: apply: the guard would hold a real run back",
        "dry run: ack: would move 1200 messages to Processed",
    ] {
        assert!(err.contains(stage), "{stage:?} missing:\n{err}");
    }
    assert_eq!(count(&cron.db(), "blocked"), 0);
    assert_eq!(messages(&dv, "INBOX"), BACKLOG);

    // The routine run: held back, exit 75, says what to do.
    let (code, err) = cron.run(&[]);
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("bounce-cron --review"), "{err}");
    assert_eq!(count(&cron.db(), "blocked"), 0);
    assert_eq!(messages(&dv, "INBOX"), BACKLOG);

    // --review writes the plan and stops.
    let (code, err) = cron.run(&["--review"]);
    assert_eq!(code, 0, "{err}");
    let plan = cron.dir.path().join("state/bounce-tools/plan");
    let summary = std::fs::read_to_string(plan.join("summary.txt")).unwrap();
    assert!(summary.contains("FIRED"), "{summary}");
    let updates = std::fs::read_to_string(plan.join("updates.csv")).unwrap();
    assert_eq!(
        updates.lines().count(),
        BACKLOG + 1,
        "header and one update each"
    );
    assert_eq!(count(&cron.db(), "blocked"), 0);
    assert_eq!(messages(&dv, "INBOX"), BACKLOG);

    // --approve applies exactly that plan and acks its messages.
    let (code, err) = cron.run(&["--approve"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&cron.db(), "blocked"), BACKLOG);
    assert_eq!(messages(&dv, "INBOX"), 0);
    assert_eq!(messages(&dv, "Processed"), BACKLOG);
    assert!(plan.with_extension("approved").join("updates.csv").exists());
    let (code, err) = cron.run(&["--approve"]);
    assert_eq!(code, 65, "no plan left to approve: {err}");

    // Routine runs afterwards see only new mail and do not trip.
    for i in BACKLOG..BACKLOG + 15 {
        dv.save("INBOX", &hard_bounce(i));
    }
    let (code, err) = cron.run(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&cron.db(), "blocked"), BACKLOG + 15);
    let (code, err) = cron.run(&[]);
    assert_eq!(code, 0, "{err}");

    // One summary line per run.
    let log = std::fs::read_to_string(cron.log()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 7, "{log}");
    assert!(
        lines[0].contains("dry: exit 0; fetched 1200, records 1200"),
        "{log}"
    );
    assert!(
        lines[1].contains("run: exit 75;")
            && lines[1].contains("held back by the guard: 1200 updates"),
        "{log}"
    );
    assert!(
        lines[3].contains("approve: exit 0;") && lines[3].contains("acked 1200"),
        "{log}"
    );
    assert!(
        lines[5].contains("updates: 15 (block 15)") && lines[5].contains("acked 15"),
        "{log}"
    );
    assert!(lines[6].contains("run: exit 0; fetched 0"), "{log}");
}

/// `--approve` refuses a plan that would no longer come out the same.
#[test]
fn approve_refuses_a_stale_plan() {
    let Some(dv) = Dovecot::start() else { return };
    let cron = Cron {
        dv: &dv,
        dir: tempfile::tempdir().unwrap(),
    };
    contacts(&cron.db(), 40);
    dv.seed_inbox((0..20).map(hard_bounce));
    // -v says what each stage does, -vv also each message.
    let (code, err) = cron.run(&["--dry-run", "-v"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("bounce-cron: fetched 20 messages"), "{err}");
    assert!(!err.contains("bounce-cron: message "), "{err}");
    let (code, err) = cron.run(&["--dry-run", "-vv"]);
    assert_eq!(code, 0, "{err}");
    let per_message = err
        .lines()
        .filter(|l| l.starts_with("bounce-cron: message "))
        .count();
    assert_eq!(per_message, 20, "{err}");
    assert!(err.contains(": hard u7@d7.example.org"), "{err}");
    let (code, err) = cron.run(&["--review"]);
    assert_eq!(code, 0, "{err}");
    // Meanwhile the same bounces were applied by another way (a hook).
    let (code, err) = cron.run(&["--force"]);
    assert_eq!(code, 0, "{err}");
    let (code, err) = cron.run(&["--approve"]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("no longer matches"), "{err}");
}

/// The README's crontab line, as cron runs it: `env -i`, PATH=/usr/bin:/bin,
/// SHELL=/bin/sh, the tools installed under a prefix, the account in
/// bfetch's config file.
#[test]
fn readme_crontab_line_works_under_cron() {
    let Some(dv) = Dovecot::start() else { return };
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("*/10 * * * *"))
        .expect("a crontab line in README.md");
    let command = line.splitn(6, char::is_whitespace).last().unwrap().trim();
    let root = tempfile::tempdir().unwrap();
    let (prefix, home, var) = (
        root.path().join("usr/local"),
        root.path().join("home"),
        root.path().join("var/lib/bounces"),
    );
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::create_dir_all(&var).unwrap();
    for tool in ["bfetch", "bclassify", "bapply"] {
        std::fs::copy(bin_dir().join(tool), prefix.join("bin").join(tool)).unwrap();
    }
    std::fs::copy(
        repo_root().join("contrib/bounce-cron"),
        prefix.join("bin/bounce-cron"),
    )
    .unwrap();
    dv.write_bfetch_account(&home);
    contacts(&var.join("contacts.db"), 100);
    dv.seed_inbox((0..3).map(hard_bounce));
    let command = command
        .replace("/usr/local", prefix.to_str().unwrap())
        .replace("/var/lib/bounces", var.to_str().unwrap());
    let out = Command::new("env")
        .args([
            "-i",
            "PATH=/usr/bin:/bin",
            "SHELL=/bin/sh",
            "LOGNAME=bounces",
        ])
        .arg(format!("HOME={}", home.display()))
        .args(["/bin/sh", "-c", &command])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{command}\n{err}");
    assert_eq!(err, "", "quiet unless something fails");
    assert_eq!(count(&var.join("contacts.db"), "blocked"), 3);
    assert_eq!(messages(&dv, "Processed"), 3);
}
