//! bapply: classification records (SPEC §2) in, contact updates out (§6).
//!
//! This is the stage that changes a contact list, so it is the careful one:
//! events are remembered per contact ([`state`]) and deduplicated so that
//! re-reading a mailbox counts nothing twice; a [`policy`] decides how many
//! events of a category within what window make an update; an update goes
//! out once, when the contact crosses its threshold; and the [`guard`]
//! refuses a run that looks like an outage or a block of the sender rather
//! than dead addresses. Output is CSV, JSON Lines or SQL, or the updates are
//! applied to a database in one transaction ([`target`]). A run either
//! happens completely (state, output, target) or leaves no trace.

pub mod csv;
pub mod guard;
pub mod jsonl;
pub mod policy;
pub mod sql;
pub mod state;
pub mod target;
pub mod update;

use crate::classify::record::Record;
use crate::classify::taxonomy::{Category, Reason};
use crate::exit::{Classify, ExitCode};
use policy::{Action, Dialect, Policy};
use state::{StateError, Store};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use target::{Applied, Target, TargetError};
use update::Update;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: line {line}: {message}")]
    BadRecord {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    Policy { path: String, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("state {path}: {source}")]
    State { path: String, source: StateError },
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The guard held the run back; carries what the run saw.
    #[error("{}", .0.guard.refusal())]
    Guard(Box<Summary>),
    #[error("output: {0}")]
    Output(#[source] io::Error),
}

impl Classify for Error {
    fn exit_code(&self) -> ExitCode {
        match self {
            Error::Open { source, .. } => match source.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => ExitCode::NoInput,
                _ => ExitCode::IoErr,
            },
            Error::Read { .. } | Error::Output(_) => ExitCode::IoErr,
            Error::BadRecord { .. } => ExitCode::DataErr,
            Error::Policy { .. } => ExitCode::Config,
            Error::Usage(_) => ExitCode::Usage,
            Error::State { source, .. } => match source {
                StateError::Locked(_) => ExitCode::TempFail,
                StateError::Sql(_) => ExitCode::IoErr,
            },
            Error::Target(t) => t.code,
            // Held back, not broken: the same input with --force, or after
            // the outage, goes through. Cron and MTAs read 75 as "later".
            Error::Guard(_) => ExitCode::TempFail,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
    Sql,
}

#[derive(Debug, Clone)]
pub enum StateLocation {
    /// Under the XDG state directory.
    Default,
    Path(PathBuf),
    /// Counts only within this input.
    None,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Files to read; empty or `-` means stdin.
    pub inputs: Vec<String>,
    pub format: Format,
    pub dialect: Option<Dialect>,
    pub apply: Option<Target>,
    pub policy: Policy,
    pub state: StateLocation,
    pub all: bool,
    pub force: bool,
    pub skip_invalid: bool,
    pub lock_timeout: Duration,
}

/// Where the state lives by default: `$XDG_STATE_HOME/bounce-tools/bapply.sqlite`.
pub fn default_state_path() -> Option<PathBuf> {
    dirs::state_dir().map(|d| d.join("bounce-tools").join("bapply.sqlite"))
}

/// Reads a policy file; errors name the file.
pub fn load_policy(path: &Path) -> Result<Policy, Error> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Open {
        path: name.clone(),
        source,
    })?;
    Policy::from_toml(&text).map_err(|message| Error::Policy {
        path: name,
        message,
    })
}

/// What a run saw and did, for the summary on stderr.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub records: u64,
    pub invalid: u64,
    pub duplicates: u64,
    /// Records naming neither an address nor a subscriber id.
    pub unattributed: u64,
    /// Distinct contacts in the input.
    pub addresses: usize,
    /// New updates per action.
    pub actions: BTreeMap<Action, usize>,
    pub newly_blocked: Vec<String>,
    /// Thresholds crossed again for updates already emitted earlier.
    pub already_emitted: usize,
    /// `--all`: every emitted update was written, old and new.
    pub all: bool,
    pub written: usize,
    pub guard: guard::Report,
    pub sql_skipped: usize,
    pub nul_replaced: usize,
    pub applied: Option<(String, Applied)>,
}

impl Summary {
    /// The summary lines, without the program name.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} records, {} contacts, {} duplicates, {} without address, {} invalid",
            self.records, self.addresses, self.duplicates, self.unattributed, self.invalid
        )];
        let per: Vec<String> = self
            .actions
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect();
        let total: usize = self.actions.values().sum();
        out.push(if per.is_empty() {
            "updates: none".to_string()
        } else {
            format!("updates: {total} ({})", per.join(", "))
        });
        if !self.newly_blocked.is_empty() {
            const SHOWN: usize = 10;
            let mut list: Vec<String> = self
                .newly_blocked
                .iter()
                .take(SHOWN)
                .map(|e| printable(e))
                .collect();
            if self.newly_blocked.len() > SHOWN {
                list.push(format!("and {} more", self.newly_blocked.len() - SHOWN));
            }
            out.push(format!(
                "newly blocked: {} ({})",
                self.newly_blocked.len(),
                list.join(", ")
            ));
        }
        if self.all {
            out.push(format!("--all: wrote {} current updates", self.written));
        }
        if self.already_emitted > 0 {
            out.push(format!(
                "{} updates already emitted by earlier runs, not repeated",
                self.already_emitted
            ));
        }
        out.push(format!("guard: {}", self.guard.describe()));
        if self.guard.fired && !self.guard.forced {
            out.push(format!(
                "held back by the guard: {} updates",
                self.guard.updates
            ));
        }
        if self.sql_skipped > 0 {
            out.push(format!(
                "{} updates wrote no SQL statement (no value for the action, or no address to match)",
                self.sql_skipped
            ));
        }
        if self.nul_replaced > 0 {
            out.push(format!(
                "{} values held NUL, which PostgreSQL text cannot store; written as U+FFFD",
                self.nul_replaced
            ));
        }
        if let Some((t, a)) = &self.applied {
            out.push(format!(
                "applied to {t}: {} statements, {} rows changed, {} matched no row",
                a.statements, a.rows, a.unmatched
            ));
        }
        out
    }
}

/// Escapes control characters so that attacker-controlled text cannot move
/// the cursor or recolour the terminal that reads the summary.
pub fn printable(s: &str) -> String {
    if s.chars().any(|c| c.is_control()) {
        s.escape_debug().to_string()
    } else {
        s.to_string()
    }
}

/// The latest new event of one actionable category for one contact: what
/// the update reports as reason and evidence.
struct Detail {
    at: i64,
    reason: Reason,
    status: Option<String>,
    rule: String,
    evidence: Option<String>,
    new_address: Option<String>,
    host: Option<String>,
    diagnostic: Option<String>,
}

struct Seen {
    id: i64,
    email: Option<String>,
    subscriber: Option<String>,
    fresh: bool,
    details: Vec<(Category, Detail)>,
}

/// A run: read, count, decide, guard, write or apply, commit.
pub fn run<W: Write>(
    opts: &Options,
    stdin: &mut dyn Read,
    out: &mut W,
    warn: &mut dyn FnMut(&str),
) -> Result<Summary, Error> {
    let (state_path, state_name) = match &opts.state {
        StateLocation::None => (None, ":memory:".to_string()),
        StateLocation::Path(p) => (Some(p.clone()), p.display().to_string()),
        StateLocation::Default => {
            let p = default_state_path().ok_or_else(|| {
                Error::Usage(
                    "no XDG state directory (HOME unset); give --state PATH or --no-state".into(),
                )
            })?;
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).map_err(|source| Error::Open {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            let name = p.display().to_string();
            (Some(p), name)
        }
    };
    let state_err = |source| Error::State {
        path: state_name.clone(),
        source,
    };
    let store = Store::open(state_path.as_deref(), opts.lock_timeout).map_err(state_err)?;
    match run_in(opts, &store, stdin, out, warn, &state_err) {
        Ok(summary) => {
            store.commit().map_err(state_err)?;
            Ok(summary)
        }
        Err(e) => {
            store.rollback();
            Err(e)
        }
    }
}

fn run_in<W: Write>(
    opts: &Options,
    store: &Store,
    stdin: &mut dyn Read,
    out: &mut W,
    warn: &mut dyn FnMut(&str),
    state_err: &dyn Fn(StateError) -> Error,
) -> Result<Summary, Error> {
    let policy = &opts.policy;
    let now = chrono::Utc::now().timestamp();
    let mut summary = Summary::default();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut seen: Vec<Seen> = Vec::new();

    read_records(opts, stdin, &mut summary, warn, &mut |rec, path, line| {
        let key = match (&rec.subscriber, &rec.recipient) {
            (Some(s), _) => format!("id:{s}"),
            (None, Some(r)) => format!("addr:{r}"),
            (None, None) => return Ok(Step::Unattributed),
        };
        let at = match rec.date.as_deref() {
            None => now,
            Some(d) => chrono::DateTime::parse_from_rfc3339(d)
                .map_err(|e| Error::BadRecord {
                    path: path.to_string(),
                    line,
                    message: format!("date {:?}: {e}", printable(d)),
                })?
                .timestamp(),
        };
        let message = message_hash(&rec);
        let i = match index.get(&key) {
            Some(&i) => i,
            None => {
                let id = store.contact_id(&key).map_err(state_err)?;
                seen.push(Seen {
                    id,
                    email: None,
                    subscriber: None,
                    fresh: false,
                    details: Vec::new(),
                });
                index.insert(key, seen.len() - 1);
                seen.len() - 1
            }
        };
        let s = &mut seen[i];
        if !store
            .add_event(s.id, message, rec.category, at)
            .map_err(state_err)?
        {
            return Ok(Step::Duplicate);
        }
        s.fresh = true;
        if rec.recipient.is_some() {
            s.email = rec.recipient.clone();
        }
        if rec.subscriber.is_some() {
            s.subscriber = rec.subscriber.clone();
        }
        if policy.for_category(rec.category).action != Action::None {
            let pos = s.details.iter().position(|(c, _)| *c == rec.category);
            if pos.is_none_or(|p| s.details[p].1.at <= at) {
                let host = rec
                    .remote_mta
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .or_else(|| {
                        rec.recipient
                            .as_deref()
                            .and_then(|r| r.rsplit_once('@'))
                            .map(|(_, d)| d.to_ascii_lowercase())
                    });
                let d = Detail {
                    at,
                    reason: rec.reason,
                    status: rec.status,
                    rule: rec.rule,
                    evidence: rec.evidence,
                    new_address: rec.new_address,
                    host,
                    diagnostic: rec.diagnostic.as_deref().map(guard::normalise_diagnostic),
                };
                match pos {
                    Some(p) => s.details[p].1 = d,
                    None => s.details.push((rec.category, d)),
                }
            }
        }
        Ok(Step::Counted)
    })?;
    summary.addresses = seen.len();

    // Decide: which contacts crossed a threshold with this run's events.
    let mut candidates: Vec<(i64, String, Update, guard::Evidence)> = Vec::new();
    let mut events = Vec::new();
    for s in seen.iter().filter(|s| s.fresh && !s.details.is_empty()) {
        store.events(s.id, &mut events).map_err(state_err)?;
        let streaks = streaks(policy, &mut events);
        let mut mine: Vec<(i64, String, Update, guard::Evidence)> = Vec::new();
        for (cat, d) in &s.details {
            let Some(st) = streaks.get(cat).filter(|st| st.crossed) else {
                continue;
            };
            let mut action = policy.for_category(*cat).action;
            if action == Action::ChangeAddress && d.new_address.is_none() {
                action = Action::Manual;
            }
            let ukey = match action {
                Action::Manual => format!("manual:{cat}"),
                Action::ChangeAddress => {
                    format!("change-address:{}", d.new_address.as_deref().unwrap_or(""))
                }
                a => a.as_str().to_string(),
            };
            if mine.iter().any(|m| m.1 == ukey) {
                continue;
            }
            if store.was_emitted(s.id, &ukey).map_err(state_err)? {
                summary.already_emitted += 1;
                continue;
            }
            let update = Update {
                email: s.email.clone(),
                action,
                category: *cat,
                reason: d.reason,
                status: d.status.clone(),
                count: st.count,
                first_seen: rfc3339(st.first),
                last_seen: rfc3339(st.last),
                subscriber: s.subscriber.clone(),
                new_email: if action == Action::ChangeAddress {
                    d.new_address.clone()
                } else {
                    None
                },
                rule: d.rule.clone(),
                evidence: d.evidence.clone(),
            };
            let ev = guard::Evidence {
                host: d.host.clone(),
                diagnostic: d.diagnostic.clone(),
            };
            mine.push((s.id, ukey, update, ev));
        }
        mine.sort_by_key(|m| m.2.action.rank());
        candidates.extend(mine);
    }

    let report = guard::check(
        &policy.guard,
        summary.addresses,
        candidates.iter().map(|c| (c.2.action, &c.3)),
        opts.force,
    );
    let fired = report.fired;
    summary.guard = report;
    if fired && !opts.force {
        return Err(Error::Guard(Box::new(summary)));
    }

    for (id, ukey, u, _) in &candidates {
        store.record_emitted(*id, ukey, now, u).map_err(state_err)?;
        *summary.actions.entry(u.action).or_default() += 1;
        if u.action == Action::Block {
            summary.newly_blocked.push(
                u.email
                    .clone()
                    .or_else(|| u.subscriber.clone())
                    .unwrap_or_default(),
            );
        }
    }
    let updates: Vec<Update> = if opts.all {
        store.all_emitted().map_err(state_err)?
    } else {
        candidates.into_iter().map(|c| c.2).collect()
    };
    summary.written = updates.len();
    summary.all = opts.all;

    if let Some(target) = &opts.apply {
        let script = sql::build(&updates, &policy.sql, target.dialect());
        summary.sql_skipped = script.skipped;
        summary.nul_replaced = script.nul_replaced;
        let applied = target.apply(&script.statements, opts.lock_timeout)?;
        summary.applied = Some((target.display(), applied));
        return Ok(summary);
    }
    let written = match opts.format {
        Format::Csv => csv::write(&mut *out, &updates),
        Format::Jsonl => jsonl::write(&mut *out, &updates),
        Format::Sql => {
            let dialect = opts.dialect.unwrap_or(policy.sql.dialect);
            let script = sql::build(&updates, &policy.sql, dialect);
            summary.sql_skipped = script.skipped;
            summary.nul_replaced = script.nul_replaced;
            sql::write(&mut *out, &script, dialect)
        }
    };
    written.map_err(Error::Output)?;
    Ok(summary)
}

enum Step {
    Counted,
    Duplicate,
    Unattributed,
}

/// Where one category of one contact stands after its history.
#[derive(Debug, Default, Clone)]
struct Streak {
    /// Events since the last reset.
    count: u32,
    first: i64,
    last: i64,
    /// At some point since the last reset, `threshold` events fell within
    /// the window.
    crossed: bool,
    window: std::collections::VecDeque<i64>,
}

/// Replays a contact's history in date order. Replaying, rather than
/// keeping counters, is what makes a `delivered` clear exactly the soft
/// bounces dated before it, and a window hold however the records arrive.
fn streaks(policy: &Policy, events: &mut [(Category, i64)]) -> HashMap<Category, Streak> {
    // On the same second a reset goes last: it clears only what it follows.
    events.sort_by_key(|(c, at)| (*at, !policy.for_category(*c).resets.is_empty()));
    let mut out: HashMap<Category, Streak> = HashMap::new();
    for &(c, at) in events.iter() {
        let p = policy.for_category(c);
        for r in &p.resets {
            out.remove(r);
        }
        if p.action == Action::None {
            continue;
        }
        let s = out.entry(c).or_default();
        if s.count == 0 {
            s.first = at;
        }
        s.count += 1;
        s.last = s.last.max(at);
        s.window.push_back(at);
        if p.window_days > 0 {
            let oldest = at - i64::from(p.window_days) * 86_400;
            while s.window.front().is_some_and(|&t| t < oldest) {
                s.window.pop_front();
            }
        }
        if s.window.len() >= p.threshold as usize {
            s.crossed = true;
        }
    }
    out
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The identity of a bounce message, hashed: its Message-ID when it has
/// one; else its IMAP coordinates; else its content (without `source`, so
/// the same message read from another file is still the same message).
fn message_hash(rec: &Record) -> i64 {
    let mut h = Fnv::new();
    if let Some(id) = &rec.message_id {
        h.write(b"mid\0");
        h.write(id.as_bytes());
    } else if let (Some(m), Some(v), Some(u)) =
        (&rec.source.mailbox, rec.source.uidvalidity, rec.source.uid)
    {
        h.write(b"imap\0");
        h.write(m.as_bytes());
        h.write(format!("\0{v}\0{u}").as_bytes());
    } else {
        let mut r = rec.clone();
        r.source = Default::default();
        h.write(b"content\0");
        h.write(&serde_json::to_vec(&r).unwrap_or_default());
    }
    h.finish() as i64
}

/// FNV-1a, 64 bit: stable across Rust versions and platforms, which the
/// stored hashes need (std's `DefaultHasher` promises neither).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Most warnings about skipped lines shown before they are only counted.
const MAX_WARNINGS: u64 = 20;

fn read_records(
    opts: &Options,
    stdin: &mut dyn Read,
    summary: &mut Summary,
    warn: &mut dyn FnMut(&str),
    each: &mut dyn FnMut(Record, &str, u64) -> Result<Step, Error>,
) -> Result<(), Error> {
    let inputs: Vec<String> = if opts.inputs.is_empty() {
        vec!["-".to_string()]
    } else {
        opts.inputs.clone()
    };
    let mut buf = Vec::with_capacity(4096);
    for input in &inputs {
        let (name, reader): (String, Box<dyn Read + '_>) = if input == "-" {
            ("stdin".to_string(), Box::new(&mut *stdin))
        } else {
            let f = File::open(input).map_err(|source| Error::Open {
                path: input.clone(),
                source,
            })?;
            (input.clone(), Box::new(f))
        };
        let mut reader = BufReader::with_capacity(1 << 20, reader);
        let mut line = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| Error::Read {
                    path: name.clone(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            line += 1;
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = parse_record(&buf);
            let result = match parsed {
                Ok(rec) => each(rec, &name, line),
                Err(message) => Err(Error::BadRecord {
                    path: name.clone(),
                    line,
                    message,
                }),
            };
            match result {
                Ok(step) => {
                    summary.records += 1;
                    match step {
                        Step::Counted => {}
                        Step::Duplicate => summary.duplicates += 1,
                        Step::Unattributed => summary.unattributed += 1,
                    }
                }
                Err(e @ Error::BadRecord { .. }) if opts.skip_invalid => {
                    summary.invalid += 1;
                    if summary.invalid <= MAX_WARNINGS {
                        warn(&format!("{e} (skipped)"));
                    } else if summary.invalid == MAX_WARNINGS + 1 {
                        warn("more invalid lines; only counting them from here");
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn parse_record(line: &[u8]) -> Result<Record, String> {
    let rec: Record = serde_json::from_slice(line).map_err(|e| {
        // serde_json ends its message with "at line 1 column N"; the line is
        // ours to name, the column is worth keeping.
        let msg = e.to_string();
        let msg = msg
            .rsplit_once(" at line ")
            .map_or(msg.as_str(), |(m, _)| m)
            .to_string();
        match e.column() {
            0 => printable(&msg),
            c => format!("column {c}: {}", printable(&msg)),
        }
    })?;
    if rec.v != record_version() {
        return Err(format!(
            "record version {} (this bapply reads version {})",
            rec.v,
            record_version()
        ));
    }
    Ok(rec)
}

fn record_version() -> u32 {
    crate::classify::record::RECORD_VERSION
}
