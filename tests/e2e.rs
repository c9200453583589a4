//! The whole pipeline as a cron job runs it: a private Dovecot seeded with
//! every fixture category (several copies, each with its own Message-ID),
//! `contrib/bounce-cron` against a SQLite contact table, and the faults it
//! must survive: a locked database, and the job killed at random points.
//!
//! The expected result is computed independently: the same messages,
//! fetched read-only, through `bclassify | bapply --apply` in one go on a
//! copy of the contact table.

use crate::support::dovecot::{Dovecot, USER};
use crate::support::repo_root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

macro_rules! dovecot {
    () => {
        match Dovecot::start() {
            Some(d) => d,
            None => return,
        }
    };
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_bfetch"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `fixtures/<category>/*.eml`, sorted.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for cat in std::fs::read_dir(repo_root().join("fixtures")).unwrap() {
        let cat = cat.unwrap().path();
        if !cat.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&cat).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "eml") {
                let name = format!(
                    "{}-{}",
                    cat.file_name().unwrap().to_string_lossy(),
                    f.file_stem().unwrap().to_string_lossy()
                );
                v.push((name, std::fs::read(&f).unwrap()));
            }
        }
    }
    v.sort();
    assert!(v.len() > 50, "fixtures missing");
    v
}

/// The message with its Message-ID replaced by `id` (inserted first).
fn with_message_id(msg: &[u8], id: &str) -> Vec<u8> {
    let end = msg
        .windows(2)
        .position(|w| w == b"\n\n")
        .or_else(|| msg.windows(4).position(|w| w == b"\r\n\r\n"))
        .unwrap_or(msg.len());
    let (head, body) = msg.split_at(end);
    let crlf = head.windows(2).any(|w| w == b"\r\n");
    let mut out = format!("Message-ID: <{id}>{}", if crlf { "\r\n" } else { "\n" }).into_bytes();
    let mut skipping = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        let cont = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if cont && skipping {
            continue;
        }
        skipping = line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:");
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(body);
    out
}

/// Seeds `copies` copies of every fixture into INBOX; returns the ids.
fn seed(dv: &Dovecot, copies: usize, tag: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for c in 0..copies {
        for (name, msg) in fixtures() {
            let id = format!("{tag}-{c}-{name}@e2e.test");
            dv.save("INBOX", &with_message_id(&msg, &id));
            ids.insert(format!("<{id}>"));
        }
    }
    ids
}

/// Message-IDs per mailbox, as the server has them.
fn ids(dv: &Dovecot, mailbox: &str) -> Vec<String> {
    let out = dv.doveadm(&["fetch", "-u", USER, "hdr.message-id", "mailbox", mailbox]);
    out.lines()
        .filter_map(|l| l.strip_prefix("hdr.message-id:"))
        .map(|s| s.trim().to_string())
        .collect()
}

/// All of INBOX, read-only, through bclassify: `message_id -> records`.
fn classify_inbox(dv: &Dovecot) -> BTreeMap<String, Vec<String>> {
    let fetched = dv.bfetch().output().unwrap();
    assert!(fetched.status.success(), "{fetched:?}");
    let mut c = Command::new(env!("CARGO_BIN_EXE_bclassify"))
        .arg("--no-progress")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let data = fetched.stdout;
    let t = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&data).unwrap();
    });
    let out = c.wait_with_output().unwrap();
    t.join().unwrap();
    assert!(out.status.success());
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["message_id"]
            .as_str()
            .expect("seeded with ids")
            .to_string();
        m.entry(id).or_default().push(line.to_string());
    }
    m
}

fn is_review(records: &[String]) -> bool {
    records.iter().any(|r| {
        let v: serde_json::Value = serde_json::from_str(r).unwrap();
        matches!(
            v["category"].as_str(),
            Some("unknown" | "undetermined" | "challenge")
        )
    })
}

/// A contact table with every recipient the records name.
fn contacts_db(path: &Path, records: &BTreeMap<String, Vec<String>>) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("CREATE TABLE contacts (email TEXT PRIMARY KEY, status TEXT NOT NULL)")
        .unwrap();
    for r in records.values().flatten() {
        let v: serde_json::Value = serde_json::from_str(r).unwrap();
        if let Some(e) = v["recipient"].as_str() {
            c.execute("INSERT OR IGNORE INTO contacts VALUES (?1, 'active')", [e])
                .unwrap();
        }
    }
}

fn table(path: &Path) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c
        .prepare("SELECT email, status FROM contacts ORDER BY email")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Runs bapply on `records` with a state database and summary; returns
/// (exit code, stderr).
fn bapply(args: &[&str], records: &[&String]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bapply"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    let mut stdin = c.stdin.take().unwrap();
    let t = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(text.as_bytes());
    });
    let out = c.wait_with_output().unwrap();
    t.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The contact table as one run over all records leaves it.
fn expected_table(dir: &Path, records: &BTreeMap<String, Vec<String>>) -> Vec<(String, String)> {
    let db = dir.join("expected.db");
    let _ = std::fs::remove_file(&db);
    contacts_db(&db, records);
    let all: Vec<&String> = records.values().flatten().collect();
    let state = dir.join("expected-state.sqlite");
    let _ = std::fs::remove_file(&state);
    let target = format!("sqlite:{}", db.display());
    let (code, err) = bapply(
        &[
            "--state",
            state.to_str().unwrap(),
            "--force",
            "--apply",
            &target,
        ],
        &all,
    );
    assert_eq!(code, 0, "{err}");
    table(&db)
}

struct Cron {
    dir: tempfile::TempDir,
}

impl Cron {
    fn new() -> Cron {
        Cron {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn db(&self) -> PathBuf {
        self.dir.path().join("contacts.db")
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state.sqlite")
    }
    fn command(&self, dv: &Dovecot) -> Command {
        let mut c = Command::new("bash");
        c.arg(repo_root().join("contrib/bounce-cron"))
            .arg("--bin-dir")
            .arg(bin_dir())
            .arg("--apply")
            .arg(format!("sqlite:{}", self.db().display()))
            .arg("--state")
            .arg(self.state())
            .arg("--work-dir")
            .arg(self.dir.path().join("work"))
            .arg("--lock")
            .arg(self.dir.path().join("lock"))
            .arg("--force")
            .args(["--bapply-arg", "--lock-timeout", "--bapply-arg", "1"]);
        dv.cron_account(&mut c);
        c.env("HOME", dv.home.path())
            .env("XDG_STATE_HOME", dv.home.path().join("state"))
            .env("XDG_CONFIG_HOME", dv.home.path().join("config"))
            .stdin(Stdio::null());
        c
    }
    fn run(&self, dv: &Dovecot) -> (i32, String) {
        let out = self.command(dv).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The messages that must end in Processed and those that stay.
fn split(records: &BTreeMap<String, Vec<String>>) -> (Vec<String>, Vec<String>) {
    let (review, handled): (Vec<_>, Vec<_>) = records.iter().partition(|(_, r)| is_review(r));
    (
        sorted(handled.into_iter().map(|(k, _)| k.clone()).collect()),
        sorted(review.into_iter().map(|(k, _)| k.clone()).collect()),
    )
}

#[test]
fn cron_twice_against_dovecot_and_sqlite() {
    let dv = dovecot!();
    let t0 = Instant::now();
    let seeded = seed(&dv, 3, "a");
    assert!(seeded.len() >= 200);
    let records = classify_inbox(&dv);
    assert_eq!(records.len(), seeded.len());
    let cats: BTreeSet<String> = records
        .values()
        .flatten()
        .map(|r| serde_json::from_str::<serde_json::Value>(r).unwrap()["category"].to_string())
        .collect();
    // Every fixture folder is seeded; the virus notices classify as
    // blocked or failed, so 14 distinct categories come out.
    assert!(cats.len() >= 14, "categories: {cats:?}");
    let cron = Cron::new();
    contacts_db(&cron.db(), &records);
    let want = expected_table(cron.dir.path(), &records);
    assert!(want.iter().filter(|(_, s)| s != "active").count() > 20);
    let (handled, review) = split(&records);
    assert!(!handled.is_empty() && !review.is_empty());

    let (code, err) = cron.run(&dv);
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(&cron.db()), want, "contact table after run 1");
    assert_eq!(sorted(ids(&dv, "Processed")), handled);
    assert_eq!(sorted(ids(&dv, "INBOX")), review);
    let flags_before = dv.flags("INBOX");

    let (code, err) = cron.run(&dv);
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(&cron.db()), want, "run 2 changed the contact table");
    assert_eq!(sorted(ids(&dv, "Processed")), handled);
    assert_eq!(sorted(ids(&dv, "INBOX")), review);
    assert_eq!(dv.flags("INBOX"), flags_before, "review messages touched");
    eprintln!(
        "e2e: {} messages ({} handled, {} for review), {} contacts changed, {:?}",
        seeded.len(),
        handled.len(),
        review.len(),
        want.iter().filter(|(_, s)| s != "active").count(),
        t0.elapsed()
    );
}

/// Every message is in INBOX or Processed, exactly once; and every message
/// in Processed has all its records counted in the committed bapply state.
fn check_invariant(dv: &Dovecot, cron: &Cron, all: &BTreeMap<String, Vec<String>>, round: usize) {
    let want: Vec<String> = all.keys().cloned().collect();
    // The server finishes a MOVE its killed client had started on its own
    // time: what is in flight lands within moments. A message lost for
    // good stays lost, so a settled listing is what is checked.
    let settle = Instant::now();
    let (processed, both) = loop {
        let inbox = ids(dv, "INBOX");
        let processed = ids(dv, "Processed");
        let mut both: Vec<String> = inbox.iter().chain(&processed).cloned().collect();
        both.sort();
        if both == want || settle.elapsed() > Duration::from_secs(10) {
            break (processed, both);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        both, want,
        "round {round}: a message was lost or duplicated"
    );
    if processed.is_empty() || !cron.state().exists() {
        assert!(
            processed.is_empty(),
            "round {round}: acked without any state"
        );
        return;
    }
    // A copy of the committed state: every record of an acked message must
    // already be there (bapply reports it as a duplicate).
    let copy = cron.dir.path().join(format!("check-{round}.sqlite"));
    let _ = std::fs::remove_file(&copy);
    rusqlite::Connection::open(cron.state())
        .unwrap()
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    let recs: Vec<&String> = processed.iter().flat_map(|id| &all[id]).collect();
    let with_address = recs
        .iter()
        .filter(|r| !r.contains("\"recipient\":null"))
        .count();
    let (code, err) = bapply(
        &[
            "--state",
            copy.to_str().unwrap(),
            "--force",
            "--format",
            "csv",
        ],
        &recs,
    );
    assert_eq!(code, 0, "{err}");
    let dups = err
        .split(", ")
        .find_map(|p| p.strip_suffix(" duplicates"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no duplicate count in {err}"));
    assert_eq!(
        dups, with_address,
        "round {round}: acked messages whose records were not applied\n{err}"
    );
    let _ = std::fs::remove_file(&copy);
}

#[test]
fn cron_faults_locked_database_and_random_kills() {
    let dv = dovecot!();
    seed(&dv, 1, "f");
    let first = classify_inbox(&dv);
    let cron = Cron::new();
    contacts_db(&cron.db(), &first);
    let initial = table(&cron.db());

    // 1. The target is locked: bapply gives up after --lock-timeout, exit 75,
    //    nothing acked, nothing changed.
    {
        let lock = rusqlite::Connection::open(cron.db()).unwrap();
        lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let (code, err) = cron.run(&dv);
        assert_eq!(code, 75, "{err}");
        assert!(err.contains("nothing acked"), "{err}");
        lock.execute_batch("ROLLBACK").unwrap();
    }
    assert_eq!(ids(&dv, "Processed"), Vec::<String>::new());
    assert_eq!(ids(&dv, "INBOX").len(), first.len());
    assert_eq!(table(&cron.db()), initial);
    check_invariant(&dv, &cron, &first, 0);

    // 2. The next run succeeds and processes each message once.
    let (code, err) = cron.run(&dv);
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(&cron.db()), expected_table(cron.dir.path(), &first));
    let (handled, review) = split(&first);
    assert_eq!(sorted(ids(&dv, "Processed")), handled);
    assert_eq!(sorted(ids(&dv, "INBOX")), review);
    check_invariant(&dv, &cron, &first, 0);

    // 3. More mail, and the job killed (SIGKILL to its process group) at
    //    random points, again and again.
    seed(&dv, 2, "k");
    let all = classify_inbox(&dv)
        .into_iter()
        .chain(
            // Already in Processed: their records as classified before.
            first.clone(),
        )
        .collect::<BTreeMap<_, _>>();
    // The new mail names the same contacts (the same fixtures), so the
    // table needs no new rows.
    let t = Instant::now();
    let (code, err) = {
        // One timed run on a throw-away copy of nothing: measure how long a
        // pass takes to spread the kills over it (dry run changes nothing).
        let out = cron.command(&dv).arg("--dry-run").output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, 0, "{err}");
    let span = (t.elapsed().as_millis() as u64).clamp(200, 3000) + 300;
    let mut seed_rng: u64 = std::env::var("E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill test: E2E_SEED={seed_rng}, delays up to {span} ms");
    let mut rand = move || {
        seed_rng ^= seed_rng << 13;
        seed_rng ^= seed_rng >> 7;
        seed_rng ^= seed_rng << 17;
        seed_rng
    };
    let (mut finished, mut killed, mut round) = (0, 0, 0);
    // Later passes are shorter (less left in INBOX): the delays follow the
    // last pass that finished on its own.
    let mut span = span;
    while killed < 22 && round < 80 {
        round += 1;
        use std::os::unix::process::CommandExt;
        let mut child = cron.command(&dv);
        child
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = child.spawn().unwrap();
        let delay = Duration::from_millis(rand() % span);
        let start = Instant::now();
        let mut done = false;
        while start.elapsed() < delay {
            if child.try_wait().unwrap().is_some() {
                done = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if done {
            let _ = child.wait();
            finished += 1;
            span = (start.elapsed().as_millis() as u64 * 12 / 10).max(60);
        } else {
            // The whole group: the script and whichever tool it is running.
            let pgid = child.id() as i32;
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .status();
            let _ = child.wait();
            killed += 1;
            // Orphans of the group (none should survive SIGKILL) must be
            // gone before the invariant is checked.
            std::thread::sleep(Duration::from_millis(50));
        }
        check_invariant(&dv, &cron, &all, round);
    }
    eprintln!("kill test: {killed} runs killed, {finished} finished on their own");
    assert!(killed >= 20, "only {killed} runs were killed");

    // 4. A clean run converges to the result of one run over everything.
    let (code, err) = cron.run(&dv);
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(&cron.db()), expected_table(cron.dir.path(), &all));
    let (handled, review) = split(&all);
    assert_eq!(sorted(ids(&dv, "Processed")), handled);
    assert_eq!(sorted(ids(&dv, "INBOX")), review);
    check_invariant(&dv, &cron, &all, 99);
}

/// bounce-cron with `--alert`: a fired alert is a log line and exit 1,
/// and the updates are applied and the messages acked all the same; a
/// threshold not crossed leaves the exit status 0.
#[test]
fn cron_reports_a_fired_alert_and_applies_all_the_same() {
    let dv = dovecot!();
    // Enough mail to cross a threshold and little enough to be quick: the
    // blocked and hard fixtures, and the success notices.
    let some = |prefixes: &[&str], tag: &str| {
        for (name, msg) in fixtures() {
            if prefixes.iter().any(|p| name.starts_with(p)) {
                dv.save(
                    "INBOX",
                    &with_message_id(&msg, &format!("{tag}-{name}@e2e.test")),
                );
            }
        }
    };
    some(&["blocked-", "hard-", "delivered-"], "alert");
    let records = classify_inbox(&dv);
    let all: Vec<serde_json::Value> = records
        .values()
        .flatten()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    let blocked = all.iter().filter(|v| v["category"] == "blocked").count();
    assert!(
        blocked * 100 > all.len() * 5,
        "the fixtures have more than 5% blocked"
    );
    let cron = Cron::new();
    contacts_db(&cron.db(), &records);
    let want = expected_table(cron.dir.path(), &records);
    let (handled, _) = split(&records);
    let keep = cron.dir.path().join("kept");

    let out = cron
        .command(&dv)
        .args(["--alert", "blocked>5%", "--alert", "hard>99%"])
        .arg("--keep-records")
        .arg(&keep)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let alerts: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("bounce-cron: alert "))
        .collect();
    assert_eq!(alerts.len(), 1, "{err}");
    assert!(
        alerts[0].starts_with(&format!(
            "bounce-cron: alert blocked>5%: {blocked} of {} records",
            all.len()
        )),
        "{err}"
    );
    assert_eq!(table(&cron.db()), want, "the updates were not applied");
    assert_eq!(
        sorted(ids(&dv, "Processed")),
        handled,
        "the messages were not acked"
    );
    let kept: Vec<_> = std::fs::read_dir(&keep)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read_to_string(&kept[0]).unwrap().lines().count(),
        all.len()
    );

    // New mail, a threshold it does not cross: exit 0, no alert line.
    some(&["delivered-"], "calm");
    let out = cron
        .command(&dv)
        .args(["--alert", "blocked>90%"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("alert"), "{err}");

    // A malformed alert is a usage error before anything is fetched.
    let out = cron
        .command(&dv)
        .args(["--alert", "blocked>>5"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
