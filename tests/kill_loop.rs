//! The cron job and the mail hook on a bad day (issue 18, points 4 and 6),
//! with our own generated bounces (hard ones, and soft ones two or three
//! per address, so a soft count counted twice would block an address that
//! must stay active):
//!
//! - `contrib/bounce-cron --apply sqlite:…` killed with SIGKILL to its
//!   whole process group ≥ 50 times, at a seeded random point of a chosen
//!   phase (fetch, classify, apply, ack) or of the whole pass; after every
//!   kill each message is in INBOX or Processed exactly once, and every
//!   message in Processed has its event committed in bapply's state; a
//!   clean run then ends with every event once, soft counts not doubled,
//!   every update applied once (a trigger logs every write to the contact
//!   table: each status changes once; a kill between the target's commit
//!   and the state's makes the next run write the same value again, which
//!   is counted and reported). Once all mail was delivered and handled,
//!   some of it is moved back to INBOX (a restore), which must count
//!   nothing twice either.
//! - The same ≥ 20 times with `--apply postgres://… --state postgres://…`
//!   against the private PostgreSQL.
//! - Two bounce-cron runs at once: the second exits 75 (or, with --wait,
//!   waits and then finds nothing left to do); nothing is processed twice.
//! - procmail delivering 50 bounces in parallel through
//!   contrib/procmailrc.example into one state: the deliveries that meet a
//!   locked contact table exit 75 and are retried as an MTA would; every
//!   event counts once and none is lost.

use crate::support::bounces::*;
use crate::support::databases::Postgres;
use crate::support::dovecot::{Dovecot, USER};
use crate::support::procs::*;
use crate::support::repo_root;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Message numbers in `mailbox`, with repeats.
fn keys_in(dv: &Dovecot, mailbox: &str) -> Vec<usize> {
    dv.message_numbers(mailbox, "kl")
}

/// bounce-cron's directories, and the target and state it applies to.
struct Cron<'a> {
    dir: tempfile::TempDir,
    store: Store<'a>,
}

impl<'a> Cron<'a> {
    /// Target and state in SQLite files of the cron's directory.
    fn sqlite() -> Cron<'static> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::Sqlite {
            db: dir.path().join("contacts.db"),
            state: dir.path().join("state.sqlite"),
        };
        Cron { dir, store }
    }
    /// Target and state in the private PostgreSQL.
    fn postgres(pg: &'a Postgres) -> Cron<'a> {
        Cron {
            dir: tempfile::tempdir().unwrap(),
            store: Store::Postgres(pg),
        }
    }
    fn command(&self, dv: &Dovecot, wait: u32) -> Command {
        let bin = Path::new(env!("CARGO_BIN_EXE_bfetch")).parent().unwrap();
        let mut c = Command::new("bash");
        c.arg(repo_root().join("contrib/bounce-cron"))
            .arg("--bin-dir")
            .arg(bin)
            .arg("--apply")
            .arg(self.store.apply_arg())
            .arg("--state")
            .arg(self.store.state_arg())
            .arg("--work-dir")
            .arg(self.dir.path().join("work"))
            .arg("--lock")
            .arg(self.dir.path().join("lock"))
            .args(["--wait", &wait.to_string(), "--log", "none", "--force"])
            .args(["--bapply-arg", "--lock-timeout", "--bapply-arg", "5"]);
        dv.cron_account(&mut c);
        c.env("HOME", dv.home.path())
            .env("XDG_STATE_HOME", dv.home.path().join("state"))
            .env("XDG_CONFIG_HOME", dv.home.path().join("config"))
            .stdin(Stdio::null());
        c
    }
    fn spawn(&self, dv: &Dovecot, wait: u32) -> Child {
        self.command(dv, wait).process_group_spawn()
    }
}

/// After every kill: each delivered message is in INBOX or Processed
/// exactly once, each one in Processed has its event committed, and each
/// update the state committed is in the contact table.
fn check_invariant(dv: &Dovecot, cron: &Cron, all: &[Bounce], delivered: usize, ctx: &str) {
    let inbox = keys_in(dv, "INBOX");
    let processed = keys_in(dv, "Processed");
    let mut both: Vec<usize> = inbox.iter().chain(&processed).copied().collect();
    both.sort_unstable();
    assert_eq!(
        both,
        (0..delivered).collect::<Vec<_>>(),
        "{ctx}: a message lost or duplicated (INBOX {inbox:?}, Processed {processed:?})"
    );
    let done = cron.store.committed(all, ctx);
    let early: Vec<_> = processed.iter().filter(|k| !done.contains(k)).collect();
    assert!(
        early.is_empty(),
        "{ctx}: messages {early:?} acked before their events were committed"
    );
    cron.store.check_updates(ctx);
}

#[test]
fn bounce_cron_killed_at_random_points_loses_and_doubles_nothing() {
    let Some(dv) = Dovecot::start() else { return };
    kill_loop(&dv, &Cron::sqlite(), 55);
}

/// The same with `--apply postgres://… --state postgres://…`: the target
/// and the state are two transactions on the server, each rolled back by
/// the server when the client dies.
#[test]
fn bounce_cron_on_postgres_killed_at_random_points_loses_and_doubles_nothing() {
    let Some(dv) = Dovecot::start() else { return };
    let Some(pg) = Postgres::start() else {
        return crate::support::skip("PostgreSQL server");
    };
    kill_loop(&dv, &Cron::postgres(&pg), 25);
}

/// bounce-cron killed (SIGKILL to its process group) `min_kills` times at
/// a seeded random point of a phase or of the whole pass, with mail
/// delivered in waves; then everything delivered and one clean pass.
fn kill_loop(dv: &Dovecot, cron: &Cron, min_kills: usize) {
    let seed = crate::faults::seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let all = bounces(10, 6, 4); // 10 + 12 + 12 = 34 messages
    cron.store.create_contacts(&all);
    let t0 = Instant::now();
    // Delivered in waves: a pass that runs to its end takes all there is,
    // and the next wave gives the kills something to interrupt again.
    let mut delivered = 0;
    let deliver = |n: usize, delivered: &mut usize| {
        for b in all.iter().skip(*delivered).take(n) {
            dv.save("INBOX", &b.eml());
        }
        *delivered = (*delivered + n).min(all.len());
    };
    deliver(6, &mut delivered);
    let (mut kills, mut finished, mut round) = (0, 0, 0);
    let mut by_phase: BTreeMap<String, usize> = BTreeMap::new();
    while kills < min_kills && round < 4 * min_kills {
        round += 1;
        // Where to kill: once a phase's program runs, after a random pause
        // within it; or at a random time of the pass; or not at all.
        let phases = [Phase::Fetch, Phase::Classify, Phase::Apply, Phase::Ack];
        let target = match rng.u8(..10) {
            0..=6 => Some(phases[rng.usize(..4)]),
            _ => None,
        };
        // Within a phase: soon (bapply on a few records takes milliseconds);
        // anywhere: over the whole pass.
        let pause = Duration::from_micros(rng.u64(..12_000));
        let never = rng.u8(..12) == 0;
        let ctx = format!(
            "seed {seed}, round {round}, kill {}",
            if never {
                "none".to_string()
            } else {
                format!("{target:?} + {pause:?}")
            }
        );
        let mut child = cron.spawn(dv, 0);
        let pgid = child.id();
        let start = Instant::now();
        let mut armed: Option<Instant> = None;
        let mut killed_in = None;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                assert_eq!(status.code(), Some(0), "{ctx}: {err}");
                finished += 1;
                break;
            }
            if !never && armed.is_none() {
                let running: Vec<Phase> = group(pgid)
                    .iter()
                    .filter_map(|(_, a)| phase_of(a))
                    .collect();
                if target.is_none_or(|t| running.contains(&t)) {
                    armed = Some(Instant::now());
                }
            }
            if let Some(at) = armed {
                let wait = if target.is_none() { pause * 25 } else { pause };
                if at.elapsed() >= wait {
                    let running = group(pgid)
                        .iter()
                        .find_map(|(_, a)| phase_of(a))
                        .map_or("bounce-cron".to_string(), |p| format!("{p:?}"));
                    kill_group(pgid, "-KILL");
                    let _ = child.wait();
                    wait_group_gone(pgid);
                    killed_in = Some(running);
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{ctx}: pass hangs"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        if let Some(p) = killed_in {
            kills += 1;
            *by_phase.entry(p).or_default() += 1;
        } else if delivered < all.len() {
            deliver(rng.usize(3..=8), &mut delivered);
        } else {
            // Everything delivered and handled: some messages come back
            // (a restore, an administrator's mistake). They count nothing
            // twice, and give the next kills work to interrupt.
            let mut back = keys_in(dv, "Processed");
            rng.shuffle(&mut back);
            for k in back.into_iter().take(rng.usize(3..=8)) {
                dv.doveadm(&[
                    "move",
                    "-u",
                    USER,
                    "INBOX",
                    "mailbox",
                    "Processed",
                    "header",
                    "message-id",
                    &all[k].message_id(),
                ]);
            }
        }
        check_invariant(dv, cron, &all, delivered, &ctx);
    }
    assert!(kills >= min_kills, "seed {seed}: only {kills} kills");

    // Everything delivered, then one clean pass: the result of one pass
    // over everything.
    deliver(all.len(), &mut delivered);
    let out = cron.command(dv, 0).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "seed {seed}: clean run: {err}");
    let ctx = format!("seed {seed}, after the clean run");
    check_invariant(dv, cron, &all, all.len(), &ctx);
    assert_eq!(keys_in(dv, "INBOX"), Vec::<usize>::new(), "{ctx}");
    let repeated = cron.store.check_final(&all, &ctx);
    eprintln!(
        "kill loop ({}): seed {seed}: {kills} kills ({by_phase:?}), {finished} passes ran to the end, {round} rounds, {repeated} updates written again with the same value, 0 lost, 0 doubled, 0 acked before committed, {:.1} s",
        cron.store.apply_arg().split(':').next().unwrap(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn two_bounce_cron_runs_at_once_process_each_message_once() {
    let Some(dv) = Dovecot::start() else { return };
    let all = bounces(6, 3, 2);
    let cron = Cron::sqlite();
    cron.store.create_contacts(&all);
    for b in &all {
        dv.save("INBOX", &b.eml());
    }
    // Run A takes the lock first; it is held still (SIGSTOP) once its
    // fetch runs, so that the others surely meet the lock.
    let a = cron.spawn(&dv, 0);
    wait_for(a.id(), "run A's bfetch", |argv| phase_of(argv).is_some());
    kill_group(a.id(), "-STOP");
    // B, with the default --wait 0: exit 75 at once, nothing done.
    let b = cron.command(&dv, 0).output().unwrap();
    let err = String::from_utf8_lossy(&b.stderr);
    assert_eq!(b.status.code(), Some(75), "{err}");
    assert!(err.contains("another run holds"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // C, with --wait: waits for A (in flock), then finds nothing left.
    let c = cron.command(&dv, 60).arg("-v").process_group_spawn();
    wait_for(c.id(), "run C waiting in flock", |argv| {
        argv.first().is_some_and(|p| p.ends_with("flock"))
    });
    kill_group(a.id(), "-CONT");
    let a = a.wait_with_output().unwrap();
    assert_eq!(
        a.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
    let c = c.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&c.stderr);
    assert_eq!(c.status.code(), Some(0), "{err}");
    assert!(err.contains("mailbox empty, nothing to do"), "{err}");
    assert_eq!(keys_in(&dv, "INBOX"), Vec::<usize>::new());
    assert_eq!(
        keys_in(&dv, "Processed"),
        (0..all.len()).collect::<Vec<_>>()
    );
    cron.store.check_final(&all, "two runs at once");
}

#[test]
fn procmail_hook_delivers_50_bounces_in_parallel_into_one_state() {
    if crate::support::find_program(&["procmail"]).is_none() {
        crate::support::skip("procmail");
        return;
    }
    let seed = crate::faults::seed();
    let all = bounces(14, 6, 8); // 14 + 12 + 24 = 50 messages
    assert_eq!(all.len(), 50);
    let dir = tempfile::tempdir().unwrap();
    let (db, state) = (
        dir.path().join("contacts.db"),
        dir.path().join("state.sqlite"),
    );
    let (review, mailbox) = (dir.path().join("Review"), dir.path().join("mailbox"));
    let store = Store::Sqlite {
        db: db.clone(),
        state: state.clone(),
    };
    store.create_contacts(&all);
    let bin = Path::new(env!("CARGO_BIN_EXE_bclassify")).parent().unwrap();
    let procmail = || {
        let mut c = Command::new("procmail");
        c.arg("-m").env("HOME", dir.path());
        c.arg(format!(
            "BOUNCE_PATH={}:{}:/usr/local/bin:/usr/bin:/bin",
            bin.display(),
            repo_root().join("contrib").display()
        ));
        c.arg(format!("BOUNCE_DB={}", db.display()));
        c.arg(format!("BOUNCE_REVIEW={}/", review.display()));
        c.arg(format!(
            "BOUNCE_OPTS=--state {} --lock-timeout 1",
            state.display()
        ));
        c.arg(format!("DEFAULT={}", mailbox.display()));
        c.arg(repo_root().join("contrib/procmailrc.example"));
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let t0 = Instant::now();
    let retries = std::sync::atomic::AtomicUsize::new(0);
    let deferred = &retries;
    std::thread::scope(|s| {
        // The contact table is locked (a long report query, a backup) until
        // ten deliveries met the lock, gave up after --lock-timeout and exit
        // 75; the MTA's retries then go through.
        let lock = rusqlite::Connection::open(&db).unwrap();
        lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
        s.spawn(move || {
            let start = Instant::now();
            while deferred.load(std::sync::atomic::Ordering::SeqCst) < 10 {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "no delivery deferred"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            lock.execute_batch("ROLLBACK").unwrap();
        });
        for b in &all {
            let (procmail, retries) = (&procmail, &retries);
            let mut rng = fastrand::Rng::with_seed(seed ^ b.k as u64);
            s.spawn(move || {
                // As an MTA does: 75 keeps the message queued; deliver again later.
                for attempt in 0.. {
                    let mut child = procmail().spawn().unwrap();
                    {
                        use std::io::Write;
                        let mut stdin = child.stdin.take().unwrap();
                        stdin.write_all(&b.eml()).unwrap();
                    }
                    let out = child.wait_with_output().unwrap();
                    match out.status.code() {
                        Some(0) => break,
                        Some(75) if attempt < 50 => {
                            retries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(rng.u64(20..200)));
                        }
                        code => panic!(
                            "seed {seed}: message {}: procmail exit {code:?}: {}",
                            b.k,
                            String::from_utf8_lossy(&out.stderr)
                        ),
                    }
                }
            });
        }
    });
    let retries = retries.into_inner();
    assert!(retries >= 10);
    eprintln!(
        "procmail: 50 parallel deliveries, {retries} deferred with 75 and retried, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        !mailbox.exists(),
        "a bounce fell through to normal delivery: {}",
        std::fs::read_to_string(&mailbox).unwrap_or_default()
    );
    assert!(
        std::fs::read_dir(review.join("new")).map_or(true, |mut d| d.next().is_none()),
        "a bounce went to review"
    );
    store.check_final(&all, &format!("seed {seed}: procmail"));
}

/// bfetch --new itself killed (SIGKILL) at random points while it writes.
/// A kill is no network fault: it can fall after a batch was flushed and
/// before the state file was renamed, so the contract is at least once —
/// the state never covers a message that was not written (whole line), and
/// the next run repeats at most what came after the state (bapply counts a
/// repeated message once). Nothing is ever skipped.
#[test]
fn bfetch_new_killed_at_random_points_never_skips_a_message() {
    let Some(dv) = Dovecot::start() else { return };
    let seed = crate::faults::seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let state = dv.state_file();
    let mut delivered = 0;
    let mut deliver = |n: usize, rng: &mut fastrand::Rng| {
        for _ in 0..n {
            dv.save("INBOX", &crate::faults::message(delivered, rng.bool()));
            delivered += 1;
        }
        delivered
    };
    let mut total = deliver(30, &mut rng);
    let mut received: BTreeMap<u64, usize> = BTreeMap::new(); // UID -> times
    let (mut kills, mut repeats, mut round) = (0, 0, 0);
    let t0 = Instant::now();
    while kills < 30 && round < 400 {
        round += 1;
        let ctx = format!("seed {seed}, round {round}");
        let mut child = dv
            .bfetch()
            .args(["--new", "--state"])
            .arg(&state)
            .args(["--batch-messages", &rng.usize(1..=4).to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut v);
            v
        });
        // A run over a few new messages takes tens of milliseconds: most
        // kills should fall inside one.
        let delay = Duration::from_micros(rng.u64(..40_000));
        let start = Instant::now();
        let mut status = None;
        while start.elapsed() < delay {
            status = child.try_wait().unwrap();
            if status.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(300));
        }
        if status.is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        let status = child.wait().unwrap();
        let out = reader.join().unwrap();
        // Only whole lines count as received; a cut last line does not.
        let whole = &out[..out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)];
        for line in String::from_utf8_lossy(whole).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let uid = v["uid"].as_u64().unwrap();
            assert_eq!(crate::faults::key(&v) as u64 + 1, uid, "{ctx}");
            let n = received.entry(uid).or_default();
            *n += 1;
            repeats += usize::from(*n > 1);
        }
        let saved = crate::faults::last_uid(&state, dv.imaps_port);
        let skipped: Vec<u64> = (1..=saved).filter(|u| !received.contains_key(u)).collect();
        assert!(
            skipped.is_empty(),
            "{ctx}: the state says {saved}, but {skipped:?} were never written"
        );
        if status.success() {
            assert_eq!(saved, total as u64, "{ctx}: exit 0 before the end");
            total = deliver(rng.usize(3..=8), &mut rng);
        }
    }
    let r = crate::support::dovecot::run(dv.bfetch().args(["--new", "--state"]).arg(&state));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for uid in r.uids() {
        *received.entry(uid).or_default() += 1;
    }
    assert_eq!(
        received.keys().copied().collect::<Vec<_>>(),
        (1..=total as u64).collect::<Vec<_>>(),
        "seed {seed}: every message written at least once"
    );
    eprintln!(
        "bfetch kills: seed {seed}: {kills} kills in {round} runs, {total} messages, {repeats} written again after a kill, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(kills >= 30, "seed {seed}: only {kills} kills");
}
