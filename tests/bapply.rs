//! bapply, run as the real binary: thresholds and windows, resets, dedup
//! across runs, the guard, change-address, output formats, SQL executed by
//! the real engines, `--apply` with rollback, invalid input, exit codes.

use crate::support::bapply::{Env, day, hex, record, with};
use crate::support::databases::{Mariadb, Postgres};
use crate::support::skip;
use serde_json::{Value, json};

fn emails(rows: &[std::collections::HashMap<String, String>]) -> Vec<String> {
    rows.iter().map(|r| r["email"].clone()).collect()
}

// ---- thresholds, windows, resets -------------------------------------------

#[test]
fn soft_blocks_at_third_within_thirty_days() {
    let env = Env::new();
    let a = "soft@example.com";
    let r1 = env.bapply(
        &[],
        &[
            record("s1", a, "soft", &day(1)),
            record("s2", a, "soft", &day(10)),
        ],
    );
    assert!(
        r1.expect(0).csv().is_empty(),
        "two soft bounces are not enough"
    );
    let r2 = env
        .bapply(&[], &[record("s3", a, "soft", &day(25))])
        .expect(0);
    let rows = r2.csv();
    assert_eq!(rows.len(), 1, "{r2}");
    assert_eq!(rows[0]["action"], "block");
    assert_eq!(rows[0]["category"], "soft");
    assert_eq!(rows[0]["count"], "3");
    assert_eq!(rows[0]["first_seen"], day(1));
    assert_eq!(rows[0]["last_seen"], day(25));
    assert!(
        r2.stderr.contains("newly blocked: 1 (soft@example.com)"),
        "{r2}"
    );
}

#[test]
fn soft_bounces_further_apart_than_the_window_do_not_block() {
    let env = Env::new();
    let a = "slow@example.com";
    let recs = [
        record("w1", a, "soft", &day(1)),
        record("w2", a, "soft", &day(20)),
        record("w3", a, "soft", &day(40)),
        record("w4", a, "soft", &day(60)),
    ];
    assert!(env.bapply(&[], &recs).expect(0).csv().is_empty());
    // The window is about dates, not arrival: a third bounce dated inside
    // the window of two earlier ones crosses, even when it comes late.
    let r = env
        .bapply(&[], &[record("w5", a, "soft", &day(45))])
        .expect(0);
    assert_eq!(emails(&r.csv()), [a], "{r}");
}

#[test]
fn delivered_clears_the_soft_count() {
    let env = Env::new();
    let a = "back@example.com";
    let recs = [
        record("d1", a, "soft", &day(1)),
        record("d2", a, "soft", &day(2)),
        record("d3", a, "delivered", &day(3)),
        record("d4", a, "soft", &day(4)),
    ];
    assert!(env.bapply(&[], &recs).expect(0).csv().is_empty());
    // Two more after the reset make three since the delivery.
    let r = env
        .bapply(&[], &[record("d5", a, "soft", &day(5))])
        .expect(0);
    assert!(r.csv().is_empty(), "only two since the delivery\n{r}");
    let r = env
        .bapply(&[], &[record("d6", a, "soft", &day(6))])
        .expect(0);
    let rows = r.csv();
    assert_eq!(rows.len(), 1, "{r}");
    assert_eq!(rows[0]["count"], "3");
    assert_eq!(rows[0]["first_seen"], day(4));
}

#[test]
fn delivered_dated_before_the_bounces_clears_nothing() {
    let env = Env::new();
    let a = "order@example.com";
    let recs = [
        record("o1", a, "soft", &day(5)),
        record("o2", a, "soft", &day(6)),
        record("o3", a, "soft", &day(7)),
        record("o0", a, "delivered", &day(1)),
    ];
    assert_eq!(emails(&env.bapply(&[], &recs).expect(0).csv()), [a]);
}

#[test]
fn hard_blocks_at_once_and_failed_after_two() {
    let env = Env::new();
    let recs = [
        record("h1", "hard@example.com", "hard", &day(1)),
        record("f1", "failed@example.com", "failed", &day(1)),
        record("b1", "blocked@example.com", "blocked", &day(1)),
        record("a1", "away@example.com", "autoreply", &day(1)),
        record("c1", "complains@example.com", "complaint", &day(1)),
        record("x1", "odd@example.com", "challenge", &day(1)),
    ];
    let r = env.bapply(&[], &recs).expect(0);
    let rows = r.csv();
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["email"].clone(), r["action"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("hard@example.com".into(), "block".into()),
            ("complains@example.com".into(), "unsubscribe".into()),
            ("odd@example.com".into(), "manual".into()),
        ],
        "{r}"
    );
    let r = env.bapply(
        &[],
        &[record("f2", "failed@example.com", "failed", &day(50))],
    );
    assert_eq!(emails(&r.expect(0).csv()), ["failed@example.com"]);
}

#[test]
fn policy_file_changes_thresholds() {
    let env = Env::new();
    let policy = env.write(
        "policy.toml",
        "[category.soft]\naction = \"unsubscribe\"\nthreshold = 2\nwindow_days = 7\n",
    );
    let a = "p@example.com";
    let r = env.bapply(
        &["--policy", &policy],
        &[
            record("p1", a, "soft", &day(1)),
            record("p2", a, "soft", &day(5)),
        ],
    );
    let rows = r.expect(0).csv();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["action"], "unsubscribe");
}

#[test]
fn print_policy_writes_the_spec_defaults_and_reads_back() {
    let env = Env::new();
    let r = env.bapply(&["--print-policy"], &[]).expect(0);
    for needle in [
        "[category.soft]\naction = \"block\"\nthreshold = 3\nwindow_days = 30",
        "[category.hard]\naction = \"block\"\nthreshold = 1",
        "[category.failed]\naction = \"block\"\nthreshold = 2",
        "[category.blocked]\naction = \"none\"",
        "[category.delivered]\naction = \"none\"\nthreshold = 1\nwindow_days = 0\nresets = [\"soft\"]",
        "[category.complaint]\naction = \"unsubscribe\"",
        "[category.address-change]\naction = \"change-address\"",
        "[category.undetermined]\naction = \"manual\"",
        "max_share = 0.2",
        "[sql]",
    ] {
        assert!(r.stdout.contains(needle), "missing {needle:?}\n{r}");
    }
    let p = env.write("p.toml", &r.stdout);
    let again = env
        .bapply(&["--print-policy", "--policy", &p], &[])
        .expect(0);
    assert_eq!(again.stdout, r.stdout);
    let bad = env.write("bad.toml", "[category.soft]\nthreshhold = 3\n");
    let r = env.bapply(&["--policy", &bad], &[]).expect(78);
    assert!(r.stderr.contains("bad.toml"), "{r}");
}

// ---- identity and dedup ----------------------------------------------------

#[test]
fn same_mailbox_twice_counts_nothing_twice() {
    let env = Env::new();
    let a = "twice@example.com";
    let recs = [
        record("t1", a, "soft", &day(1)),
        record("t2", a, "soft", &day(2)),
    ];
    let file = env.write_records("events.jsonl", &recs);
    env.bapply(&[&file], &[]).expect(0);
    let r = env.bapply(&[&file], &[]).expect(0);
    assert!(r.csv().is_empty(), "{r}");
    assert!(r.stderr.contains("2 duplicates"), "{r}");
    // Same messages again plus the same ones inside one input: still two.
    let r = env.bapply(&[&file, &file], &[]).expect(0);
    assert!(r.csv().is_empty(), "{r}");
    // A hard bounce emitted once is not emitted again by a later one.
    env.bapply(&[], &[record("h1", a, "hard", &day(3))])
        .expect(0);
    let r = env
        .bapply(&[], &[record("h2", a, "hard", &day(4))])
        .expect(0);
    assert!(r.csv().is_empty(), "{r}");
    assert!(r.stderr.contains("already emitted"), "{r}");
}

#[test]
fn message_without_message_id_is_deduplicated_by_content() {
    let env = Env::new();
    let rec = with(
        record("n1", "noid@example.com", "soft", &day(1)),
        json!({"message_id": null}),
    );
    let other_source = with(
        rec.clone(),
        json!({"source": {"path": "other.mbox", "index": 7}}),
    );
    let r = env.bapply(&[], &[rec, other_source]).expect(0);
    assert!(r.stderr.contains("1 duplicates"), "{r}");
}

#[test]
fn subscriber_id_identifies_the_contact() {
    let env = Env::new();
    // One subscriber whose bounces name different addresses (VERP, aliases).
    let recs: Vec<Value> = (1..=3)
        .map(|i| {
            with(
                record(
                    &format!("id{i}"),
                    &format!("alias{i}@example.com"),
                    "soft",
                    &day(i),
                ),
                json!({"subscriber": "sub-42"}),
            )
        })
        .collect();
    let rows = env.bapply(&[], &recs).expect(0).csv();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["subscriber"], "sub-42");
    assert_eq!(rows[0]["email"], "alias3@example.com");
}

#[test]
fn no_state_counts_only_within_the_input() {
    let env = Env::new();
    let a = "ns@example.com";
    let two = [
        record("n1", a, "soft", &day(1)),
        record("n2", a, "soft", &day(2)),
    ];
    assert!(env.bapply(&["--no-state"], &two).expect(0).csv().is_empty());
    assert!(env.bapply(&["--no-state"], &two).expect(0).csv().is_empty());
    let mut three = two.to_vec();
    three.push(record("n3", a, "soft", &day(3)));
    assert_eq!(
        emails(&env.bapply(&["--no-state"], &three).expect(0).csv()),
        [a]
    );
    assert!(!env.path("state.sqlite").exists());
}

#[test]
fn record_without_any_address_is_counted_not_applied() {
    let env = Env::new();
    let rec = with(
        record("u1", "x@example.com", "hard", &day(1)),
        json!({"recipient": null}),
    );
    let r = env.bapply(&[], &[rec]).expect(0);
    assert!(r.csv().is_empty());
    assert!(r.stderr.contains("1 without address"), "{r}");
}

#[test]
fn all_re_emits_current_states() {
    let env = Env::new();
    env.bapply(&[], &[record("h1", "one@example.com", "hard", &day(1))])
        .expect(0);
    env.bapply(&[], &[record("h2", "two@example.com", "hard", &day(2))])
        .expect(0);
    let r = env.bapply(&["--all"], &[]).expect(0);
    assert_eq!(
        emails(&r.csv()),
        ["one@example.com", "two@example.com"],
        "{r}"
    );
}

// ---- change of address -----------------------------------------------------

#[test]
fn change_address_with_and_without_new_address() {
    let env = Env::new();
    let known = with(
        record("c1", "old@example.com", "address-change", &day(1)),
        json!({"new_address": "new@example.org"}),
    );
    let unknown = record("c2", "gone@example.com", "address-change", &day(1));
    let r = env.bapply(&[], &[known, unknown]).expect(0);
    let rows = r.csv();
    assert_eq!(rows.len(), 2, "{r}");
    assert_eq!(rows[0]["action"], "change-address");
    assert_eq!(rows[0]["new_email"], "new@example.org");
    assert_eq!(rows[1]["action"], "manual");
    assert_eq!(rows[1]["new_email"], "");
    // SQL: the known one rewrites the key; manual writes no statement.
    let known = with(
        record("c3", "old2@example.com", "address-change", &day(1)),
        json!({"new_address": "new2@example.org"}),
    );
    let unknown = record("c4", "gone2@example.com", "address-change", &day(1));
    let r = env
        .bapply(&["--format", "sql"], &[known, unknown])
        .expect(0);
    assert!(
        r.stdout.contains(
            "UPDATE \"contacts\" SET \"email\" = 'new2@example.org' WHERE \"email\" = 'old2@example.com';"
        ),
        "{r}"
    );
    assert!(!r.stdout.contains("gone2"), "{r}");
}

// ---- the guard ---------------------------------------------------------------

fn outage(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            with(
                record(&format!("o{i}"), &format!("user{i}@bigmail.example"), "hard", &day(1)),
                json!({
                    "remote_mta": "mx.bigmail.example",
                    "diagnostic": format!("550 5.1.1 <user{i}@bigmail.example>: Recipient address rejected (queue id {:08x}a1)", i * 7919),
                }),
            )
        })
        .collect()
}

#[test]
fn guard_holds_back_a_cluster_and_force_applies_it() {
    let env = Env::new();
    let mut recs = outage(12);
    // Plenty of harmless traffic so that the share alone would pass.
    for i in 0..100 {
        recs.push(record(
            &format!("a{i}"),
            &format!("away{i}@example.com"),
            "autoreply",
            &day(1),
        ));
    }
    let r = env.bapply(&[], &recs).expect(75);
    assert!(r.stdout.is_empty(), "nothing may be written\n{r}");
    assert!(r.stderr.contains("held back 12 updates"), "{r}");
    assert!(r.stderr.contains("12 share host mx.bigmail.example"), "{r}");
    assert!(r.stderr.contains("--force"), "{r}");
    // Held back means no trace in the state: the same input with --force
    // produces all twelve.
    let r = env.bapply(&["--force"], &recs).expect(0);
    assert_eq!(r.csv().len(), 12, "{r}");
    assert!(r.stderr.contains("FIRED, overridden by --force"), "{r}");
}

#[test]
fn guard_holds_back_a_large_share() {
    let env = Env::new();
    let mut recs: Vec<Value> = (0..15)
        .map(|i| {
            record(
                &format!("h{i}"),
                &format!("u{i}@host{i}.example"),
                "hard",
                &day(1),
            )
        })
        .collect();
    for i in 0..15 {
        recs.push(record(
            &format!("d{i}"),
            &format!("d{i}@example.com"),
            "delayed",
            &day(1),
        ));
    }
    let r = env.bapply(&["--format", "jsonl"], &recs).expect(75);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("15 of 30 contacts (50.0%)"), "{r}");
    // Below the minimum number of updates the share does not count.
    let r = env.bapply(&[], &recs[..3]).expect(0);
    assert_eq!(r.csv().len(), 3);
}

// ---- output ------------------------------------------------------------------

/// Values an attacker can put into a bounce. Each must come out exactly.
fn hostile() -> Vec<String> {
    let mut v: Vec<String> = [
        "quote'in@x.example",
        "''double''@x.example",
        "back\\slash@x.example",
        "trailing\\@x.example",
        "\\'; DROP TABLE contacts; --@x.example",
        "'; DROP TABLE contacts; --@x.example",
        "new\nline@x.example",
        "cr\r\nlf@x.example",
        "nul\0byte@x.example",
        "ünïcödé@bücher.example",
        "日本語@例え.jp",
        "emoji😀@x.example",
        "=1+1@x.example",
        "+cmd@x.example",
        "-2@x.example",
        "@SUM(A1)@x.example",
        "\ttab@x.example",
        "\rcr@x.example",
        "\"dq\"@x.example",
        "`bt`@x.example",
        "$1 $$x$$ %s _%@x.example",
        "semi;colon@x.example",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("{}@x.example", "é'\\a".repeat(2600)));
    v
}

fn hostile_records(keys: &[String], evidence: &[String]) -> Vec<Value> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            with(
                record(&format!("hostile{i}"), k, "hard", &day(1)),
                json!({"evidence": evidence[i % evidence.len()], "status": evidence[(i + 1) % evidence.len()]}),
            )
        })
        .collect()
}

#[test]
fn csv_neutralises_formulas_and_round_trips() {
    let env = Env::new();
    let values = hostile();
    let r = env
        .bapply(&["--force"], &hostile_records(&values, &values))
        .expect(0);
    let rows = r.csv();
    assert_eq!(rows.len(), values.len(), "{r}");
    let unneutralise = |s: &str| {
        s.strip_prefix('\'')
            .map(str::to_string)
            .unwrap_or(s.to_string())
    };
    for (i, row) in rows.iter().enumerate() {
        for cell in row.values() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula-like cell {cell:?}"
            );
        }
        assert_eq!(unneutralise(&row["email"]), values[i]);
        assert_eq!(unneutralise(&row["evidence"]), values[i % values.len()]);
    }
    assert_eq!(rows[12]["email"], "'=1+1@x.example");
}

#[test]
fn jsonl_round_trips() {
    let env = Env::new();
    let values = hostile();
    let r = env
        .bapply(
            &["--force", "--format", "jsonl"],
            &hostile_records(&values, &values),
        )
        .expect(0);
    let rows: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), values.len());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["email"], values[i]);
        assert_eq!(row["evidence"], values[i]);
        assert_eq!(row["action"], "block");
        assert_eq!(row["count"], 1);
    }
}

/// Policy for the engine tests: extra columns carry hostile text and a number.
const ENGINE_POLICY: &str = "[sql]\ntable = \"contacts\"\n\
    [sql.set]\nevidence = \"evidence\"\nnote = \"status\"\ncnt = \"count\"\n";

struct EngineCase {
    keys: Vec<String>,
    evidence: Vec<String>,
    moved: Vec<String>,
}

/// Blocks one row per hostile key (carrying hostile evidence), and moves
/// one row per hostile value to that value as its new address.
fn engine_case(keys: Vec<String>, evidence: Vec<String>) -> (EngineCase, Vec<Value>) {
    let mut recs = hostile_records(&keys, &evidence);
    let moved: Vec<String> = evidence.clone();
    for (i, m) in moved.iter().enumerate() {
        recs.push(with(
            record(
                &format!("move{i}"),
                &format!("move{i}@x.example"),
                "address-change",
                &day(2),
            ),
            json!({"new_address": m}),
        ));
    }
    (
        EngineCase {
            keys,
            evidence,
            moved,
        },
        recs,
    )
}

fn sql_for(env: &Env, dialect: &str, recs: &[Value]) -> String {
    let policy = env.write("engine.toml", ENGINE_POLICY);
    let r = env
        .bapply(
            &[
                "--no-state",
                "--force",
                "--policy",
                &policy,
                "--format",
                "sql",
                "--dialect",
                dialect,
            ],
            recs,
        )
        .expect(0);
    assert!(r.stdout.contains("COMMIT;"), "{r}");
    env.write(&format!("{dialect}.sql"), &r.stdout)
}

#[test]
fn sql_sqlite_runs_in_sqlite3_and_round_trips() {
    let Some(sqlite3) = crate::support::find_program(&["sqlite3"]) else {
        return skip("sqlite3");
    };
    let env = Env::new();
    let (case, recs) = engine_case(hostile(), hostile());
    let script = sql_for(&env, "sqlite", &recs);
    let db = env.path("contacts.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, status TEXT, evidence TEXT, note TEXT, cnt INTEGER)",
        )
        .unwrap();
        for k in case
            .keys
            .iter()
            .chain(["keep@x.example".to_string()].iter())
        {
            c.execute(
                "INSERT INTO contacts (email, status) VALUES (?1, 'active')",
                [k],
            )
            .unwrap();
        }
        for i in 0..case.moved.len() {
            c.execute(
                "INSERT INTO contacts (email, status) VALUES (?1, 'active')",
                [format!("move{i}@x.example")],
            )
            .unwrap();
        }
    }
    let out = std::process::Command::new(sqlite3)
        .arg("-bail")
        .arg(&db)
        .stdin(std::fs::File::open(&script).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<Row> = c
        .prepare("SELECT email, status, evidence, note, cnt FROM contacts ORDER BY id")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    check_engine_rows(&case, rows, |s| s.to_string());
}

/// Checks the table after the script: hostile keys blocked with exact
/// evidence, the bystander untouched, moved rows carrying the exact value.
fn check_engine_rows(case: &EngineCase, rows: Vec<Row>, stored: impl Fn(&str) -> String) {
    let n = case.keys.len();
    assert_eq!(rows.len(), n + 1 + case.moved.len());
    for (i, k) in case.keys.iter().enumerate() {
        let (email, status, evidence, note, cnt) = &rows[i];
        assert_eq!(email, k);
        assert_eq!(status, "blocked", "row {i} {k:?} not matched");
        let ev = &case.evidence[i % case.evidence.len()];
        assert_eq!(
            evidence.as_deref(),
            Some(stored(ev).as_str()),
            "evidence of row {i}"
        );
        let st = &case.evidence[(i + 1) % case.evidence.len()];
        assert_eq!(
            note.as_deref(),
            Some(stored(st).as_str()),
            "note of row {i}"
        );
        assert_eq!(*cnt, Some(1));
    }
    assert_eq!(rows[n].0, "keep@x.example");
    assert_eq!(rows[n].1, "active");
    for (i, m) in case.moved.iter().enumerate() {
        assert_eq!(rows[n + 1 + i].0, stored(m), "moved row {i}");
        assert_eq!(rows[n + 1 + i].1, "active");
    }
}

type Row = (String, String, Option<String>, Option<String>, Option<i64>);

fn pg_setup(c: &mut postgres::Client, keys: &[String], moved: usize, unique: bool) {
    // A 10 KB key is beyond a btree index entry: only the small cases index it.
    let u = if unique { "UNIQUE" } else { "" };
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS contacts; CREATE TABLE contacts (id serial PRIMARY KEY, \
         email text {u}, status text, evidence text, note text, cnt integer)"
    ))
    .unwrap();
    for k in keys.iter().chain(["keep@x.example".to_string()].iter()) {
        c.execute(
            "INSERT INTO contacts (email, status) VALUES ($1, 'active')",
            &[k],
        )
        .unwrap();
    }
    for i in 0..moved {
        c.execute(
            "INSERT INTO contacts (email, status) VALUES ($1, 'active')",
            &[&format!("move{i}@x.example")],
        )
        .unwrap();
    }
}

fn pg_read(c: &mut postgres::Client) -> Vec<Row> {
    c.query(
        "SELECT email, status, evidence, note, cnt FROM contacts ORDER BY id",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get::<_, Option<i32>>(4).map(i64::from),
        )
    })
    .collect()
}

#[test]
fn sql_postgres_runs_in_postgresql_and_round_trips_and_apply_rolls_back() {
    let Some(pg) = Postgres::start() else {
        return skip("PostgreSQL server");
    };
    let env = Env::new();
    // PostgreSQL text cannot hold NUL: such a key can exist in no row, and
    // NUL in a value is stored as U+FFFD (and the summary says so).
    let keys: Vec<String> = hostile()
        .into_iter()
        .filter(|k| !k.contains('\0'))
        .collect();
    let stored = |s: &str| s.replace('\0', "\u{FFFD}");
    let mut client = pg.client("postgres");

    // 1. The script, run by psql.
    let (case, recs) = engine_case(keys.clone(), hostile());
    let script = sql_for(&env, "postgres", &recs);
    pg_setup(&mut client, &case.keys, case.moved.len(), false);
    let out = pg.psql("postgres", std::path::Path::new(&script));
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_engine_rows(&case, pg_read(&mut client), stored);

    // 2. --apply postgres://, same result.
    pg_setup(&mut client, &case.keys, case.moved.len(), false);
    let policy = env.write("engine.toml", ENGINE_POLICY);
    let url = pg.url("postgres");
    let r = env
        .bapply(
            &[
                "--no-state",
                "--force",
                "--policy",
                &policy,
                "--apply",
                &url,
            ],
            &recs,
        )
        .expect(0);
    assert!(r.stderr.contains("applied to postgres://"), "{r}");
    assert!(r.stderr.contains("PostgreSQL text cannot store"), "{r}");
    check_engine_rows(&case, pg_read(&mut client), stored);

    // 3. An error in the middle rolls everything back, state included.
    let small: Vec<String> = keys.iter().filter(|k| k.len() < 1000).cloned().collect();
    pg_setup(&mut client, &small, 0, true);
    let recs = vec![
        record("r1", &small[0], "hard", &day(1)),
        with(
            record("r2", &small[1], "address-change", &day(1)),
            json!({"new_address": "keep@x.example"}),
        ),
    ];
    let before = pg_read(&mut client);
    let r = env
        .bapply(&["--policy", &policy, "--apply", &url], &recs)
        .expect(65);
    assert!(r.stderr.contains("nothing applied"), "{r}");
    assert_eq!(
        pg_read(&mut client),
        before,
        "a failed run must change nothing"
    );
    client
        .execute("DELETE FROM contacts WHERE email = 'keep@x.example'", &[])
        .unwrap();
    let r = env
        .bapply(&["--policy", &policy, "--apply", &url], &recs)
        .expect(0);
    assert!(
        r.stderr.contains("2 statements"),
        "state was rolled back too\n{r}"
    );

    // 4. A missing table is a configuration error, nothing applied.
    let other = env.write("other.toml", "[sql]\ntable = \"no_such_table\"\n");
    let z = [record("z", "z@x", "hard", &day(1))];
    let r = env
        .bapply(&["--no-state", "--policy", &other, "--apply", &url], &z)
        .expect(78);
    assert!(r.stderr.contains("no_such_table"), "{r}");
    // 5. Nobody listening: unavailable.
    drop(client);
    drop(pg);
    let r = env.bapply(&["--no-state", "--apply", &url], &z).expect(69);
    assert!(!r.stderr.is_empty());
}

#[test]
fn sql_mysql_runs_in_mariadb_and_round_trips() {
    let Some(my) = Mariadb::start() else {
        return skip("MariaDB server");
    };
    let env = Env::new();
    let (case, recs) = engine_case(hostile(), hostile());
    let script = sql_for(&env, "mysql", &recs);
    let mut setup = String::from(
        "CREATE DATABASE t CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; USE t; \
         CREATE TABLE contacts (id INT AUTO_INCREMENT PRIMARY KEY, email TEXT, status TEXT, \
         evidence TEXT, note TEXT, cnt INT) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;",
    );
    // Rows inserted with hex literals: independent of the quoting under test.
    for k in case
        .keys
        .iter()
        .chain(["keep@x.example".to_string()].iter())
    {
        setup.push_str(&format!(
            "INSERT INTO contacts (email, status) VALUES (_utf8mb4 X'{}', 'active');",
            hex(k)
        ));
    }
    for i in 0..case.moved.len() {
        setup.push_str(&format!(
            "INSERT INTO contacts (email, status) VALUES ('move{i}@x.example', 'active');"
        ));
    }
    let out = my.sql("", &setup);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = my.script("t", std::path::Path::new(&script));
    assert!(
        out.status.success(),
        "mariadb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = my.sql(
        "t",
        "SELECT HEX(email), HEX(status), IFNULL(HEX(evidence),'-'), IFNULL(HEX(note),'-'), IFNULL(cnt,-1) FROM contacts ORDER BY id",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unhex = |h: &str| -> String {
        let bytes: Vec<u8> = (0..h.len() / 2)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        String::from_utf8(bytes).unwrap()
    };
    let rows = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let opt = |s: &str| if s == "-" { None } else { Some(unhex(s)) };
            let cnt: i64 = f[4].parse().unwrap();
            (
                unhex(f[0]),
                unhex(f[1]),
                opt(f[2]),
                opt(f[3]),
                (cnt >= 0).then_some(cnt),
            )
        })
        .collect();
    check_engine_rows(&case, rows, |s| s.to_string());
}

// ---- --apply sqlite ------------------------------------------------------------

#[test]
fn apply_sqlite_in_one_transaction_with_rollback() {
    let env = Env::new();
    let db = env.path("contacts.db");
    let target = format!("sqlite:{}", db.display());
    let setup = || {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "DROP TABLE IF EXISTS contacts; \
             CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT UNIQUE, status TEXT); \
             INSERT INTO contacts (email, status) VALUES ('a@x.example', 'active'), \
             ('b@x.example', 'active'), ('c@x.example', 'active'), ('taken@x.example', 'active');",
        )
        .unwrap();
    };
    let read = || -> Vec<(String, String)> {
        let c = rusqlite::Connection::open(&db).unwrap();
        let mut st = c
            .prepare("SELECT email, status FROM contacts ORDER BY id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    setup();
    let recs = vec![
        record("1", "a@x.example", "hard", &day(1)),
        record("2", "b@x.example", "complaint", &day(1)),
        with(
            record("3", "c@x.example", "address-change", &day(1)),
            json!({"new_address": "taken@x.example"}),
        ),
    ];
    // The third statement violates the UNIQUE key: nothing may change.
    let r = env.bapply(&["--apply", &target], &recs).expect(65);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("update 3") && r.stderr.contains("nothing applied"),
        "{r}"
    );
    assert!(read().iter().all(|(_, s)| s == "active"));
    // The state was rolled back too: fix the table and rerun the same input.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM contacts WHERE email = 'taken@x.example'", [])
        .unwrap();
    let r = env.bapply(&["--apply", &target], &recs).expect(0);
    assert!(
        r.stderr
            .contains("3 statements, 3 rows changed, 0 matched no row"),
        "{r}"
    );
    assert_eq!(
        read(),
        [
            ("a@x.example".to_string(), "blocked".to_string()),
            ("b@x.example".to_string(), "unsubscribed".to_string()),
            ("taken@x.example".to_string(), "active".to_string()),
        ]
    );
    // A target that does not exist is not created.
    let missing = format!("sqlite:{}", env.path("nope.db").display());
    let r = env
        .bapply(&["--no-state", "--apply", &missing], &recs)
        .expect(66);
    assert!(!env.path("nope.db").exists(), "{r}");
}

// ---- input, errors, exit codes -------------------------------------------------

#[test]
fn invalid_line_names_file_and_line_and_exits_65() {
    let env = Env::new();
    let good = record("g1", "g@example.com", "hard", &day(1)).to_string();
    let text = format!("{good}\n\n{{\"v\":1,\"category\":\"hard\"}}\n{good}\n");
    let file = env.write("events.jsonl", &text);
    let r = env.bapply(&[&file], &[]).expect(65);
    assert!(r.stdout.is_empty(), "{r}");
    let first = r.stderr.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("bapply: {file}: line 3: ")) && first.contains("missing field"),
        "{r}"
    );
    assert_eq!(r.stderr.lines().count(), 1, "one line\n{r}");
    // Nothing of the good line was kept: the next run still blocks it.
    let r = env.bapply(&["--skip-invalid", &file], &[]).expect(0);
    assert!(
        r.stderr.contains("line 3:") && r.stderr.contains("(skipped)"),
        "{r}"
    );
    assert!(r.stderr.contains("1 invalid"), "{r}");
    assert_eq!(emails(&r.csv()), ["g@example.com"]);

    for (bad, what) in [
        ("not json", "expected ident"),
        ("{\"v\":1,", "EOF while parsing"),
        (
            "{\"v\":2,\"category\":\"hard\",\"reason\":\"userunknown\",\"rule\":\"x\"}",
            "version 2",
        ),
        (
            "{\"v\":1,\"category\":\"harder\",\"reason\":\"userunknown\",\"rule\":\"x\"}",
            "unknown category",
        ),
        (
            "{\"v\":1,\"category\":\"hard\",\"reason\":\"userunknown\",\"rule\":\"x\",\"recipient\":\"a@b\",\"date\":\"yesterday\"}",
            "date",
        ),
    ] {
        let r = env
            .bapply_raw(&["--no-state"], format!("{bad}\n").as_bytes())
            .expect(65);
        assert!(
            r.stderr.contains("bapply: stdin: line 1: ") && r.stderr.contains(what),
            "{r}"
        );
    }
    let r = env.bapply_raw(&["--no-state"], b"\xff\xfe\n").expect(65);
    assert!(r.stderr.contains("line 1"), "{r}");
}

/// Records come after any amount of blank lines, and lines cut across
/// the blocks the input is read in come out whole, numbered in order.
#[test]
fn blank_lines_and_block_boundaries_lose_no_record() {
    let env = Env::new();
    let one = record("b1", "b1@example.com", "hard", &day(1)).to_string();
    let two = record("b2", "b2@example.com", "hard", &day(2)).to_string();
    // More blank lines than a batch holds, then records; the last line
    // without a newline, after lines long enough to span blocks.
    let long = with(
        record("b3", "b3@example.com", "hard", &day(3)),
        json!({ "evidence": "x".repeat(5 << 20) }),
    )
    .to_string();
    let text = format!("{}{one}\r\n\n{long}\n  \t\n{two}", "\n".repeat(5_000_000));
    let file = env.write("events.jsonl", &text);
    let r = env.bapply(&["--no-state", &file], &[]).expect(0);
    assert_eq!(
        emails(&r.csv()),
        ["b1@example.com", "b3@example.com", "b2@example.com"]
    );
    let bad = format!("{}{one}\n{{\"v\":1}}\n", "\n".repeat(5_000_000));
    let r = env.bapply_raw(&["--no-state"], bad.as_bytes()).expect(65);
    assert!(r.stderr.contains("stdin: line 5000002: "), "{r}");
}

#[test]
fn missing_input_exits_66_and_bad_usage_64() {
    let env = Env::new();
    let r = env.bapply(&["no-such-file.jsonl"], &[]).expect(66);
    assert!(r.stderr.starts_with("bapply: no-such-file.jsonl: "), "{r}");
    env.bapply(&["--format", "xml"], &[]).expect(64);
    env.bapply(&["--apply", "mysql://x/y"], &[]).expect(64);
    env.bapply(&["--state", "x", "--no-state"], &[]).expect(64);
}

#[test]
fn locked_state_exits_75() {
    let env = Env::new();
    env.bapply(&[], &[record("l0", "l@example.com", "soft", &day(1))])
        .expect(0);
    let holder = rusqlite::Connection::open(env.path("state.sqlite")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let r = env
        .bapply(
            &["--lock-timeout", "0.2"],
            &[record("l1", "l@example.com", "hard", &day(2))],
        )
        .expect(75);
    assert!(r.stderr.contains("locked"), "{r}");
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    holder.execute_batch("ROLLBACK").unwrap();
    let r = env
        .bapply(&[], &[record("l1", "l@example.com", "hard", &day(2))])
        .expect(0);
    assert_eq!(r.csv().len(), 1);
}

#[test]
fn two_concurrent_runs_count_each_event_once() {
    let env = Env::new();
    let recs: Vec<Value> = (0..200)
        .flat_map(|i| {
            let a = format!("c{i}@example.com");
            (0..3).map(move |j| record(&format!("c{i}-{j}"), &a, "soft", &day(j + 1)))
        })
        .collect();
    let file = env.write_records("events.jsonl", &recs);
    let state = env.state();
    let args: Vec<String> = ["--force", "--format", "jsonl", "--state", &state, &file]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let args = args.clone();
            let dir = env.dir.path().to_path_buf();
            std::thread::spawn(move || crate::support::bapply::run(&args, b"", &dir))
        })
        .collect();
    let runs: Vec<_> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    for r in &runs {
        assert_eq!(r.code, 0, "{r}");
    }
    let emitted: usize = runs.iter().map(|r| r.stdout.lines().count()).sum();
    assert_eq!(
        emitted, 200,
        "each contact blocked exactly once across both runs"
    );
}

#[test]
fn default_state_lives_under_xdg_state_home() {
    let env = Env::new();
    let all: Vec<String> = vec!["--quiet".into()];
    let rec = format!("{}\n", record("x1", "x@example.com", "hard", &day(1)));
    let r = crate::support::bapply::run(&all, rec.as_bytes(), env.dir.path());
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.is_empty(), "{r}");
    assert!(env.path("xdg-state/bounce-tools/bapply.sqlite").exists());
}

#[test]
fn broken_pipe_exits_zero_quietly() {
    let env = Env::new();
    let recs: String = (0..3000)
        .map(|i| {
            format!(
                "{}\n",
                record(
                    &format!("bp{i}"),
                    &format!("u{i}@h{i}.example"),
                    "hard",
                    &day(1)
                )
            )
        })
        .collect();
    let mut child = std::process::Command::new(crate::support::bapply::bin())
        .args(["--no-state", "--force", "--format", "jsonl"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    {
        use std::io::Write;
        let mut sin = child.stdin.take().unwrap();
        sin.write_all(recs.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let _ = env;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Broken pipe"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn help_explains_every_flag_and_man_page_is_in_step() {
    let env = Env::new();
    let help = env.bapply(&["--help"], &[]).expect(0).stdout;
    let flags_in = |text: &str, pat: &str| -> std::collections::BTreeSet<String> {
        let mut set = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find(pat) {
            let tail = &rest[i + pat.len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if name.len() > 1 && name.chars().next().unwrap().is_ascii_alphabetic() {
                set.insert(name);
            }
            rest = tail;
        }
        set
    };
    let from_help = flags_in(&help, "--");
    let man =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/bapply.1")).unwrap();
    let from_man = flags_in(&man, "Fl -");
    assert!(
        from_help.contains("format") && from_help.contains("apply"),
        "{from_help:?}"
    );
    assert_eq!(
        from_help, from_man,
        "flags in --help and in man/bapply.1 differ"
    );
    assert!(man.starts_with(".Dd") || man.contains("\n.Dd "), "mdoc");
}
