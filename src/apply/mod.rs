//! bapply: classification records (bounce-tools(7), RECORD FORMAT) in,
//! contact updates out (bapply(1)).
//!
//! This is the stage that changes a contact list, so it is the careful one.
//! A run follows the pipeline, one module per stage:
//!
//! 1. [`ingest`]: read the records, on all cores, into the run's contacts
//!    and events.
//! 2. [`decide`]: merge the events into the [`state`] (deduplicated, so
//!    that re-reading a mailbox counts nothing twice), replay each touched
//!    contact's history under the [`policy`], and collect the thresholds
//!    newly crossed: an update goes out once, when a contact crosses.
//! 3. [`guard`]: refuse a run that looks like an outage or a block of the
//!    sender rather than dead addresses.
//! 4. [`emit`]: write CSV, JSON Lines or SQL, or apply the updates to a
//!    database in one transaction.
//! 5. [`summary`]: what the run saw and did, for stderr.
//!
//! A run either happens completely (state, output, target) or leaves no
//! trace.

mod action;
mod check;
mod decide;
mod diagnostic;
mod emit;
mod error;
mod guard;
mod ingest;
mod limits;
mod policy;
mod postgres_error;
mod printable;
mod schema;
mod state;
mod state_backend;
mod state_error;
mod state_limits;
mod state_postgres;
mod state_postgres_limits;
mod state_sqlite;
mod summary;
mod update;

pub use check::{StateCheck, check_state, check_state_postgres};
pub use emit::{Applied, Format, Target, TargetError};
pub use error::Error;
pub use guard::{Cluster, Report};
pub use ingest::IngestError;
#[doc(hidden)]
pub use ingest::fuzz_line as fuzz_record_line;
pub use limits::{Limits, Scope};
pub use policy::{Dialect, Policy};
pub use state::{PostgresLocation, StateError};
pub use summary::{GoodCounts, Summary};

use crate::paths::{self, Purpose};
use emit::{EmitOptions, Emitted};
use guard::GuardItem;
use ingest::{IngestCounts, IngestOptions, Ingested};
use state::{Location, Store};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use update::Update;

#[derive(Debug, Clone)]
pub enum StateLocation {
    /// Under the XDG state directory.
    Default,
    Path(PathBuf),
    /// `--state postgres://…`: shared by the hosts that name it.
    Postgres(PostgresLocation),
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
    /// `--dry-run`: write the updates (in `format`, also with `apply`) and
    /// the guard's verdict; change neither the state nor the target.
    pub dry_run: bool,
    /// `--list-size`: the contacts on the list, for the guard's share;
    /// counted in the `apply` target's table when not given.
    pub list_size: Option<u64>,
    /// `--max-age`, `--good`, `--scope` (bapply(1), POLICY LIMITS).
    pub limits: Limits,
    /// `--require-provenance`: destructive updates only for records whose
    /// provenance is `signed` or `known`; the others become `manual`.
    pub require_provenance: bool,
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

/// A run: read, decide, guard, write or apply, commit.
pub fn run<W: Write>(
    opts: &Options,
    stdin: &mut (dyn Read + Send),
    out: &mut W,
    warn: &mut dyn FnMut(&str),
) -> Result<Summary, Error> {
    let (state_path, state_name) = match &opts.state {
        StateLocation::None => (None, ":memory:".to_string()),
        StateLocation::Path(p) => (Some(p.clone()), p.display().to_string()),
        StateLocation::Postgres(pg) => (None, pg.display().to_string()),
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
    let location = match (&opts.state, &state_path) {
        (StateLocation::Postgres(pg), _) => Location::Postgres(pg),
        (_, Some(p)) => Location::Sqlite(p),
        (_, None) => Location::Memory,
    };
    let mut store = Store::open(location, opts.lock_timeout).map_err(state_err)?;
    // An update counts as emitted only where it went: a review written to
    // a file never makes a later --apply skip it.
    store.set_destination(match &opts.apply {
        Some(t) => format!("target:{}", t.identity()),
        None => "output".into(),
    });
    let mut input = Ingested::default();
    match run_stages(opts, &store, &mut input, stdin, out, warn, &state_err) {
        Ok(summary) if opts.dry_run => {
            store.rollback();
            Ok(summary)
        }
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

/// The stages of a run, in the state's transaction.
fn run_stages<W: Write>(
    opts: &Options,
    store: &Store,
    input: &mut Ingested,
    stdin: &mut (dyn Read + Send),
    out: &mut W,
    warn: &mut dyn FnMut(&str),
    state_err: &dyn Fn(StateError) -> Error,
) -> Result<Summary, Error> {
    let policy = &opts.policy;
    let now = chrono::Utc::now().timestamp();
    let mut summary = Summary::default();

    // 1. Ingest.
    let ingest_opts = IngestOptions {
        inputs: &opts.inputs,
        policy,
        skip_invalid: opts.skip_invalid,
        now,
        scope_list: opts.limits.scope == Scope::List,
        require_provenance: opts.require_provenance,
    };
    let mut counts = IngestCounts::default();
    let ingested = ingest::ingest(&ingest_opts, stdin, &mut counts, warn, input);
    summary.records = counts.records;
    summary.invalid = counts.invalid;
    summary.unattributed = counts.unattributed;
    summary.placeholders = counts.placeholders;
    ingested?;
    summary.addresses = input.contacts.len();

    // 2. Decide: --good resets first, so that this input's events count.
    if let Some(path) = &opts.limits.good {
        summary.good = Some(limits::apply_good(path, now, store, state_err)?);
    }
    let cutoff = opts.limits.cutoff(now);
    let decided = decide::decide(policy, store, now, cutoff, input).map_err(state_err)?;
    summary.too_old = decided.too_old;
    summary.duplicates += decided.duplicates;
    summary.already_emitted += decided.already_emitted;
    summary.unverified = decided.unverified;
    let candidates = decided.candidates;
    let input: &Ingested = input;

    // 3. Guard, against the list size when known.
    let list_size = match (opts.list_size, &opts.apply) {
        (Some(n), _) => Some(n as usize),
        (None, Some(target)) => match target.count_rows(&policy.sql, opts.lock_timeout) {
            Ok(n) => Some(n as usize),
            Err(e) => {
                warn(&format!("{e}; the guard judges by the contacts seen"));
                None
            }
        },
        (None, None) => None,
    };
    let report = guard::check(
        &policy.guard,
        summary.addresses,
        list_size,
        candidates.iter().map(|c| {
            let d = c.detail(input);
            GuardItem {
                contact_id: c.contact_id,
                action: c.action,
                host: input.strings.get(d.host),
                diagnostic: input.strings.get(d.diagnostic),
            }
        }),
        opts.force,
    );
    let fired = report.fired;
    summary.guard = report;
    summary.dry_run = opts.dry_run;
    if fired && !opts.force && !opts.dry_run {
        return Err(Error::Guard(Box::new(summary)));
    }
    for c in &candidates {
        summary.count_update(c.action, || {
            let u = c.update(input);
            u.email.or(u.subscriber).unwrap_or_default().into_owned()
        });
    }

    // 4. Emit: this run's updates, or with --all every update ever
    // emitted, read back from the state page by page.
    summary.all = opts.all;
    let mut all = opts.all.then(|| store.all_emitted());
    let mut updates: Box<dyn Iterator<Item = Update<'_>> + '_> = match all.as_mut() {
        Some(all) => Box::new(all.map(Update::borrowed)),
        None => Box::new(candidates.iter().map(|c| c.update(input))),
    };
    let mut written = 0;
    let mut counted = updates.by_ref().inspect(|_| written += 1);
    let emit_opts = EmitOptions {
        format: opts.format,
        dialect: opts.dialect,
        apply: opts.apply.as_ref().filter(|_| !opts.dry_run),
        sql: &policy.sql,
        lock_timeout: opts.lock_timeout,
        scope_list: opts.limits.scope == Scope::List,
    };
    let mut emitted = Emitted::default();
    let result = emit::emit(&emit_opts, &mut counted, out, &mut emitted);
    drop(updates);
    if let Some(e) = all.as_mut().and_then(|a| a.take_error()) {
        return Err(state_err(e));
    }
    result?;

    // 5. Summary.
    summary.sql_skipped = emitted.sql_skipped;
    summary.nul_replaced = emitted.nul_replaced;
    summary.applied = emitted.applied;
    summary.written = written;
    Ok(summary)
}
