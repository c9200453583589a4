//! bapply with its state in PostgreSQL (issue 14, point 5), against the
//! private server of `support::databases`: two hosts on one state give
//! the result of some serial order; a bounce message counts once per
//! recipient across hosts; the state is reused across runs; a state from
//! a newer bapply is refused and an older one upgraded; `--check-state`,
//! `--lock-timeout`, a run killed while it holds the state; the policy
//! limits' state (`--good`, `--scope list`).

use crate::support::bapply::{Env, bin, day, record, run};
use crate::support::databases::Postgres;
use crate::support::skip;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The state of one schema, with contact ids replaced by keys (ids depend
/// on the order in which runs met the contacts) and `emitted_at` left out.
fn dump(client: &mut postgres::Client, schema: &str) -> Vec<String> {
    let mut rows = Vec::new();
    let queries = [
        format!("SELECT key FROM {schema}.contact ORDER BY key"),
        format!(
            "SELECT c.key, e.message::text, e.category, e.at::text FROM {schema}.event e \
             JOIN {schema}.contact c ON c.id = e.contact ORDER BY 1, 2"
        ),
        format!(
            "SELECT c.key, m.ukey, m.dest, m.email, m.action, m.category, m.reason, m.status, \
             m.count::text, m.first_seen, m.last_seen, m.subscriber, m.new_email, m.rule, \
             m.evidence FROM {schema}.emitted m JOIN {schema}.contact c ON c.id = m.contact \
             ORDER BY 1, 2, 3"
        ),
        format!("SELECT name, value::text FROM {schema}.meta ORDER BY name"),
    ];
    for q in &queries {
        for r in client.query(q.as_str(), &[]).unwrap() {
            let cols: Vec<Option<String>> = (0..r.len()).map(|i| r.get(i)).collect();
            rows.push(format!("{cols:?}"));
        }
    }
    rows
}

fn args(pg: &Postgres, schema: &str, file: &str) -> Vec<String> {
    let url = format!("{}?schema={schema}", pg.url("postgres"));
    ["--force", "--format", "jsonl", "--state", &url, file]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// How many times the ranges of [`mailboxes`] are stretched.
const SCALE: usize = 5;

/// Two mailboxes read by two hosts (with `SCALE` 1; it multiplies every
/// range). Addresses 20..40 are in both: their soft bounces cross the
/// threshold (3 within 30 days) only together, so whichever run comes
/// second emits the block, with its own detail. Both mailboxes hold the
/// same bounce messages for addresses 30..50, which count once; a delivered
/// DSN in B clears A's soft bounces for 10..15 when it is dated after them.
fn mailboxes() -> (Vec<Value>, Vec<Value>) {
    let addr = |i: usize| format!("u{i}@example.com");
    let r = |lo: usize, hi: usize| lo * SCALE..hi * SCALE;
    let mut a = Vec::new();
    let mut b = Vec::new();
    for i in r(0, 40) {
        for k in 0..2 {
            a.push(record(&format!("a{i}-{k}"), &addr(i), "soft", &day(k + 1)));
        }
    }
    for i in r(0, 5) {
        a.push(record(&format!("ah{i}"), &addr(i), "hard", &day(3)));
    }
    for i in r(20, 60) {
        for k in 0..2 {
            b.push(record(&format!("b{i}-{k}"), &addr(i), "soft", &day(k + 4)));
        }
    }
    for i in r(30, 50) {
        let shared = record(&format!("shared{i}"), &addr(i), "soft", &day(6));
        a.push(shared.clone());
        b.push(shared);
    }
    for i in r(10, 15) {
        b.push(record(&format!("d{i}"), &addr(i), "delivered", &day(2)));
        a.push(record(&format!("a{i}-late"), &addr(i), "soft", &day(3)));
    }
    (a, b)
}

fn lines(out: &str) -> Vec<String> {
    let mut l: Vec<String> = out.lines().map(str::to_string).collect();
    l.sort();
    l
}

/// What a serial or concurrent pair of runs left: each run's updates
/// (sorted) and the state.
#[derive(Debug, PartialEq)]
struct Outcome {
    a: Vec<String>,
    b: Vec<String>,
    state: Vec<String>,
}

#[test]
fn two_hosts_at_once_give_the_result_of_a_serial_order() {
    let Some(pg) = Postgres::start() else {
        return skip("PostgreSQL server");
    };
    let env = Env::new();
    let (a, b) = mailboxes();
    let fa = env.write_records("a.jsonl", &a);
    let fb = env.write_records("b.jsonl", &b);
    let mut client = pg.client("postgres");
    let serial = |schema: &str, first: &str, second: &str| {
        let r1 = run(&args(&pg, schema, first), b"", env.dir.path()).expect(0);
        let r2 = run(&args(&pg, schema, second), b"", env.dir.path()).expect(0);
        (r1, r2)
    };
    let (ab1, ab2) = serial("serial_ab", &fa, &fb);
    let ab = Outcome {
        a: lines(&ab1.stdout),
        b: lines(&ab2.stdout),
        state: dump(&mut client, "serial_ab"),
    };
    let (ba1, ba2) = serial("serial_ba", &fb, &fa);
    let ba = Outcome {
        a: lines(&ba2.stdout),
        b: lines(&ba1.stdout),
        state: dump(&mut client, "serial_ba"),
    };
    // The two orders differ (or the test could not tell them apart): the
    // second run emits the blocks of 20..40, and a delivered DSN read
    // first keeps A's soft bounces of 10..15 from crossing.
    assert_ne!(ab, ba);
    let blocks = |l: &[String]| l.iter().filter(|l| l.contains("\"block\"")).count();
    assert_eq!(blocks(&ab.b), 20 * SCALE);
    assert!(ab.a.len() > ba.a.len(), "{ab:#?}\n{ba:#?}");

    let (mut first_a, mut first_b) = (0, 0);
    let start = Instant::now();
    // Each iteration on a schema of its own: a new state.
    for i in 0..20 {
        let schema = format!("concurrent_{i}");
        // Odd iterations start from a state that exists (an earlier run
        // on no input created it), even ones from nothing.
        if i % 2 == 1 {
            let empty = env.write_records("empty.jsonl", &[]);
            run(&args(&pg, &schema, &empty), b"", env.dir.path()).expect(0);
        }
        let spawn = || {
            Command::new(bin())
                .args(args(&pg, &schema, "-"))
                .env("XDG_STATE_HOME", env.path("xdg"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (mut pa, mut pb) = (spawn(), spawn());
        // Both connected (one holds the state, the other waits for it)
        // before either has its input: their work overlaps as much as the
        // state lets it.
        let waited = Instant::now();
        while client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bapply'",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
            < 2
        {
            assert!(waited.elapsed() < Duration::from_secs(30), "no connections");
            std::thread::sleep(Duration::from_millis(2));
        }
        let feed = |child: &mut std::process::Child, file: &str| {
            let mut stdin = child.stdin.take().unwrap();
            let data = std::fs::read(file).unwrap();
            std::thread::spawn(move || stdin.write_all(&data).unwrap())
        };
        let (wa, wb) = (feed(&mut pa, &fa), feed(&mut pb, &fb));
        let (oa, ob) = (
            pa.wait_with_output().unwrap(),
            pb.wait_with_output().unwrap(),
        );
        wa.join().unwrap();
        wb.join().unwrap();
        for o in [&oa, &ob] {
            assert!(
                o.status.success(),
                "iteration {i}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let got = Outcome {
            a: lines(&String::from_utf8_lossy(&oa.stdout)),
            b: lines(&String::from_utf8_lossy(&ob.stdout)),
            state: dump(&mut client, &schema),
        };
        if got == ab {
            first_a += 1;
        } else if got == ba {
            first_b += 1;
        } else {
            panic!(
                "iteration {i}: neither serial order\n--- got\n{got:#?}\n--- A then B\n{ab:#?}\n--- B then A\n{ba:#?}"
            );
        }
    }
    eprintln!(
        "20 concurrent pairs in {:.1?}: A first {first_a}, B first {first_b}",
        start.elapsed()
    );
}

#[test]
fn state_is_shared_by_hosts_reused_across_runs_and_counts_a_message_once() {
    let Some(pg) = Postgres::start() else {
        return skip("PostgreSQL server");
    };
    let env = Env::new();
    let x = "x@example.com";
    let url = pg.url("postgres");
    let state = ["--state", &url, "--format", "jsonl", "--force"];
    // Host 1 reads m1 and m2; host 2 reads a copy of the mailbox with m2
    // again and m3 for someone else: x has two soft bounces, not three.
    let host1 = [
        record("m1", x, "soft", &day(1)),
        record("m2", x, "soft", &day(2)),
    ];
    let r = env.bapply(&state, &host1).expect(0);
    assert_eq!(r.stdout, "", "{r}");
    let host2 = [
        record("m2", x, "soft", &day(2)),
        record("m3", "y@example.com", "soft", &day(2)),
    ];
    let r = env.bapply(&state, &host2).expect(0);
    assert_eq!(r.stdout, "", "m2 counted twice\n{r}");
    assert!(r.stderr.contains("1 duplicates"), "{r}");
    // The third bounce, on host 2, crosses.
    let third = [record("m4", x, "soft", &day(3))];
    let r = env.bapply(&state, &third).expect(0);
    let updates: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(updates.len(), 1, "{r}");
    assert_eq!(updates[0]["email"], x);
    assert_eq!(updates[0]["action"], "block");
    assert_eq!(updates[0]["count"], 3);
    assert_eq!(updates[0]["first_seen"], day(1));
    // Run again, on either host: nothing new.
    for input in [&third[..], &host1[..]] {
        let r = env.bapply(&state, input).expect(0);
        assert_eq!(r.stdout, "", "{r}");
    }
    let r = env
        .bapply(&["--state", &url, "--all", "--format", "jsonl"], &[])
        .expect(0);
    assert_eq!(r.stdout.lines().count(), 1, "{r}");
    // The database itself holds (contact, message) unique.
    let mut client = pg.client("postgres");
    let err = client
        .execute(
            "INSERT INTO bapply.event SELECT * FROM bapply.event LIMIT 1",
            &[],
        )
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
        "{err}"
    );
    let events: i64 = client
        .query_one("SELECT count(*) FROM bapply.event", &[])
        .unwrap()
        .get(0);
    assert_eq!(events, 4);
    // --dry-run changes nothing; postgresql:// names the same state.
    let alias = url.replacen("postgres://", "postgresql://", 1);
    let r = env
        .bapply(
            &["--state", &alias, "--dry-run", "--format", "jsonl"],
            &[record("m5", "z@example.com", "hard", &day(4))],
        )
        .expect(0);
    assert!(r.stdout.contains("z@example.com"), "{r}");
    let r = env
        .bapply(&["--state", &alias, "--check-state"], &[])
        .expect(0);
    assert_eq!(
        r.stdout.trim(),
        format!("state {alias}: ok: schema version 3, 2 contacts, 4 events, 1 updates emitted"),
        "{r}"
    );
}

#[test]
fn newer_damaged_missing_locked_and_unreachable_states_are_refused() {
    let Some(pg) = Postgres::start() else {
        return skip("PostgreSQL server");
    };
    let env = Env::new();
    let url = format!("{}?schema=s1", pg.url("postgres"));
    let hard = [record("h1", "h@example.com", "hard", &day(1))];
    let check = |u: &str| env.bapply(&["--state", u, "--check-state"], &[]);

    // No state yet: --check-state says so (66) and creates nothing.
    let r = check(&url).expect(66);
    assert!(r.stderr.contains("no state in schema s1"), "{r}");
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    env.bapply(&["--state", &url, "--force"], &hard).expect(0);
    check(&url).expect(0);

    // A state from a newer bapply: refused (65) before anything is written.
    let mut client = pg.client("postgres");
    client
        .batch_execute("UPDATE s1.meta SET value = 99 WHERE name = 'schema_version'")
        .unwrap();
    let r = env
        .bapply(
            &["--state", &url, "--force"],
            &[record("h2", "i@example.com", "hard", &day(1))],
        )
        .expect(65);
    assert!(r.stdout.is_empty(), "{r}");
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    assert!(
        r.stderr
            .contains("schema version 99 is newer than this bapply reads (3)"),
        "{r}"
    );
    let contacts: i64 = client
        .query_one("SELECT count(*) FROM s1.contact", &[])
        .unwrap()
        .get(0);
    assert_eq!(contacts, 1, "a refused run wrote to the state");
    let r = check(&url).expect(65);
    assert!(r.stderr.contains("schema version 99 is newer"), "{r}");

    // A table without a column, or a schema whose meta is someone else's.
    client
        .batch_execute(
            "UPDATE s1.meta SET value = 3 WHERE name = 'schema_version';
             ALTER TABLE s1.emitted DROP COLUMN dest;
             CREATE SCHEMA s2; CREATE TABLE s2.meta (name text, value bigint);",
        )
        .unwrap();
    let r = check(&url).expect(65);
    assert!(r.stderr.contains("has no column dest"), "{r}");
    let s2 = format!("{}?schema=s2", pg.url("postgres"));
    let r = env.bapply(&["--state", &s2, "--force"], &hard).expect(65);
    assert!(r.stderr.contains("not a bapply state"), "{r}");
    check(&s2).expect(65);

    // Unreachable server (69), unknown role (77), bad schema name (64).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let r = env.bapply(&["--state", &nowhere], &hard).expect(69);
    assert!(r.stderr.contains("Connection refused"), "{r}");
    check(&nowhere).expect(69);
    let stranger = format!("postgres://stranger@127.0.0.1:{}/postgres", pg.port);
    env.bapply(&["--state", &stranger], &hard).expect(77);
    let bad = format!("{}?schema=no-such", pg.url("postgres"));
    env.bapply(&["--state", &bad], &hard).expect(64);
}

#[test]
fn a_run_waits_for_the_one_that_holds_the_state_and_a_killed_run_leaves_nothing() {
    let Some(pg) = Postgres::start() else {
        return skip("PostgreSQL server");
    };
    let env = Env::new();
    let url = format!("{}?schema=held", pg.url("postgres"));
    // The first run takes the state (a new one: it creates the schema in
    // its transaction), then waits for its input on an open pipe.
    let mut first = Command::new(bin())
        .args(["--state", &url, "--force"])
        .env("XDG_STATE_HOME", env.path("xdg"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut client = pg.client("postgres");
    let start = Instant::now();
    loop {
        let held: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
                &[],
            )
            .unwrap()
            .get(0);
        if held > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = [record("k2", "k@example.com", "hard", &day(2))];
    let r = env
        .bapply(
            &["--state", &url, "--lock-timeout", "0.3", "--force"],
            &second,
        )
        .expect(75);
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    assert!(r.stderr.contains("locked by another run"), "{r}");
    // Killed while it holds the state: its transaction, the new schema
    // included, is rolled back.
    first.kill().unwrap();
    first.wait().unwrap();
    let r = env
        .bapply(
            &["--state", &url, "--check-state", "--lock-timeout", "5"],
            &[],
        )
        .expect(66);
    assert!(r.stderr.contains("no state in schema held"), "{r}");
    let r = env
        .bapply(
            &["--state", &url, "--lock-timeout", "5", "--force"],
            &second,
        )
        .expect(0);
    assert!(r.stdout.contains("k@example.com"), "{r}");
}

#[test]
fn policy_limits_and_an_upgrade_from_version_2_work_on_postgresql() {
    let Some(pg) = Postgres::start() else {
        return skip("PostgreSQL server");
    };
    let env = Env::new();
    let url = format!("{}?schema=limits", pg.url("postgres"));
    let a = "ann@example.org";
    let soft = |id: &str, d: i64| {
        let mut r = record(id, a, "soft", &day(d));
        r["original"]["list_id"] = "<news.example.org>".into();
        r
    };
    let list = ["--state", &url, "--scope", "list", "-f", "jsonl", "--force"];
    let r = env.bapply(&list, &[soft("1", 1), soft("2", 2)]).expect(0);
    assert_eq!(r.stdout, "", "{r}");
    // --good resets ann on every list before this run's bounce counts.
    let good = env.write("good.txt", &format!("{a}\n"));
    let mut with_good = list.to_vec();
    with_good.extend(["--good", &good]);
    let r = env.bapply(&with_good, &[soft("3", 3)]).expect(0);
    assert_eq!(r.stdout, "", "{r}");
    assert!(r.stderr.contains("1 contacts' counts reset"), "{r}");
    let r = env.bapply(&list, &[soft("4", 4)]).expect(0);
    assert_eq!(r.stdout, "", "{r}");
    let r = env.bapply(&list, &[soft("5", 5)]).expect(0);
    let update: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(update["action"], "block", "{r}");
    assert_eq!(update["count"], 3, "{r}");
    assert_eq!(update["list_id"], "news.example.org", "{r}");
    let mut all = list.to_vec();
    all.push("--all");
    let r = env.bapply(&all, &[]).expect(0);
    let back: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(back, update, "{r}");

    // A version-2 state (before list_id and list_contact): --check-state
    // says the next run upgrades it, which keeps what it holds.
    let mut client = pg.client("postgres");
    client
        .batch_execute(
            "ALTER TABLE limits.emitted DROP COLUMN list_id; DROP TABLE limits.list_contact;
             UPDATE limits.meta SET value = 2 WHERE name = 'schema_version';",
        )
        .unwrap();
    let check = ["--state", &url, "--check-state"];
    let r = env.bapply(&check, &[]).expect(0);
    assert!(
        r.stdout
            .contains("ok: schema version 2 (the next run upgrades it), 1 contacts, 6 events"),
        "{r}"
    );
    env.bapply(&list, &[soft("5", 5)]).expect(0);
    let r = env.bapply(&check, &[]).expect(0);
    assert!(
        r.stdout
            .contains("ok: schema version 3, 1 contacts, 6 events, 1 updates emitted"),
        "{r}"
    );
}
