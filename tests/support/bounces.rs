//! Generated bounces for the kill and concurrency tests (tests/kill_loop.rs):
//! hard ones, and soft ones two or three per address, so that a soft count
//! counted twice blocks an address that must stay active; the contact
//! table they start from and must end in, and what bapply's state must
//! hold (every event once, every update once) — with target and state in
//! SQLite files or in the private PostgreSQL.

use super::databases::Postgres;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Hard,
    Soft,
}

/// One generated bounce: message `k` about `addr`, dated `at`.
#[derive(Clone, Debug)]
pub struct Bounce {
    pub k: usize,
    pub addr: String,
    pub kind: Kind,
    pub at: i64,
}

/// Hard bounces for `hard` addresses, then `soft2` addresses with two soft
/// bounces each (below the default threshold of 3), then `soft3` with
/// three. Each message has its own date (a minute apart, within the
/// last days) and its own remote host.
pub fn bounces(hard: usize, soft2: usize, soft3: usize) -> Vec<Bounce> {
    let base = chrono::Utc::now().timestamp() / 60 * 60 - 3 * 86_400;
    let mut v = Vec::new();
    let mut push = |addr: String, kind| {
        let k = v.len();
        v.push(Bounce {
            k,
            addr,
            kind,
            at: base + 60 * k as i64,
        });
    };
    for i in 0..hard {
        push(format!("hard{i}@h{i}.example.com"), Kind::Hard);
    }
    for (n, count) in [(soft2, 2), (soft3, 3)] {
        for i in 0..n {
            for _ in 0..count {
                push(format!("soft{count}-{i}@s{i}.example.com"), Kind::Soft);
            }
        }
    }
    v
}

impl Bounce {
    pub fn message_id(&self) -> String {
        format!("<kl{}@mx{}.example.net>", self.k, self.k)
    }

    /// A Postfix DSN.
    pub fn eml(&self) -> Vec<u8> {
        let (status, diag) = match self.kind {
            Kind::Hard => (
                "5.1.1",
                "550 5.1.1 Recipient address rejected: User unknown",
            ),
            Kind::Soft => ("5.2.2", "552 5.2.2 Mailbox full, quota exceeded"),
        };
        let date = chrono::DateTime::from_timestamp(self.at, 0)
            .unwrap()
            .to_rfc2822();
        let (k, addr, id) = (self.k, &self.addr, self.message_id());
        format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx{k}.example.net>\n\
             To: bounces@example.com\n\
             Subject: Undelivered Mail Returned to Sender\n\
             Message-ID: {id}\n\
             Date: {date}\n\
             MIME-Version: 1.0\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\
             \n\
             --b\n\
             Content-Type: text/plain\n\
             \n\
             This is the mail system at host mx{k}.example.net.\n\
             \n\
             --b\n\
             Content-Type: message/delivery-status\n\
             \n\
             Reporting-MTA: dns; mx{k}.example.net\n\
             \n\
             Final-Recipient: rfc822; {addr}\n\
             Action: failed\n\
             Status: {status}\n\
             Remote-MTA: dns; mx.r{k}.example.com\n\
             Diagnostic-Code: smtp; {diag} <{addr}>\n\
             \n\
             --b--\n"
        )
        .into_bytes()
    }
}

/// Where the contact table (bapply's `--apply` target) and bapply's state
/// are: two SQLite files, or one PostgreSQL database (the table `contacts`
/// in the public schema, the state in the schema `bapply`).
pub enum Store<'a> {
    Sqlite { db: PathBuf, state: PathBuf },
    Postgres(&'a Postgres),
}

/// The contact table, and a log of every write to its status (a trigger),
/// so that the tests see an update applied twice even when the second
/// write sets the same value.
const SQLITE_TABLE: &str = "CREATE TABLE contacts (email TEXT PRIMARY KEY, status TEXT NOT NULL);
    CREATE TABLE contact_writes (email TEXT NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL);
    CREATE TRIGGER contact_write AFTER UPDATE ON contacts BEGIN
      INSERT INTO contact_writes VALUES (OLD.email, OLD.status, NEW.status);
    END;";
const POSTGRES_TABLE: &str = "CREATE TABLE contacts (email TEXT PRIMARY KEY, status TEXT NOT NULL);
    CREATE TABLE contact_writes (email TEXT NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL);
    CREATE FUNCTION contact_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO contact_writes VALUES (OLD.email, OLD.status, NEW.status); RETURN NEW; END $$;
    CREATE TRIGGER contact_write AFTER UPDATE ON contacts
      FOR EACH ROW EXECUTE FUNCTION contact_write();";

impl Store<'_> {
    /// bapply's (and bounce-cron's) `--apply` argument.
    pub fn apply_arg(&self) -> String {
        match self {
            Store::Sqlite { db, .. } => format!("sqlite:{}", db.display()),
            Store::Postgres(pg) => pg.url("postgres"),
        }
    }

    /// bapply's (and bounce-cron's) `--state` argument.
    pub fn state_arg(&self) -> String {
        match self {
            Store::Sqlite { state, .. } => state.display().to_string(),
            Store::Postgres(pg) => pg.url("postgres"),
        }
    }

    /// Creates the contact table with every address of `all`, active.
    pub fn create_contacts(&self, all: &[Bounce]) {
        match self {
            Store::Sqlite { db, .. } => {
                let c = rusqlite::Connection::open(db).unwrap();
                c.execute_batch(SQLITE_TABLE).unwrap();
                for b in all {
                    c.execute(
                        "INSERT OR IGNORE INTO contacts VALUES (?1, 'active')",
                        [&b.addr],
                    )
                    .unwrap();
                }
            }
            Store::Postgres(pg) => {
                let mut c = pg.client("postgres");
                c.batch_execute(POSTGRES_TABLE).unwrap();
                for b in all {
                    c.execute(
                        "INSERT INTO contacts VALUES ($1, 'active') ON CONFLICT DO NOTHING",
                        &[&b.addr],
                    )
                    .unwrap();
                }
            }
        }
    }

    /// Rows of a query; `{s}` before a table of bapply's state stands for
    /// its schema (none in SQLite, where the state is a file of its own).
    fn rows<T>(
        &self,
        sql: &str,
        sqlite: impl Fn(&rusqlite::Row) -> rusqlite::Result<T>,
        pg: impl Fn(&postgres::Row) -> T,
        on_state: bool,
    ) -> Vec<T> {
        match self {
            Store::Sqlite { db, state } => {
                let c = rusqlite::Connection::open(if on_state { state } else { db }).unwrap();
                let mut st = c.prepare(&sql.replace("{s}", "")).unwrap();
                st.query_map([], sqlite)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            }
            Store::Postgres(p) => {
                let sql = sql.replace("{s}", "bapply.");
                let mut c = p.client("postgres");
                c.query(sql.as_str(), &[]).unwrap().iter().map(pg).collect()
            }
        }
    }

    /// Whether bapply's state has its schema: a run killed before its
    /// first commit leaves none.
    fn has_state(&self) -> bool {
        match self {
            Store::Sqlite { state, .. } => {
                state.exists()
                    && rusqlite::Connection::open(state)
                        .unwrap()
                        .prepare("SELECT 1 FROM event")
                        .is_ok()
            }
            Store::Postgres(pg) => {
                let row = pg
                    .client("postgres")
                    .query_one("SELECT to_regclass('bapply.event')::text", &[])
                    .unwrap();
                row.get::<_, Option<String>>(0).is_some()
            }
        }
    }

    /// `email -> status` of the contact table.
    pub fn table(&self) -> BTreeMap<String, String> {
        self.rows(
            "SELECT email, status FROM contacts",
            |r| Ok((r.get(0)?, r.get(1)?)),
            |r| (r.get(0), r.get(1)),
            false,
        )
        .into_iter()
        .collect()
    }

    /// Every write to a contact's status: (email, old, new).
    pub fn writes(&self) -> Vec<(String, String, String)> {
        self.rows(
            "SELECT email, old, new FROM contact_writes",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            |r| (r.get(0), r.get(1), r.get(2)),
            false,
        )
    }

    /// The updates bapply's state says it emitted: (email, times, count).
    pub fn emitted(&self) -> Vec<(String, i64, i64)> {
        if !self.has_state() {
            return Vec::new();
        }
        self.rows(
            "SELECT email, count(*), max(count) FROM {s}emitted GROUP BY email, dest",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            |r| (r.get(0), r.get(1), r.get(2)),
            true,
        )
    }

    /// The events committed in bapply's state, as messages; panics on an
    /// event counted twice or one that is no message of `all`.
    pub fn committed(&self, all: &[Bounce], ctx: &str) -> BTreeSet<usize> {
        if !self.has_state() {
            return BTreeSet::new();
        }
        let by: BTreeMap<(String, i64), usize> = all
            .iter()
            .map(|b| ((format!("addr:{}", b.addr), b.at), b.k))
            .collect();
        let events = self.rows(
            "SELECT c.key, e.at FROM {s}event e JOIN {s}contact c ON c.id = e.contact",
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            |r| (r.get::<_, String>(0), r.get::<_, i64>(1)),
            true,
        );
        let mut seen = BTreeSet::new();
        for key in events {
            let k = *by
                .get(&key)
                .unwrap_or_else(|| panic!("{ctx}: event {key:?} is no message of the test"));
            assert!(seen.insert(k), "{ctx}: message {k} ({key:?}) counted twice");
        }
        seen
    }

    /// What must hold at any time, a kill just after any commit included:
    /// an update the state says was emitted is in the contact table (the
    /// target commits first), and the table changed no status that way
    /// more than once.
    pub fn check_updates(&self, ctx: &str) -> usize {
        let table = self.table();
        for (email, ..) in self.emitted() {
            assert_eq!(
                table.get(&email).map(String::as_str),
                Some("blocked"),
                "{ctx}: {email}: update in the state but not in the table"
            );
        }
        let mut changed: BTreeMap<String, usize> = BTreeMap::new();
        let writes = self.writes();
        for (email, old, new) in &writes {
            assert_eq!(new, "blocked", "{ctx}: {email}: written {new:?}");
            if old != new {
                *changed.entry(email.clone()).or_default() += 1;
            }
        }
        let twice: Vec<_> = changed.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{ctx}: status changed twice: {twice:?}");
        // Writes that set the value it had: a kill between the target's
        // commit and the state's (the next run writes the same again).
        writes.len() - changed.len()
    }

    /// Checks the end state after all of `all` went through: every event
    /// once, the contact table as one run over everything gives, each
    /// blocked address's status changed once, and each update emitted once
    /// with the count of distinct bounces (soft counts not doubled).
    /// Returns how many writes repeated a value already there.
    pub fn check_final(&self, all: &[Bounce], ctx: &str) -> usize {
        assert_eq!(
            self.committed(all, ctx),
            (0..all.len()).collect(),
            "{ctx}: every event exactly once"
        );
        assert_eq!(self.table(), expected(all), "{ctx}: contact table");
        let repeated = self.check_updates(ctx);
        let emitted = self.emitted();
        let blocked: BTreeSet<String> = expected(all)
            .into_iter()
            .filter(|(_, s)| s == "blocked")
            .map(|(a, _)| a)
            .collect();
        assert_eq!(
            emitted.iter().map(|e| e.0.clone()).collect::<BTreeSet<_>>(),
            blocked,
            "{ctx}: {emitted:?}"
        );
        let changed: BTreeSet<String> = self
            .writes()
            .into_iter()
            .filter(|(_, old, new)| old != new)
            .map(|w| w.0)
            .collect();
        assert_eq!(changed, blocked, "{ctx}: statuses changed");
        for (email, n, count) in &emitted {
            assert_eq!(*n, 1, "{ctx}: {email}: update emitted {n} times");
            let want = if email.starts_with("soft3") { 3 } else { 1 };
            assert_eq!(*count, want, "{ctx}: {email}: count {count}");
        }
        repeated
    }
}

/// What the table must say at the end: hard and three-soft addresses
/// blocked, two-soft addresses still active.
pub fn expected(all: &[Bounce]) -> BTreeMap<String, String> {
    let mut soft: BTreeMap<&str, usize> = BTreeMap::new();
    let mut want = BTreeMap::new();
    for b in all {
        match b.kind {
            Kind::Hard => {
                want.insert(b.addr.clone(), "blocked".to_string());
            }
            Kind::Soft => *soft.entry(&b.addr).or_default() += 1,
        }
    }
    for (a, n) in soft {
        let s = if n >= 3 { "blocked" } else { "active" };
        want.insert(a.to_string(), s.to_string());
    }
    want
}
