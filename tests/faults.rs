//! bfetch on a bad day (issue 18, points 2 and 3): a fault-injecting proxy
//! (support/proxy.rs) between bfetch and the real private Dovecot drops,
//! resets or stalls the connection at random byte counts (implicit TLS) and
//! at chosen points of the conversation (plaintext: during LOGIN, in the
//! middle of a FETCH literal, around MOVE and EXPUNGE). After each faulted
//! run a clean one; across both, with `--new`:
//!
//! - the exit status is 75 when the fault hit the run, 0 when the run was
//!   done before it (bounce-tools(7), EXIT STATUS), never anything else;
//! - standard output holds whole messages only, and the state file's last
//!   UID is exactly the last UID written (never past it);
//! - every message comes out exactly once by UID — bfetch writes and
//!   flushes a batch before it moves its state, and a network fault can only
//!   happen before the batch is written, so there is nothing to repeat;
//! - `bfetch ack` moves (or deletes) exactly the acknowledged messages, the
//!   faulted run at most those, the clean run all of them.
//!
//! The schedule is random but seeded: FAULTS_SEED=N repeats a run; the
//! seed is printed at the start and in every failure.
//!
//! And a mailbox deleted and recreated between fetch and ack (a new
//! UIDVALIDITY): ack refuses and changes nothing; the next fetch says why.

use crate::support::dovecot::{Dovecot, USER, bfetch_bare, run, run_with_input};
use crate::support::proxy::{Action, Dir, Fault, Proxy, Trigger};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// A message of the test mailbox; some are big enough that a FETCH answer
/// spans many reads, so a cut can fall deep inside a literal.
pub fn message(k: usize, big: bool) -> Vec<u8> {
    let mut m = format!(
        "From: Mail Delivery System <mailer-daemon@example.com>\r\nTo: bounces@example.com\r\n\
         Subject: fault test {k}\r\nMessage-ID: <f{k}@example.com>\r\n\r\n"
    )
    .into_bytes();
    for line in 0..if big { 600 } else { 6 } {
        m.extend_from_slice(format!("{k:05}.{line:04} The quick brown fox. \r\n").as_bytes());
    }
    m
}

/// The Message-ID number of a message as bfetch wrote it.
pub fn key(v: &serde_json::Value) -> usize {
    let raw = v["raw"].as_str().expect("raw");
    let at = raw.find("Message-ID: <f").expect("our Message-ID") + 14;
    raw[at..].split('@').next().unwrap().parse().unwrap()
}

pub fn seed() -> u64 {
    let seed = std::env::var("FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("seed {seed} (FAULTS_SEED={seed} repeats this schedule)");
    seed
}

/// Message-ID numbers of the messages in `mailbox`.
fn keys_in(dv: &Dovecot, mailbox: &str) -> BTreeSet<usize> {
    dv.message_numbers(mailbox, "f").into_iter().collect()
}

/// bfetch through the proxy: implicit TLS, or plaintext so that the proxy
/// can see the commands.
fn bfetch(dv: &Dovecot, proxy: &Proxy, tls: bool, timeout: u32) -> Command {
    proxy.forward_to(if tls { dv.imaps_port } else { dv.imap_port });
    let mut c = bfetch_bare(dv.home.path());
    c.args(["--host", "127.0.0.1", "--port"])
        .arg(proxy.port.to_string())
        .args(["--user", USER, "--ca-file"])
        .arg(dv.cert())
        .args(["--timeout", &timeout.to_string(), "--connect-timeout", "10"]);
    if !tls {
        c.args(["--tls", "none", "--insecure-plaintext"]);
    }
    c
}

pub fn last_uid(state: &Path, port: u16) -> u64 {
    let Ok(bytes) = std::fs::read(state) else {
        return 0;
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("state is JSON");
    v["accounts"][format!("{USER}@127.0.0.1:{port}")]["INBOX"]["last_uid"]
        .as_u64()
        .unwrap_or(0)
}

fn pick<T: Clone>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())].clone()
}

/// A fault for a fetch: (fault, implicit TLS?, bfetch's --timeout, and
/// LOGIN instead of AUTHENTICATE PLAIN?).
fn fetch_fault(rng: &mut fastrand::Rng, traffic: (u64, u64)) -> (Fault, bool, u32, bool) {
    let action = if rng.u8(..14) == 0 {
        Action::Stall
    } else {
        pick(rng, &[Action::Close, Action::Reset])
    };
    let timeout = if action == Action::Stall { 1 } else { 20 };
    let login = rng.bool();
    let (dir, trigger, tls) = match rng.u8(..7) {
        // Anywhere, by byte count, through TLS.
        0..=2 => {
            let dir = pick(rng, &[Dir::Up, Dir::Down]);
            let total = if dir == Dir::Up { traffic.0 } else { traffic.1 };
            (dir, Trigger::Bytes(rng.u64(..total.max(1))), true)
        }
        // During LOGIN (or AUTHENTICATE PLAIN and its response line).
        3 if login => (
            Dir::Up,
            Trigger::After(b" LOGIN ".to_vec(), rng.u64(..12)),
            false,
        ),
        3 => (
            Dir::Up,
            Trigger::After(b"AUTHENTICATE".to_vec(), rng.u64(..30)),
            false,
        ),
        // In the middle of a message's literal.
        4 => (
            Dir::Down,
            Trigger::After(b"BODY[] {".to_vec(), rng.u64(..300)),
            false,
        ),
        // The FETCH command, or the first bytes of its answer.
        5 => (Dir::Up, Trigger::Before(b"BODY.PEEK[]".to_vec()), false),
        _ => (
            Dir::Down,
            Trigger::After(b" FETCH (".to_vec(), rng.u64(..40)),
            false,
        ),
    };
    (
        Fault {
            dir,
            trigger,
            action,
        },
        tls,
        timeout,
        login,
    )
}

/// A fault for an ack with --move or --delete: (fault, implicit TLS?,
/// bfetch's --timeout).
fn ack_fault(rng: &mut fastrand::Rng, delete: bool, traffic: (u64, u64)) -> (Fault, bool, u32) {
    let action = if rng.u8(..14) == 0 {
        Action::Stall
    } else {
        pick(rng, &[Action::Close, Action::Reset])
    };
    let (dir, trigger, tls) = match rng.u8(..4) {
        0 => {
            let dir = pick(rng, &[Dir::Up, Dir::Down]);
            let total = if dir == Dir::Up { traffic.0 } else { traffic.1 };
            (dir, Trigger::Bytes(rng.u64(..total.max(1))), true)
        }
        // Before the server sees the command: nothing changes.
        1 if delete => (
            Dir::Up,
            Trigger::Before(pick(rng, &[&b"UID EXPUNGE"[..], b"UID STORE"]).to_vec()),
            false,
        ),
        1 => (Dir::Up, Trigger::Before(b"UID MOVE".to_vec()), false),
        // After the server did it, before bfetch hears the OK.
        _ if delete => (Dir::Down, Trigger::After(b" EXPUNGE".to_vec(), 0), false),
        _ => (Dir::Down, Trigger::After(b"[COPYUID ".to_vec(), 0), false),
    };
    (
        Fault {
            dir,
            trigger,
            action,
        },
        tls,
        if action == Action::Stall { 1 } else { 20 },
    )
}

/// Whole JSON lines only.
fn lines(ctx: &str, stdout: &[u8]) -> Vec<serde_json::Value> {
    assert!(
        stdout.is_empty() || stdout.ends_with(b"\n"),
        "{ctx}: standard output ends inside a message"
    );
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{ctx}: not a whole line ({e}): {l:.200}"))
        })
        .collect()
}

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(std::sync::atomic::Ordering::SeqCst)
}

/// The mailbox, the proxy, and what the test knows must be true.
struct World<'a> {
    dv: &'a Dovecot,
    proxy: Proxy,
    seed: u64,
    rng: fastrand::Rng,
    state: std::path::PathBuf,
    uidvalidity: u64,
    /// Messages delivered; message k has UID k + 1 in INBOX.
    delivered: usize,
    /// UID -> message, of everything bfetch wrote.
    written: BTreeMap<u64, usize>,
    /// Messages acknowledged (moved or deleted), and those moved.
    gone: BTreeSet<usize>,
    moved: BTreeSet<usize>,
    /// Bytes up and down of the last clean fetch and ack, to aim faults.
    fetch_traffic: (u64, u64),
    ack_traffic: (u64, u64),
    faulted: usize,
    hit: usize,
    stalls: usize,
    exits75: usize,
}

impl World<'_> {
    /// The last UID in the `--new` state (all runs go through one port).
    fn last_uid(&self) -> u64 {
        last_uid(&self.state, self.proxy.port)
    }

    /// One fetch run, with a fault or clean; checks everything it wrote.
    /// Returns (exit status, messages written).
    fn fetch(
        &mut self,
        ctx: &str,
        fault: Option<&(Fault, bool, u32, bool)>,
        retry: bool,
    ) -> (i32, usize) {
        let (tls, timeout, login) = fault.map_or((true, 20, false), |f| (f.1, f.2, f.3));
        self.proxy.reset();
        if let Some((f, ..)) = fault {
            self.proxy.plan(f.clone());
        }
        let before = self.last_uid();
        let batch = self.rng.usize(1..=4).to_string();
        let r = run(bfetch(self.dv, &self.proxy, tls, timeout)
            .args(["--new", "--batch-messages", &batch, "--state"])
            .arg(&self.state)
            .args(["--retries", if retry { "1" } else { "0" }])
            .args(if login { &["--auth", "login"][..] } else { &[] }));
        let conns = self.proxy.reset();
        let hit = conns
            .iter()
            .any(|c| c.fired.load(std::sync::atomic::Ordering::SeqCst));
        match fault {
            None => self.fetch_traffic = (load(&conns[0].up), load(&conns[0].down)),
            Some((f, ..)) => {
                self.faulted += 1;
                self.hit += usize::from(hit);
                self.stalls += usize::from(hit && f.action == Action::Stall);
                self.exits75 += usize::from(r.code == 75);
            }
        }
        let ok: &[i32] = if hit && !retry { &[75, 0] } else { &[0] };
        assert!(
            ok.contains(&r.code),
            "{ctx}: exit {} (expected {ok:?})\n{}",
            r.code,
            r.stderr
        );
        if r.code == 75 {
            assert_eq!(r.stderr.lines().count(), 1, "{ctx}: one line\n{}", r.stderr);
            assert!(
                r.stderr.contains("127.0.0.1"),
                "{ctx}: names the server\n{}",
                r.stderr
            );
        }
        let out = lines(ctx, &r.stdout);
        let mut prev = before;
        for v in &out {
            let uid = v["uid"].as_u64().unwrap();
            assert!(uid > prev, "{ctx}: UID {uid} after {prev}");
            prev = uid;
            assert_eq!(v["uidvalidity"].as_u64(), Some(self.uidvalidity), "{ctx}");
            if let Some(k) = self.written.insert(uid, key(v)) {
                panic!("{ctx}: UID {uid} (message {k}) written twice");
            }
            assert_eq!(
                key(v) as u64 + 1,
                uid,
                "{ctx}: UID {uid} is another message"
            );
        }
        assert_eq!(
            self.last_uid(),
            prev,
            "{ctx}: the state must name exactly the last UID written"
        );
        (r.code, out.len())
    }

    /// One ack run of `keys`, with a fault or clean; checks the mailboxes.
    fn ack(
        &mut self,
        ctx: &str,
        keys: &BTreeSet<usize>,
        delete: bool,
        fault: Option<&(Fault, bool, u32)>,
    ) {
        let tls = fault.is_none_or(|f| f.1);
        self.proxy.reset();
        if let Some((f, ..)) = fault {
            self.proxy.plan(f.clone());
        }
        let input: String = keys
            .iter()
            .map(|k| {
                format!(
                    "{{\"mailbox\":\"INBOX\",\"uidvalidity\":{},\"uid\":{}}}\n",
                    self.uidvalidity,
                    k + 1
                )
            })
            .collect();
        let mut c = bfetch(self.dv, &self.proxy, tls, fault.map_or(20, |f| f.2));
        c.args(["--retries", "0", "ack"]);
        if delete {
            c.arg("--delete");
        } else {
            c.args(["--move", "Processed"]);
        }
        let r = run_with_input(&mut c, Some(input.as_bytes()));
        let conns = self.proxy.reset();
        let hit = conns
            .iter()
            .any(|c| c.fired.load(std::sync::atomic::Ordering::SeqCst));
        if let Some((f, ..)) = fault {
            self.faulted += 1;
            self.hit += usize::from(hit);
            self.stalls += usize::from(hit && f.action == Action::Stall);
            self.exits75 += usize::from(r.code == 75);
        } else {
            self.ack_traffic = (load(&conns[0].up), load(&conns[0].down));
        }
        let ok: &[i32] = if hit { &[75, 0] } else { &[0] };
        assert!(
            ok.contains(&r.code),
            "{ctx}: exit {} (expected {ok:?})\n{}",
            r.code,
            r.stderr
        );
        let inbox = keys_in(self.dv, "INBOX");
        let processed = keys_in(self.dv, "Processed");
        let before: BTreeSet<usize> = (0..self.delivered)
            .filter(|k| !self.gone.contains(k))
            .collect();
        let left: BTreeSet<usize> = before.difference(keys).copied().collect();
        assert!(
            inbox.is_subset(&before) && left.is_subset(&inbox),
            "{ctx}: exit {}: only acknowledged messages may leave INBOX: \
             acknowledged {keys:?}, missing {:?}, unexpected {:?}\n{}",
            r.code,
            before.difference(&inbox).collect::<Vec<_>>(),
            inbox.difference(&before).collect::<Vec<_>>(),
            r.stderr
        );
        // Those still in INBOX before this run (the others are gone already).
        let fresh: Vec<usize> = keys
            .iter()
            .copied()
            .filter(|k| !self.gone.contains(k))
            .collect();
        let mut may_move = self.moved.clone();
        if !delete {
            may_move.extend(&fresh);
        }
        assert!(
            processed.is_subset(&may_move) && self.moved.is_subset(&processed),
            "{ctx}: Processed holds {processed:?}, may hold {may_move:?}"
        );
        if r.code == 0 {
            assert_eq!(
                inbox, left,
                "{ctx}: exit 0 but not everything acked\n{}",
                r.stderr
            );
            self.gone.extend(&fresh);
            if !delete {
                self.moved.extend(&fresh);
            }
            assert_eq!(processed, self.moved, "{ctx}");
            assert!(
                r.stderr.contains("0 refused, 0 unreadable"),
                "{ctx}: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn faulted_fetch_and_ack_lose_nothing_and_repeat_nothing() {
    let Some(dv) = Dovecot::start() else { return };
    let seed = seed();
    dv.save("INBOX", &message(0, false));
    let mut w = World {
        proxy: Proxy::start(dv.imaps_port),
        seed,
        rng: fastrand::Rng::with_seed(seed),
        state: dv.home.path().join("state.json"),
        uidvalidity: dv.status("INBOX", "uidvalidity").parse().unwrap(),
        dv: &dv,
        delivered: 1,
        written: BTreeMap::new(),
        gone: BTreeSet::new(),
        moved: BTreeSet::new(),
        fetch_traffic: (400, 4000),
        ack_traffic: (300, 2000),
        faulted: 0,
        hit: 0,
        stalls: 0,
        exits75: 0,
    };
    let rounds = 35;
    let start = std::time::Instant::now();
    for round in 0..rounds {
        for _ in 0..w.rng.usize(1..=3) {
            let big = w.rng.bool();
            dv.save("INBOX", &message(w.delivered, big));
            w.delivered += 1;
        }
        // ---- fetch: a faulted run, then a clean one ----
        let fault = fetch_fault(&mut w.rng, w.fetch_traffic);
        let retry = w.rng.u8(..8) == 0 && fault.0.action != Action::Stall;
        let ctx = format!(
            "seed {}, round {round}, fetch, fault {} ({}{}{})",
            w.seed,
            fault.0,
            if fault.1 { "TLS" } else { "plaintext" },
            if fault.3 { ", --auth login" } else { "" },
            if retry { ", --retries 1" } else { "" }
        );
        let (code, _) = w.fetch(&ctx, Some(&fault), retry);
        let (_, n) = w.fetch(&format!("{ctx}; the clean run after it"), None, false);
        if code == 0 {
            assert_eq!(n, 0, "{ctx}: exit 0, yet the next run found more to write");
        }
        let uids: Vec<u64> = w.written.keys().copied().collect();
        assert_eq!(
            uids,
            (1..=w.delivered as u64).collect::<Vec<_>>(),
            "{ctx}: after the clean run, every message written exactly once"
        );

        // ---- ack: a faulted run, then a clean one over the same records ----
        let mut open: Vec<usize> = (0..w.delivered).filter(|k| !w.gone.contains(k)).collect();
        w.rng.shuffle(&mut open);
        let mut keys: BTreeSet<usize> = open.into_iter().take(w.rng.usize(1..=4)).collect();
        if w.rng.u8(..4) == 0
            && let Some(&g) = w.gone.iter().next()
        {
            keys.insert(g); // acknowledged twice: reported, harmless
        }
        let delete = w.rng.u8(..4) == 0;
        let fault = ack_fault(&mut w.rng, delete, w.ack_traffic);
        let ctx = format!(
            "seed {}, round {round}, ack {} {keys:?}, fault {} ({})",
            w.seed,
            if delete {
                "--delete"
            } else {
                "--move Processed"
            },
            fault.0,
            if fault.1 { "TLS" } else { "plaintext" },
        );
        w.ack(&ctx, &keys, delete, Some(&fault));
        w.ack(
            &format!("{ctx}; the clean run after it"),
            &keys,
            delete,
            None,
        );
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "faults: seed {seed}: {rounds} rounds, {} faulted runs ({} hit by their fault, {} stalls past --timeout, {} exits 75), {} messages, {} acked, in {secs:.1} s",
        w.faulted,
        w.hit,
        w.stalls,
        w.exits75,
        w.delivered,
        w.gone.len()
    );
    assert!(w.hit >= 50, "seed {seed}: only {} faults hit a run", w.hit);
}

/// The mailbox deleted and recreated between fetch and ack (what a
/// migration or an administrator's "empty the folder" does): its
/// UIDVALIDITY changes and UIDs 1, 2 ... name other messages now.
#[test]
fn mailbox_recreated_between_fetch_and_ack() {
    let Some(dv) = Dovecot::start() else { return };
    let mb = "Bounces";
    dv.doveadm(&["mailbox", "create", "-u", USER, mb]);
    for k in 0..3 {
        dv.save(mb, &message(k, false));
    }
    let state = dv.state_file();
    let fetch = |extra: &[&str]| {
        let mut c = dv.bfetch();
        c.args(["--mailbox", mb, "--new", "--state"])
            .arg(&state)
            .args(extra);
        run(&mut c)
    };
    let first = fetch(&[]).expect(0);
    assert_eq!(first.uids(), vec![1, 2, 3]);
    let old_uv = dv.status(mb, "uidvalidity");

    dv.doveadm(&["mailbox", "delete", "-u", USER, mb]);
    dv.doveadm(&["mailbox", "create", "-u", USER, mb]);
    for k in 10..12 {
        dv.save(mb, &message(k, false));
    }
    let new_uv = dv.status(mb, "uidvalidity");
    assert_ne!(
        old_uv, new_uv,
        "Dovecot gave the new mailbox a new UIDVALIDITY"
    );
    let flags = dv.flags(mb);

    // ack with the records of the old mailbox: refused, nothing touched.
    for action in [&["--move", "Processed"][..], &["--delete"], &["--seen"]] {
        let mut c = dv.bfetch();
        c.arg("ack").args(action);
        let r = run_with_input(&mut c, Some(&first.stdout)).expect(65);
        assert!(
            r.stderr.contains(&format!(
                "refused: the mailbox's UIDVALIDITY is now {new_uv}"
            )) && r.stderr.contains("0 done, 0 already gone, 3 refused"),
            "{}",
            r.stderr
        );
        assert_eq!(dv.flags(mb), flags, "{action:?} changed the new mailbox");
        assert_eq!(dv.status("Processed", "messages"), "0");
    }

    // The next --new fetch says why it stops and keeps its state ...
    let saved = std::fs::read(&state).unwrap();
    let r = fetch(&[]).expect(65);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains(&format!(
            "{mb}: UIDVALIDITY changed from {old_uv} to {new_uv} since the last run"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&state).unwrap(), saved);
    // ... and, told to, starts over, saying why; a bounce-cron style fetch
    // (no --new) simply reads what is there now.
    let r = fetch(&["--on-uidvalidity-change", "refetch"]).expect(0);
    assert!(
        r.stderr.contains(&format!(
            "{mb}: UIDVALIDITY changed ({old_uv} -> {new_uv}); fetching everything again"
        )),
        "{}",
        r.stderr
    );
    let keys: Vec<usize> = r.json().iter().map(key).collect();
    assert_eq!(keys, vec![10, 11]);
    assert_eq!(r.uids(), vec![1, 2]);
    assert!(
        r.json()
            .iter()
            .all(|v| v["uidvalidity"].as_u64().map(|u| u.to_string()) == Some(new_uv.clone()))
    );
    let r = fetch(&[]).expect(0);
    assert!(r.stdout.is_empty(), "the state moved to the new mailbox");
    // Its records ack the new messages.
    let all = run(dv.bfetch().args(["--mailbox", mb])).expect(0);
    let mut c = dv.bfetch();
    c.args(["ack", "--move", "Processed"]);
    run_with_input(&mut c, Some(&all.stdout)).expect(0);
    assert_eq!(keys_in(&dv, "Processed"), BTreeSet::from([10, 11]));
}
