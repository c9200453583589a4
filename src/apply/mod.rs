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
mod quick;
pub mod records;
pub mod sql;
pub mod state;
pub mod target;
pub mod update;

use crate::exit::{ExitCode, ToExitCode};
use crate::paths::{self, Purpose};
use crate::record::{Category, Reason};
use hashbrown::hash_table::{Entry, HashTable};
use policy::{Action, Dialect, Policy};
use state::{StateError, Store};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
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

impl ToExitCode for Error {
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

/// Where the state lives by default:
/// `$XDG_STATE_HOME/bounce-tools/bapply.sqlite` (the one rule of
/// [`crate::paths`]); None without a home.
pub fn default_state_path() -> Option<PathBuf> {
    paths::default_file(Purpose::State, "bapply.sqlite").ok()
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
    /// The first few contacts blocked by this run, and how many in all.
    pub newly_blocked: Vec<String>,
    pub blocked: usize,
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
        if self.blocked > 0 {
            let mut list: Vec<String> = self.newly_blocked.iter().map(|e| printable(e)).collect();
            if self.blocked > list.len() {
                list.push(format!("and {} more", self.blocked - list.len()));
            }
            out.push(format!(
                "newly blocked: {} ({})",
                self.blocked,
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

/// A run: read, count, decide, guard, write or apply, commit.
pub fn run<W: Write>(
    opts: &Options,
    stdin: &mut (dyn Read + Send),
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
    let mut input = Input::default();
    match run_in(opts, &store, &mut input, stdin, out, warn, &state_err) {
        Ok(summary) => {
            // Freeing what the run read (a million events, a hundred
            // thousand contacts) takes a while, and the commit mostly
            // waits for the disk.
            let committed = std::thread::scope(|s| {
                s.spawn(move || drop(input));
                store.commit()
            });
            committed.map_err(state_err)?;
            Ok(summary)
        }
        Err(e) => {
            store.rollback();
            Err(e)
        }
    }
}

/// Interned text: the fields that repeat across records (status, rule,
/// host, masked diagnostic) are stored once. Hashes come from the parsing
/// threads ([`records::Hashed`]).
#[derive(Default)]
struct Interner {
    table: HashTable<(u64, u32)>,
    list: Vec<Box<str>>,
}

const NONE: u32 = u32::MAX;

impl Interner {
    fn get(&mut self, hash: u64, s: &str) -> u32 {
        let list = &mut self.list;
        let found = self.table.entry(
            hash,
            |&(h, i)| h == hash && *list[i as usize] == *s,
            |&(h, _)| h,
        );
        match found {
            Entry::Occupied(e) => e.get().1,
            Entry::Vacant(e) => {
                let i = list.len() as u32;
                list.push(s.into());
                e.insert((hash, i));
                i
            }
        }
    }
    fn str(&self, i: u32) -> Option<&str> {
        self.list.get(i as usize).map(|s| &**s)
    }
}

/// The latest event of one actionable category for one contact in this
/// input: what the update reports as reason and evidence.
struct Detail {
    at: i64,
    category: Category,
    reason: Reason,
    status: u32,
    rule: u32,
    host: u32,
    diagnostic: u32,
    evidence: Option<Box<str>>,
    new_address: Option<Box<str>>,
}

/// A contact named in this input.
struct Seen {
    /// `addr:ADDRESS` or `id:SUBSCRIBER`.
    key: Box<str>,
    email: Option<Box<str>>,
    subscriber: Option<Box<str>>,
    details: Vec<Detail>,
}

/// One event of this input, kept small: a million of them stay in memory
/// until the state is consulted contact by contact.
#[derive(Clone, Copy)]
struct Ev {
    msg: i64,
    at: i64,
    contact: u32,
    category: Category,
}

/// Everything phase one (reading) hands to phase two (deciding).
#[derive(Default)]
struct Input {
    /// (hash of the key, position in `seen`).
    index: HashTable<(u64, u32)>,
    seen: Vec<Seen>,
    events: Vec<Ev>,
    strings: Interner,
}

fn run_in<W: Write>(
    opts: &Options,
    store: &Store,
    input: &mut Input,
    stdin: &mut (dyn Read + Send),
    out: &mut W,
    warn: &mut dyn FnMut(&str),
    state_err: &dyn Fn(StateError) -> Error,
) -> Result<Summary, Error> {
    let policy = &opts.policy;
    let now = chrono::Utc::now().timestamp();
    let mut summary = Summary::default();
    read_input(opts, stdin, now, &mut summary, warn, input)?;
    summary.addresses = input.seen.len();
    let candidates = decide(policy, store, now, input, &mut summary).map_err(state_err)?;
    let input: &Input = input;

    let report = guard::check(
        &policy.guard,
        summary.addresses,
        candidates.iter().map(|c| {
            let d = &input.seen[c.contact as usize].details[c.detail as usize];
            (
                c.id,
                c.action,
                input.strings.str(d.host),
                input.strings.str(d.diagnostic),
            )
        }),
        opts.force,
    );
    let fired = report.fired;
    summary.guard = report;
    if fired && !opts.force {
        return Err(Error::Guard(Box::new(summary)));
    }

    for c in &candidates {
        *summary.actions.entry(c.action).or_default() += 1;
        if c.action == Action::Block {
            summary.blocked += 1;
            if summary.newly_blocked.len() < SHOWN_BLOCKED {
                let u = c.update(input);
                summary
                    .newly_blocked
                    .push(u.email.or(u.subscriber).unwrap_or_default().into_owned());
            }
        }
    }
    summary.all = opts.all;
    let written = std::cell::Cell::new(0usize);
    let page_error: std::cell::RefCell<Option<StateError>> = Default::default();
    let mut updates: Box<dyn Iterator<Item = Update<'_>> + '_> = if opts.all {
        let mut after = None;
        let mut page: std::vec::IntoIter<((i64, String), Update<'static>)> = Vec::new().into_iter();
        let page_error = &page_error;
        Box::new(std::iter::from_fn(move || -> Option<Update<'_>> {
            loop {
                if let Some((key, u)) = page.next() {
                    after = Some(key);
                    if u.action == Action::None {
                        continue;
                    }
                    return Some(u);
                }
                if page_error.borrow().is_some() {
                    return None;
                }
                match store.emitted_page(&after, 4096) {
                    Ok(p) if p.is_empty() => return None,
                    Ok(p) => page = p.into_iter(),
                    Err(e) => {
                        *page_error.borrow_mut() = Some(e);
                        return None;
                    }
                }
            }
        }))
    } else {
        Box::new(candidates.iter().map(|c| c.update(input)))
    };
    let mut updates = std::iter::from_fn(|| {
        let u = updates.next();
        if u.is_some() {
            written.set(written.get() + 1);
        }
        u
    });
    let updates: &mut dyn Iterator<Item = Update<'_>> = &mut updates;

    if let Some(target) = &opts.apply {
        let mut stats = sql::Stats::default();
        let mut statements = sql::statements(updates, &policy.sql, target.dialect(), &mut stats);
        let applied = target.apply(&mut statements, opts.lock_timeout);
        drop(statements);
        if let Some(e) = page_error.borrow_mut().take() {
            return Err(state_err(e));
        }
        let applied = applied?;
        summary.sql_skipped = stats.skipped;
        summary.nul_replaced = stats.nul_replaced;
        summary.applied = Some((target.display(), applied));
        summary.written = written.get();
        return Ok(summary);
    }
    let result = match opts.format {
        Format::Csv => csv::write(&mut *out, updates),
        Format::Jsonl => jsonl::write(&mut *out, updates),
        Format::Sql => {
            let dialect = opts.dialect.unwrap_or(policy.sql.dialect);
            let mut stats = sql::Stats::default();
            let r = sql::write(&mut *out, updates, &policy.sql, dialect, &mut stats);
            summary.sql_skipped = stats.skipped;
            summary.nul_replaced = stats.nul_replaced;
            r
        }
    };
    if let Some(e) = page_error.borrow_mut().take() {
        return Err(state_err(e));
    }
    result.map_err(Error::Output)?;
    summary.written = written.get();
    Ok(summary)
}

/// Blocked addresses named in the summary; the rest are counted.
const SHOWN_BLOCKED: usize = 10;

/// Most warnings about skipped lines shown before they are only counted.
const MAX_WARNINGS: u64 = 20;

/// Phase one: every record into `input`, nothing into the state yet.
/// Parsing is most of the work, so it runs on all cores, one batch ahead
/// of the sequential part that files each record under its contact.
fn read_input(
    opts: &Options,
    stdin: &mut (dyn Read + Send),
    now: i64,
    summary: &mut Summary,
    warn: &mut dyn FnMut(&str),
    input: &mut Input,
) -> Result<(), Error> {
    let names: Vec<String> = if opts.inputs.is_empty() {
        vec!["-".to_string()]
    } else {
        opts.inputs.clone()
    };
    let how = records::Prepare {
        now,
        actionable: Category::ALL
            .iter()
            .map(|c| opts.policy.for_category(*c).action != Action::None)
            .collect(),
        hasher: records::Hasher::default(),
    };
    let how = &how;
    let mut a = records::Batch::new();
    let mut b = records::Batch::new();
    let mut ctx = Filing {
        opts,
        summary,
        input,
        found: Vec::new(),
        warnings: Vec::new(),
    };
    for name in &names {
        let (name, reader): (&str, Box<dyn Read + Send + '_>) = if name == "-" {
            ("stdin", Box::new(&mut *stdin))
        } else {
            let f = File::open(name).map_err(|source| Error::Open {
                path: name.clone(),
                source,
            })?;
            (name.as_str(), Box::new(f))
        };
        let mut src = records::Source::new(reader);
        let read_err = |source| Error::Read {
            path: name.to_string(),
            source,
        };
        let mut line = 1;
        let n = a.fill(&mut src, line).map_err(read_err)?;
        if n == 0 {
            continue;
        }
        line += n;
        let mut parsed = a.parse(how);
        // Two batches take turns: one is read and parsed on all cores
        // while the records of the other are filed.
        loop {
            let (b_ref, s) = (&mut b, &mut src);
            let (next, filed) = rayon::join(
                move || read_and_parse(b_ref, s, line, how),
                || ctx.file(name, parsed),
            );
            ctx.flush_warnings(warn);
            filed?;
            let (n, next) = next.map_err(read_err)?;
            if n == 0 {
                break;
            }
            line += n;
            let (a_ref, s) = (&mut a, &mut src);
            let (again, filed) = rayon::join(
                move || read_and_parse(a_ref, s, line, how),
                || ctx.file(name, next),
            );
            ctx.flush_warnings(warn);
            filed?;
            let (n, again) = again.map_err(read_err)?;
            if n == 0 {
                break;
            }
            line += n;
            parsed = again;
        }
    }
    Ok(())
}

fn read_and_parse<'b, R: Read>(
    batch: &'b mut records::Batch,
    src: &mut records::Source<R>,
    line: u64,
    how: &records::Prepare,
) -> io::Result<(u64, records::Parsed<'b>)> {
    let n = batch.fill(src, line)?;
    Ok((n, batch.parse(how)))
}

/// The sequential half of reading: files parsed records under contacts.
struct Filing<'o> {
    opts: &'o Options,
    summary: &'o mut Summary,
    input: &'o mut Input,
    /// Contacts of one chunk looked up ahead of filing.
    found: Vec<u32>,
    /// Warnings wait here: the filing runs beside the parser, away from
    /// the caller's (not thread-safe) warning sink.
    warnings: Vec<String>,
}

impl Filing<'_> {
    fn flush_warnings(&mut self, warn: &mut dyn FnMut(&str)) {
        for w in self.warnings.drain(..) {
            warn(&w);
        }
    }

    fn file(&mut self, name: &str, parsed: records::Parsed<'_>) -> Result<(), Error> {
        for chunk in parsed {
            self.input.look_up(&chunk.lines, &mut self.found);
            for ((line, parsed), &found) in chunk.lines.into_iter().zip(&self.found) {
                let p = match parsed {
                    Ok(p) => p,
                    Err(message) => {
                        let e = Error::BadRecord {
                            path: name.to_string(),
                            line,
                            message,
                        };
                        if !self.opts.skip_invalid {
                            return Err(e);
                        }
                        self.summary.invalid += 1;
                        if self.summary.invalid <= MAX_WARNINGS {
                            self.warnings.push(format!("{e} (skipped)"));
                        } else if self.summary.invalid == MAX_WARNINGS + 1 {
                            self.warnings.push(
                                "more invalid lines; counting them without a warning each".into(),
                            );
                        }
                        continue;
                    }
                };
                self.summary.records += 1;
                if p.recipient.is_none() && p.subscriber.is_none() {
                    self.summary.unattributed += 1;
                }
                add_record(self.input, p, chunk.text, found);
            }
        }
        Ok(())
    }
}

/// The contact a record names and how: by subscriber id, else address.
fn contact_of<'p>(p: &'p records::Prepared<'_>) -> Option<(bool, &'p str)> {
    match (&p.subscriber, &p.recipient) {
        (Some(s), _) => Some((true, &**s)),
        (None, Some(r)) => Some((false, &**r)),
        (None, None) => None,
    }
}

impl Input {
    /// The known contact of each of `lines`, or [`NONE`], into `found`.
    /// Filing is one thread, and the index and the contacts are far larger
    /// than the caches: looking up a chunk's contacts step by step, each
    /// step for all lines before the next, lets the memory loads of many
    /// lines overlap, where one line after another waits for each load.
    fn look_up(&self, lines: &[records::Line<'_>], found: &mut Vec<u32>) {
        let seen = &self.seen;
        found.clear();
        // The index alone: an entry with the same hash.
        found.extend(lines.iter().map(|(_, p)| match p {
            Ok(p) if contact_of(p).is_some() => {
                let hash = p.contact;
                self.index
                    .find(hash, |&(h, _)| h == hash)
                    .map_or(NONE, |&(_, i)| i)
            }
            _ => NONE,
        }));
        // The contact's key, and the details filing will read.
        for ((_, p), f) in lines.iter().zip(found.iter_mut()) {
            if let (Ok(p), Some(i)) = (p, seen.get(*f as usize)) {
                if contact_of(p).is_some_and(|(by_id, name)| i.is(by_id, name)) {
                    std::hint::black_box(i.details.first().map(|d| d.at));
                } else {
                    // Another key with the same hash: the full lookup.
                    *f = self.find(p);
                }
            }
        }
    }

    /// The contact `p` names when it is already known, else [`NONE`].
    fn find(&self, p: &records::Prepared<'_>) -> u32 {
        let Some((by_id, name)) = contact_of(p) else {
            return NONE;
        };
        let hash = p.contact;
        let seen = &self.seen;
        self.index
            .find(hash, |&(h, i)| {
                h == hash && seen[i as usize].is(by_id, name)
            })
            .map_or(NONE, |&(_, i)| i)
    }
}

/// Files one record under its contact; `text` is its chunk's text and
/// `found` the contact when [`Input::look_up`] knew it.
fn add_record(input: &mut Input, p: records::Prepared<'_>, text: &str, found: u32) {
    let Some((by_id, name)) = contact_of(&p) else {
        return;
    };
    let at = p.at;
    let hash = p.contact;
    let seen = &mut input.seen;
    let i = match found {
        NONE => match input.index.entry(
            hash,
            |&(h, i)| h == hash && seen[i as usize].is(by_id, name),
            |&(h, _)| h,
        ) {
            Entry::Occupied(e) => e.get().1,
            Entry::Vacant(e) => {
                let i = seen.len() as u32;
                let prefix = if by_id { "id:" } else { "addr:" };
                seen.push(Seen {
                    key: [prefix, name].concat().into(),
                    email: None,
                    subscriber: None,
                    details: Vec::new(),
                });
                e.insert((hash, i));
                i
            }
        },
        i => i,
    };
    input.events.push(Ev {
        msg: p.msg,
        at,
        contact: i,
        category: p.category,
    });
    let s = &mut input.seen[i as usize];
    // The address is kept only when the key does not already spell it,
    // which it does for most contacts: memory is per contact.
    if let Some(r) = p.recipient.as_deref() {
        if s.key.strip_prefix("addr:") == Some(r) {
            s.email = None;
        } else if s.email.as_deref() != Some(r) {
            s.email = Some(r.into());
        }
    }
    if let Some(r) = p.subscriber.as_deref()
        && s.subscriber.as_deref() != Some(r)
    {
        s.subscriber = Some(r.into());
    }
    // Only categories with an action carry a detail.
    let Some(d) = p.detail else {
        return;
    };
    let pos = s.details.iter().position(|d| d.category == p.category);
    if pos.is_some_and(|p| s.details[p].at > at) {
        return;
    }
    let strings = &mut input.strings;
    let host = d
        .host
        .map_or(NONE, |h| strings.get(h.hash, h.value.get(text)));
    let diagnostic = d
        .diagnostic
        .map_or(NONE, |h| strings.get(h.hash, h.value.get(text)));
    let d = Detail {
        at,
        category: p.category,
        reason: p.reason,
        status: d.status.map_or(NONE, |h| strings.get(h.hash, &h.value)),
        rule: strings.get(d.rule.hash, &d.rule.value),
        host,
        diagnostic,
        evidence: d.evidence.map(|e| e.into()),
        new_address: d.new_address.map(|a| a.into()),
    };
    match pos {
        Some(p) => s.details[p] = d,
        None => {
            s.details.reserve_exact(1);
            s.details.push(d);
        }
    }
}

impl Seen {
    /// Whether this is the contact with subscriber id (or address) `name`.
    fn is(&self, by_id: bool, name: &str) -> bool {
        let prefix = if by_id { "id:" } else { "addr:" };
        self.key.strip_prefix(prefix) == Some(name)
    }
}

/// A threshold crossed: which contact, which of its details, what to do.
/// Kept small; the `Update` is built only when it is written.
struct Candidate {
    id: i64,
    contact: u32,
    detail: u32,
    action: Action,
    count: u32,
    first: i64,
    last: i64,
}

impl Candidate {
    fn detail<'i>(&self, input: &'i Input) -> &'i Detail {
        &input.seen[self.contact as usize].details[self.detail as usize]
    }

    fn update<'i>(&self, input: &'i Input) -> Update<'i> {
        let seen = &input.seen[self.contact as usize];
        let d = self.detail(input);
        let text = |i: u32| input.strings.str(i).map(Cow::Borrowed);
        Update {
            email: seen
                .email
                .as_deref()
                .or_else(|| seen.key.strip_prefix("addr:"))
                .map(Cow::Borrowed),
            action: self.action,
            category: d.category,
            reason: d.reason,
            status: text(d.status),
            count: self.count,
            first_seen: update::rfc3339(self.first).into(),
            last_seen: update::rfc3339(self.last).into(),
            subscriber: seen.subscriber.as_deref().map(Cow::Borrowed),
            new_email: if self.action == Action::ChangeAddress {
                d.new_address.as_deref().map(Cow::Borrowed)
            } else {
                None
            },
            rule: text(d.rule).unwrap_or_default(),
            evidence: d.evidence.as_deref().map(Cow::Borrowed),
        }
    }
}

/// Tells one contact's updates apart in the state: `block`,
/// `manual:challenge`, `change-address:NEW`.
fn ukey(action: Action, d: &Detail) -> String {
    match action {
        Action::Manual => format!("manual:{}", d.category),
        Action::ChangeAddress => {
            format!("change-address:{}", d.new_address.as_deref().unwrap_or(""))
        }
        a => a.as_str().to_string(),
    }
}

/// Whether `key` is `ukey(action, d)`, without building it.
fn is_ukey(key: &str, action: Action, d: &Detail) -> bool {
    match action {
        Action::Manual => key.strip_prefix("manual:") == Some(d.category.as_str()),
        Action::ChangeAddress => {
            key.strip_prefix("change-address:") == Some(d.new_address.as_deref().unwrap_or(""))
        }
        a => key == a.as_str(),
    }
}

/// Contacts handled per round trip to the state.
const CONTACT_CHUNK: usize = 4096;

/// Phase two: merge this input's events into the state, replay each
/// touched contact's history, and collect the thresholds newly crossed.
/// Contacts go to SQLite in chunks with set-based queries, so a run costs
/// a handful of statements per thousand contacts rather than several each.
/// The events and emitted updates of one chunk are written to SQLite while
/// the next chunk is replayed on another thread: chunks are disjoint sets
/// of contacts, so a chunk's writes never change what the next one reads.
/// Updates are recorded as emitted before the guard has seen them all; a
/// run the guard holds back is rolled back whole.
fn decide(
    policy: &Policy,
    store: &Store,
    now: i64,
    input: &mut Input,
    summary: &mut Summary,
) -> state::Result<Vec<Candidate>> {
    let mut events = std::mem::take(&mut input.events);
    let input: &Input = input;
    // The sort needs no state: it runs while SQLite resolves the contacts.
    let ids = std::thread::scope(|s| {
        let sorted = s.spawn(|| events.sort_unstable_by_key(|e| (e.contact, e.msg)));
        let ids = store.resolve_contacts(input.seen.iter().map(|s| &*s.key));
        if let Err(e) = sorted.join() {
            std::panic::resume_unwind(e);
        }
        ids
    })?;
    let mut work = Chunking {
        rules: Rules::new(policy),
        replay: Replay::new(),
        input,
        ids: &ids,
        candidates: Vec::new(),
        rows: Vec::new(),
        history: Vec::new(),
        fresh: Vec::new(),
        duplicates: 0,
        already_emitted: 0,
    };
    let mut known = Vec::new();
    let mut emitted = Vec::new();
    let mut pending: Vec<(i64, i64, Category, i64)> = Vec::new();
    let mut writing: Vec<(i64, i64, Category, i64)> = Vec::new();
    let mut rows = Vec::new();
    let mut rest: &[Ev] = &events;
    while !rest.is_empty() {
        let lo = rest[0].contact;
        let hi = lo.saturating_add(CONTACT_CHUNK as u32 - 1);
        let n = rest.partition_point(|e| e.contact <= hi);
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        store.known_events(lo, hi, &mut known)?;
        store.known_emitted(lo, hi, &mut emitted)?;
        std::mem::swap(&mut pending, &mut writing);
        std::mem::swap(&mut work.rows, &mut rows);
        let written = std::thread::scope(|s| {
            let (work, pending, known, emitted) = (&mut work, &mut pending, &known, &emitted);
            let replayed = s.spawn(move || work.chunk(chunk, known, emitted, pending));
            let written = store
                .insert_events(&mut writing)
                .and_then(|()| store.record_emitted(now, &rows));
            if let Err(e) = replayed.join() {
                std::panic::resume_unwind(e);
            }
            written
        });
        written?;
        rows.clear();
    }
    store.insert_events(&mut pending)?;
    store.record_emitted(now, &work.rows)?;
    summary.duplicates += work.duplicates;
    summary.already_emitted += work.already_emitted;
    Ok(work.candidates)
}

/// An update as the state records it: contact id, ukey, update.
type Row<'i> = (i64, String, Update<'i>);

/// The CPU half of [`decide`]: replays the contacts of one chunk.
struct Chunking<'a> {
    rules: Rules,
    replay: Replay,
    input: &'a Input,
    ids: &'a [i64],
    candidates: Vec<Candidate>,
    /// The last chunk's candidates, for the state.
    rows: Vec<Row<'a>>,
    history: Vec<(Category, i64)>,
    fresh: Vec<Category>,
    duplicates: u64,
    already_emitted: usize,
}

impl Chunking<'_> {
    /// Replays the contacts of `chunk` (events sorted by contact and
    /// message) against their `known` events and `emitted` updates; the
    /// events new to the state go to `pending`.
    fn chunk(
        &mut self,
        chunk: &[Ev],
        known: &[(u32, i64, Category, i64)],
        emitted: &[(u32, String)],
        pending: &mut Vec<(i64, i64, Category, i64)>,
    ) {
        let input = self.input;
        let (rules, replay) = (&self.rules, &mut self.replay);
        let (history, fresh, candidates) =
            (&mut self.history, &mut self.fresh, &mut self.candidates);
        let mut known_rest = known;
        for group in chunk.chunk_by(|a, b| a.contact == b.contact) {
            let contact = group[0].contact;
            let k = known_rest.partition_point(|r| r.0 < contact);
            let m = known_rest[k..].partition_point(|r| r.0 == contact);
            let mine_known = &known_rest[k..k + m];
            known_rest = &known_rest[k + m..];
            let id = self.ids[contact as usize];
            history.clear();
            history.extend(mine_known.iter().map(|&(_, _, c, at)| (c, at)));
            fresh.clear();
            let mut last_msg = None;
            for e in group {
                // Twice in this input, or already in the state: counted before.
                if last_msg == Some(e.msg)
                    || mine_known.binary_search_by_key(&e.msg, |r| r.1).is_ok()
                {
                    self.duplicates += 1;
                    continue;
                }
                last_msg = Some(e.msg);
                history.push((e.category, e.at));
                pending.push((id, e.msg, e.category, e.at));
                if !fresh.contains(&e.category) {
                    fresh.push(e.category);
                }
            }
            let seen = &input.seen[contact as usize];
            if fresh.is_empty() || seen.details.is_empty() {
                continue;
            }
            replay.run(rules, history);
            let first = candidates.len();
            for (di, d) in seen.details.iter().enumerate() {
                if !fresh.contains(&d.category) {
                    continue;
                }
                let st = replay.get(d.category);
                if !st.crossed {
                    continue;
                }
                let mut action = rules.action[d.category as usize];
                if action == Action::ChangeAddress && d.new_address.is_none() {
                    action = Action::Manual;
                }
                let key = ukey(action, d);
                let mine = &candidates[first..];
                if mine
                    .iter()
                    .any(|c: &Candidate| is_ukey(&key, c.action, c.detail(input)))
                {
                    continue;
                }
                let from = emitted.partition_point(|(c, _)| *c < contact);
                if emitted[from..]
                    .iter()
                    .take_while(|(c, _)| *c == contact)
                    .any(|(_, u)| *u == key)
                {
                    self.already_emitted += 1;
                    continue;
                }
                let c = Candidate {
                    id,
                    contact,
                    detail: di as u32,
                    action,
                    count: st.count,
                    first: st.first,
                    last: st.last,
                };
                self.rows.push((id, key, c.update(input)));
                candidates.push(c);
            }
            candidates[first..].sort_by_key(|c| c.action.rank());
        }
    }
}

const CATEGORIES: usize = Category::ALL.len();

/// The policy as arrays indexed by category, for the replay's inner loop.
struct Rules {
    action: [Action; CATEGORIES],
    threshold: [usize; CATEGORIES],
    /// Seconds; 0 means no window.
    window: [i64; CATEGORIES],
    resets: Vec<Vec<usize>>,
}

impl Rules {
    fn new(policy: &Policy) -> Rules {
        let mut r = Rules {
            action: [Action::None; CATEGORIES],
            threshold: [1; CATEGORIES],
            window: [0; CATEGORIES],
            resets: vec![Vec::new(); CATEGORIES],
        };
        for &c in Category::ALL {
            let p = policy.for_category(c);
            let i = c as usize;
            r.action[i] = p.action;
            r.threshold[i] = p.threshold as usize;
            r.window[i] = i64::from(p.window_days) * 86_400;
            r.resets[i] = p.resets.iter().map(|c| *c as usize).collect();
        }
        r
    }
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
    /// Dates since the last reset, in replay order.
    times: Vec<i64>,
}

/// Replays a contact's history in date order. Replaying, rather than
/// keeping counters, is what makes a `delivered` clear exactly the soft
/// bounces dated before it, and a window hold however the records arrive.
/// The buffers are reused from one contact to the next.
struct Replay {
    streaks: Vec<Streak>,
}

impl Replay {
    fn new() -> Replay {
        Replay {
            streaks: vec![Streak::default(); CATEGORIES],
        }
    }

    fn run(&mut self, rules: &Rules, events: &mut [(Category, i64)]) {
        for s in &mut self.streaks {
            s.clear();
        }
        // On the same second a reset goes last: it clears only what it follows.
        events.sort_unstable_by_key(|(c, at)| (*at, !rules.resets[*c as usize].is_empty()));
        for &(c, at) in events.iter() {
            let i = c as usize;
            for &r in &rules.resets[i] {
                self.streaks[r].clear();
            }
            if rules.action[i] == Action::None {
                continue;
            }
            let s = &mut self.streaks[i];
            if s.count == 0 {
                s.first = at;
            }
            s.count += 1;
            s.last = s.last.max(at);
            s.times.push(at);
            let t = rules.threshold[i];
            let n = s.times.len();
            if n >= t && (rules.window[i] == 0 || at - s.times[n - t] <= rules.window[i]) {
                s.crossed = true;
            }
        }
    }

    fn get(&self, c: Category) -> &Streak {
        &self.streaks[c as usize]
    }
}

impl Streak {
    fn clear(&mut self) {
        self.count = 0;
        self.first = 0;
        self.last = 0;
        self.crossed = false;
        self.times.clear();
    }
}
