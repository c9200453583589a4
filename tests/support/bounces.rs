//! Generated bounces for the kill and concurrency tests (tests/kill_loop.rs):
//! hard ones, and soft ones two or three per address, so that a soft count
//! counted twice blocks an address that must stay active; the contact
//! table they start from and must end in, and what bapply's state must
//! hold (every event once, every update once).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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

/// The contact table every address of `all` starts in, active.
pub fn contacts(db: &Path, all: &[Bounce]) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("CREATE TABLE contacts (email TEXT PRIMARY KEY, status TEXT NOT NULL);")
        .unwrap();
    for b in all {
        c.execute(
            "INSERT OR IGNORE INTO contacts VALUES (?1, 'active')",
            [&b.addr],
        )
        .unwrap();
    }
}

/// `email -> status` of the contact table.
pub fn table(db: &Path) -> BTreeMap<String, String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare("SELECT email, status FROM contacts").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
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

/// The events committed in bapply's state, as messages; panics on an
/// event counted twice or one that is no message of `all`.
pub fn committed(state: &Path, all: &[Bounce], ctx: &str) -> BTreeSet<usize> {
    if !state.exists() {
        return BTreeSet::new();
    }
    let by: BTreeMap<(String, i64), usize> = all
        .iter()
        .map(|b| ((format!("addr:{}", b.addr), b.at), b.k))
        .collect();
    let c = rusqlite::Connection::open(state).unwrap();
    let Ok(mut st) =
        c.prepare("SELECT c.key, e.at FROM event e JOIN contact c ON c.id = e.contact")
    else {
        return BTreeSet::new(); // killed before the schema was committed
    };
    let mut seen = BTreeSet::new();
    for row in st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
    {
        let key = row.unwrap();
        let k = *by
            .get(&key)
            .unwrap_or_else(|| panic!("{ctx}: event {key:?} is no message of the test"));
        assert!(seen.insert(k), "{ctx}: message {k} ({key:?}) counted twice");
    }
    seen
}

/// Checks the end state after all of `all` went through: every event once,
/// the contact table as one run over everything gives, and each update
/// emitted once with the count of distinct bounces (soft counts not doubled).
pub fn check_final(state: &Path, db: &Path, all: &[Bounce], ctx: &str) {
    assert_eq!(
        committed(state, all, ctx),
        (0..all.len()).collect(),
        "{ctx}: every event exactly once"
    );
    assert_eq!(table(db), expected(all), "{ctx}: contact table");
    let c = rusqlite::Connection::open(state).unwrap();
    let mut st = c
        .prepare("SELECT email, count(*), max(count) FROM emitted GROUP BY email, dest")
        .unwrap();
    let emitted: Vec<(String, i64, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
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
    for (email, n, count) in &emitted {
        assert_eq!(*n, 1, "{ctx}: {email}: update emitted {n} times");
        let want = if email.starts_with("soft3") { 3 } else { 1 };
        assert_eq!(*count, want, "{ctx}: {email}: count {count}");
    }
}
