//! bapply's policy limits (issue 14, point 4; bapply(1), POLICY LIMITS):
//! `--max-age`, positive evidence (a delivered DSN, `--good`), `--scope
//! list`, partial policy overrides, placeholders under `--scope list`.

use crate::support::bapply::{Env, day, record, with};
use serde_json::{Value, json};

/// A date `days` days before now, RFC 3339.
fn ago(days: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::days(days);
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn on_list(r: Value, list_id: &str) -> Value {
    let mut r = r;
    r["original"]["list_id"] = json!(list_id);
    r
}

fn emails(rows: &[std::collections::HashMap<String, String>]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{} {}", r["email"], r["action"]))
        .collect()
}

/// Year-old events are kept (a second run counts them as duplicates) but
/// lead to no update and count toward no threshold; a fresh one acts.
#[test]
fn max_age_keeps_old_events_from_acting() {
    let env = Env::new();
    let policy = env.write(
        "p.toml",
        "[category.soft]\nthreshold = 3\nwindow_days = 0\n",
    );
    let old = [
        record("o1", "old-hard@example.org", "hard", &ago(400)),
        record("o2", "old-complaint@example.org", "complaint", &ago(400)),
        record("o3", "soft@example.org", "soft", &ago(400)),
        record("o4", "soft@example.org", "soft", &ago(390)),
    ];
    let fresh = [
        record("f1", "soft@example.org", "soft", &ago(1)),
        record("f2", "new-hard@example.org", "hard", &ago(2)),
    ];
    let all: Vec<Value> = old.iter().chain(&fresh).cloned().collect();
    let args = ["--max-age", "365", "--policy", &policy];
    let r = env.bapply(&args, &all).expect(0);
    assert_eq!(emails(&r.csv()), ["new-hard@example.org block"], "{r}");
    assert!(
        r.stderr
            .contains("older than --max-age, kept but never acted on: 4"),
        "{r}"
    );
    // Kept in the state: the same records again are duplicates.
    let r = env.bapply(&args, &all).expect(0);
    assert!(r.csv().is_empty(), "{r}");
    assert!(r.stderr.contains("6 duplicates"), "{r}");
    // The control: without --max-age the two old soft bounces count, so
    // with the fresh one the address crosses three.
    let env = Env::new();
    let r = env.bapply(&["--policy", &policy], &all).expect(0);
    let got = emails(&r.csv());
    assert!(got.contains(&"soft@example.org block".to_string()), "{r}");
    assert_eq!(got.len(), 4, "{r}");
}

/// A record without a date is dated when bapply first reads it, so
/// `--max-age` does not hold it back.
#[test]
fn max_age_dates_a_record_without_date_at_the_run() {
    let env = Env::new();
    let rec = with(
        record("u1", "undated@example.org", "hard", ""),
        json!({"date": null}),
    );
    let r = env.bapply(&["--max-age", "30"], &[rec]).expect(0);
    assert_eq!(emails(&r.csv()), ["undated@example.org block"], "{r}");
}

/// SPEC section 6: a delivered DSN clears the soft count before it,
/// whatever run it comes in.
#[test]
fn delivered_clears_the_soft_count() {
    let env = Env::new();
    let soft = |id: &str, d: i64| record(id, "a@example.org", "soft", &day(d));
    let r = env.bapply(&[], &[soft("s1", 1), soft("s2", 2)]).expect(0);
    assert!(r.csv().is_empty(), "{r}");
    let delivered = record("d1", "a@example.org", "delivered", &day(3));
    let r = env.bapply(&[], &[delivered, soft("s3", 4)]).expect(0);
    assert!(r.csv().is_empty(), "two soft bounces cleared: {r}");
    let r = env.bapply(&[], &[soft("s4", 5), soft("s5", 6)]).expect(0);
    assert_eq!(emails(&r.csv()), ["a@example.org block"], "{r}");
}

/// `--good` resets the state's counts of the addresses it names (domain
/// compared lower-cased) before this run's records are counted.
#[test]
fn good_file_resets_counts_before_the_run() {
    let env = Env::new();
    let soft = |id: &str, who: &str, d: i64| record(id, who, "soft", &day(d));
    let (a, b) = ("ann@example.org", "bob@example.org");
    env.bapply(
        &[],
        &[
            soft("1", a, 1),
            soft("2", a, 2),
            soft("3", b, 1),
            soft("4", b, 2),
        ],
    )
    .expect(0);
    let good = env.write(
        "good.txt",
        "# opened the newsletter this week\n\nann@Example.ORG\nnot an address\n",
    );
    let r = env
        .bapply(&["--good", &good], &[soft("5", a, 3), soft("6", b, 3)])
        .expect(0);
    assert_eq!(emails(&r.csv()), [format!("{b} block")], "{r}");
    assert!(
        r.stderr.contains(
            "--good: 1 addresses, 1 contacts' counts reset, 1 lines without an address skipped"
        ),
        "{r}"
    );
    // This run's bounce still counted: two more make three since the reset.
    let r = env.bapply(&[], &[soft("7", a, 4)]).expect(0);
    assert!(r.csv().is_empty(), "{r}");
    let r = env.bapply(&[], &[soft("8", a, 5)]).expect(0);
    assert_eq!(emails(&r.csv()), [format!("{a} block")], "{r}");
    // A missing file is one line and exit 66; nothing changes.
    let r = env
        .bapply(&["--good", "nope.txt"], &[soft("9", b, 6)])
        .expect(66);
    assert!(r.stderr.contains("nope.txt"), "{r}");
}

/// `--scope list`: a complaint about one list unsubscribes from that list
/// only, counts are per list, and the updates carry the List-Id; a record
/// without one counts for every list (list_id empty).
#[test]
fn scope_list_keys_contacts_by_list() {
    let env = Env::new();
    let a = "ann@example.org";
    let news = "Newsletter <News.Example.ORG>";
    let offers = "<offers.example.org>";
    let recs = [
        on_list(record("c1", a, "complaint", &day(1)), news),
        on_list(record("s1", a, "soft", &day(1)), news),
        on_list(record("s2", a, "soft", &day(2)), news),
        on_list(record("s3", a, "soft", &day(3)), offers),
        record("h1", "bob@example.org", "hard", &day(3)),
        on_list(
            record("p1", "redacted@fbl.example.net", "complaint", &day(3)),
            news,
        ),
    ];
    let r = env.bapply(&["--scope", "list"], &recs).expect(0);
    let rows = r.csv();
    let got: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} {}", r["email"], r["action"], r["list_id"]))
        .collect();
    assert_eq!(
        got,
        [
            "ann@example.org unsubscribe news.example.org",
            "bob@example.org block "
        ],
        "{r}"
    );
    assert!(
        r.stderr
            .contains("not a mailbox or a placeholder, never acted on: 1"),
        "{r}"
    );
    // A third soft bounce on the news list blocks there only.
    let third = on_list(record("s4", a, "soft", &day(4)), news);
    let r = env
        .bapply(
            &["--scope", "list", "-f", "jsonl"],
            std::slice::from_ref(&third),
        )
        .expect(0);
    let lines: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{r}");
    assert_eq!(lines[0]["action"], "block", "{r}");
    assert_eq!(lines[0]["list_id"], "news.example.org", "{r}");
    // --all reads the List-Id back from the state.
    let r = env.bapply(&["--scope", "list", "--all"], &[]).expect(0);
    let lists: Vec<String> = r.csv().iter().map(|r| r["list_id"].clone()).collect();
    assert_eq!(lists, ["news.example.org", "news.example.org", ""], "{r}");
    // Without --scope list the default CSV has no list_id column.
    let r = Env::new().bapply(&[], &recs).expect(0);
    assert!(!r.stdout.lines().next().unwrap().contains("list_id"), "{r}");
}

/// `--scope list` SQL matches the policy's list column too, and refuses
/// to write SQL without one (it would change every list).
#[test]
fn scope_list_sql_needs_and_uses_the_list_column() {
    let env = Env::new();
    let rec = on_list(
        record("c1", "ann@example.org", "complaint", &day(1)),
        "<news.example.org>",
    );
    let args = ["--scope", "list", "-f", "sql", "--dry-run"];
    let r = env.bapply(&args, std::slice::from_ref(&rec)).expect(64);
    assert!(r.stderr.contains("[sql] list_column"), "{r}");
    let policy = env.write(
        "p.toml",
        "[sql]\ntable = \"subscriptions\"\nlist_column = \"list\"\n",
    );
    let mut args = args.to_vec();
    args.extend(["--policy", &policy]);
    let r = env.bapply(&args, &[rec]).expect(0);
    assert!(
        r.stdout.contains(
            "UPDATE \"subscriptions\" SET \"status\" = 'unsubscribed' \
             WHERE \"email\" = 'ann@example.org' AND \"list\" = 'news.example.org';"
        ),
        "{r}"
    );
}

/// `--scope list --apply`: a complaint about one list unsubscribes the
/// address from that list only; a record without a List-Id reaches every
/// list of the address.
#[test]
fn scope_list_apply_changes_one_list_only() {
    let env = Env::new();
    let db = env.path("contacts.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE subscriptions (email TEXT, list TEXT, status TEXT);
         INSERT INTO subscriptions VALUES
           ('ann@example.org', 'news.example.org', 'active'),
           ('ann@example.org', 'offers.example.org', 'active'),
           ('bob@example.org', 'news.example.org', 'active'),
           ('bob@example.org', 'offers.example.org', 'active');",
    )
    .unwrap();
    drop(c);
    let policy = env.write(
        "p.toml",
        "[sql]\ntable = \"subscriptions\"\nlist_column = \"list\"\n",
    );
    let target = format!("sqlite:{}", db.display());
    let recs = [
        on_list(
            record("c1", "ann@example.org", "complaint", &day(1)),
            "News <news.example.org>",
        ),
        record("h1", "bob@example.org", "hard", &day(1)),
    ];
    let args = ["--scope", "list", "--policy", &policy, "--apply", &target];
    env.bapply(&args, &recs).expect(0);
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut st = c
        .prepare("SELECT email, list, status FROM subscriptions ORDER BY email, list")
        .unwrap();
    let rows: Vec<String> = st
        .query_map([], |r| {
            Ok(format!(
                "{} {} {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [
            "ann@example.org news.example.org unsubscribed",
            "ann@example.org offers.example.org active",
            "bob@example.org news.example.org blocked",
            "bob@example.org offers.example.org blocked",
        ]
    );
}

/// `--good` under `--scope list` resets the address on every list.
#[test]
fn good_file_reaches_every_list() {
    let env = Env::new();
    let a = "ann@example.org";
    let soft = |id: &str, d: i64| on_list(record(id, a, "soft", &day(d)), "<news.example.org>");
    env.bapply(&["--scope", "list"], &[soft("1", 1), soft("2", 2)])
        .expect(0);
    let good = env.write("good.txt", &format!("{a}\n"));
    let r = env
        .bapply(&["--scope", "list", "--good", &good], &[soft("3", 3)])
        .expect(0);
    assert!(r.csv().is_empty(), "{r}");
    assert!(r.stderr.contains("1 contacts' counts reset"), "{r}");
}

/// A policy that sets only `threshold` or `window_days` for a category
/// keeps its default action.
#[test]
fn partial_policy_override_keeps_the_default_action() {
    let env = Env::new();
    let policy = env.write(
        "p.toml",
        "[category.soft]\nthreshold = 2\n\n[category.hard]\nwindow_days = 3\n",
    );
    let recs = [
        record("s1", "a@example.org", "soft", &day(1)),
        record("s2", "a@example.org", "soft", &day(2)),
        record("h1", "b@example.org", "hard", &day(2)),
    ];
    let r = env.bapply(&["--policy", &policy], &recs).expect(0);
    assert_eq!(
        emails(&r.csv()),
        ["a@example.org block", "b@example.org block"],
        "{r}"
    );
    let r = env
        .bapply(&["--policy", &policy, "--print-policy"], &[])
        .expect(0);
    assert!(
        r.stdout
            .contains("[category.soft]\naction = \"block\"\nthreshold = 2\n"),
        "{r}"
    );
}

/// A change-of-address notice whose new address is a placeholder or no
/// mailbox changes nothing: a person looks at it (`manual`).
#[test]
fn placeholder_new_address_is_never_written() {
    let env = Env::new();
    let recs = [
        with(
            record("a1", "ann@example.org", "address-change", &day(1)),
            json!({"new_address": "redacted@example.net"}),
        ),
        with(
            record("a2", "bob@example.org", "address-change", &day(1)),
            json!({"new_address": "bob-at-example.net"}),
        ),
        with(
            record("a3", "cy@example.org", "address-change", &day(1)),
            json!({"new_address": "cy@example.net"}),
        ),
    ];
    let r = env.bapply(&[], &recs).expect(0);
    let got: Vec<String> = r
        .csv()
        .iter()
        .map(|r| format!("{} {} {}", r["email"], r["action"], r["new_email"]))
        .collect();
    assert_eq!(
        got,
        [
            "ann@example.org manual ",
            "bob@example.org manual ",
            "cy@example.org change-address cy@example.net"
        ],
        "{r}"
    );
}
