//! bapply's command line: classification records in, contact updates out
//! (bapply(1)).

use crate::apply::{
    self, Dialect, Format, Limits, Options, Policy, PostgresLocation, Scope, StateLocation, Target,
};
use crate::exit::{ExitCode, Failure};
use anyhow::Context as _;
use clap::Parser;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Turn classification records (bclassify's JSON lines) into contact
/// updates: block, unsubscribe, delete, change address, or flag for a
/// person. Events are remembered per contact so that thresholds ("3 soft
/// bounces within 30 days") work across runs and nothing counts twice.
#[derive(Parser, Debug)]
#[command(
    name = "bapply",
    version,
    max_term_width = 100,
    after_help = "Shell completions: bapply --completions bash|zsh|fish prints a script and exits."
)]
pub struct Cli {
    /// Record files to read; `-` or none reads standard input.
    #[arg(value_name = "FILE")]
    files: Vec<String>,

    /// Output format: csv (with formula-like cells neutralised), jsonl, or
    /// sql (one transaction, see --dialect).
    #[arg(short, long, value_enum, default_value = "csv")]
    format: Format,

    /// SQL dialect for --format sql [default: the policy's [sql] dialect,
    /// sqlite].
    #[arg(long, value_enum)]
    dialect: Option<Dialect>,

    /// Apply the updates directly to a database in one transaction, instead
    /// of writing them: sqlite:PATH or postgres://USER@HOST/DB. Nothing is
    /// applied if any statement fails.
    #[arg(long, value_name = "TARGET")]
    apply: Option<String>,

    /// Policy file (TOML): actions, thresholds and windows per category,
    /// the guard, and the [sql] table and columns. Unset keys keep their
    /// defaults.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,

    /// Print the default policy (or the one given with --policy) and exit.
    #[arg(long)]
    print_policy: bool,

    /// State database: an SQLite file, or postgres://USER@HOST/DB (schema
    /// bapply, or ?schema=NAME) shared by several hosts [default:
    /// $XDG_STATE_HOME/bounce-tools/bapply.sqlite].
    #[arg(long, value_name = "PATH|URL", conflicts_with = "no_state")]
    state: Option<PathBuf>,

    /// Keep no state: count events only within this input.
    #[arg(long)]
    no_state: bool,

    /// Check the state database (SQLite integrity check, schema version,
    /// tables), print what it holds and exit: 0 when it is fine, 65 when
    /// it is damaged or from a newer bapply, 66 when it does not exist.
    /// Changes nothing.
    #[arg(long, conflicts_with_all = ["no_state", "print_policy", "apply", "files"])]
    check_state: bool,

    /// Write every update ever emitted (current states), not only the new
    /// ones.
    #[arg(long)]
    all: bool,

    /// Block, unsubscribe, delete or change an address only on records
    /// whose provenance is signed or known (bclassify --tag-key,
    /// --sent-log); the others become manual and are counted.
    #[arg(long)]
    require_provenance: bool,

    /// Apply even when the mass-damage guard fires.
    #[arg(long)]
    force: bool,

    /// Compute the updates from the state and the records and write them
    /// (with --apply: in --format, to standard output) with the guard's
    /// verdict; change neither the state nor the target. Exits 0 even when
    /// the guard would hold a real run back.
    #[arg(short = 'n', long)]
    dry_run: bool,

    /// Contacts on the list: the guard judges the share of a run against
    /// it rather than against the contacts the run saw [default: with
    /// --apply, the rows of the target's table].
    #[arg(long, value_name = "N")]
    list_size: Option<u64>,

    /// Warn about and count lines that are not valid records instead of
    /// stopping at the first one.
    #[arg(long)]
    skip_invalid: bool,

    /// Seconds to wait for a state or target database that another run
    /// holds locked (PostgreSQL: lock_timeout); then exit 75.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    lock_timeout: f64,

    /// No summary on standard error.
    #[arg(short, long)]
    quiet: bool,

    /// Events dated (the record's `date`, the bounce's Date) more than
    /// DAYS days before now never lead to an update; they are kept in the
    /// state but count toward no threshold. A record without a date is
    /// dated when bapply first reads it.
    #[arg(long, value_name = "DAYS")]
    max_age: Option<u32>,

    /// Addresses known to be alive (recent opens, clicks, logins), one a
    /// line; blank lines and # comments allowed, the domain compared
    /// lower-cased. Their counts in the state are reset before this run's
    /// records are counted (on every list under --scope list).
    #[arg(long, value_name = "FILE")]
    good: Option<PathBuf>,

    /// What a contact is: address (one per address, whatever the list),
    /// or list (one per List-Id and address, from the record's
    /// original.list_id: a complaint about one list unsubscribes from that
    /// list only; updates carry list_id; a record without a List-Id counts
    /// for every list).
    #[arg(long, value_enum, default_value = "address")]
    scope: Scope,
}

/// bapply's `main`: when the guard stops a run, its summary goes to
/// stderr before the one-line error.
pub fn main() -> ExitCode {
    super::drive(
        "bapply",
        ExitCode::Usage,
        |cli: Cli| run(cli).map(|()| ExitCode::Ok),
        |e| {
            let mut err = io::stderr().lock();
            if let Some(apply::Error::Guard(summary)) = e.downcast_ref::<apply::Error>() {
                for line in summary.lines() {
                    let _ = writeln!(err, "bapply: {line}");
                }
            }
            let _ = writeln!(err, "bapply: {}", one_line(e));
        },
    )
}

/// The error chain as one line. Library errors already name their cause;
/// a cause whose text is already there is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let policy = match &cli.policy {
        Some(p) => apply::load_policy(p)?,
        None => Policy::default(),
    };
    if cli.print_policy {
        let mut out = io::stdout().lock();
        out.write_all(policy.to_toml().as_bytes())?;
        out.flush()?;
        return Ok(());
    }
    if !(cli.lock_timeout >= 0.0 && cli.lock_timeout < 1e6) {
        let m = "--lock-timeout: give seconds, 0 or more";
        return Err(Failure::new(ExitCode::Usage, m).into());
    }
    let usage = |m: String| Failure::new(ExitCode::Usage, m);
    let state = match cli.state {
        Some(p) => match p.to_str().and_then(PostgresLocation::parse) {
            Some(pg) => Some(StateLocation::Postgres(pg.map_err(usage)?)),
            None => Some(StateLocation::Path(p)),
        },
        None => None,
    };
    if cli.check_state {
        let wait = Duration::from_secs_f64(cli.lock_timeout);
        let line = match state {
            Some(StateLocation::Postgres(pg)) => {
                let check = apply::check_state_postgres(&pg, wait)?;
                format!("state {}: {check}", pg.display())
            }
            other => {
                let path = match other {
                    Some(StateLocation::Path(p)) => p,
                    _ => apply::default_state_path().ok_or_else(|| {
                        let m = "no XDG state directory (HOME unset); give --state PATH";
                        Failure::new(ExitCode::Usage, m)
                    })?,
                };
                let check = apply::check_state(&path, wait)?;
                format!("state {}: {check}", path.display())
            }
        };
        let mut out = io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        return Ok(());
    }
    if cli.files.is_empty() && io::stdin().is_terminal() {
        let _ = writeln!(
            io::stderr(),
            "bapply: reading records from a terminal; give files or pipe records in (--help)"
        );
        return Err(Failure::new(ExitCode::Usage, "no input").into());
    }
    let apply_to = cli
        .apply
        .as_deref()
        .map(Target::parse)
        .transpose()
        .map_err(usage)?;
    if apply_to.is_some() && !cli.dry_run && (cli.format != Format::Csv || cli.dialect.is_some()) {
        return Err(
            usage("--apply writes no output; leave out --format and --dialect".into()).into(),
        );
    }
    let sql_out = apply_to.is_some() || cli.format == Format::Sql;
    if cli.scope == Scope::List && sql_out && policy.sql.list_column.is_empty() {
        let m = "--scope list writes SQL only with [sql] list_column in the policy \
                 (the column holding the List-Id); without it an update would change \
                 the address on every list";
        return Err(usage(m.into()).into());
    }
    let opts = Options {
        inputs: cli.files,
        format: cli.format,
        dialect: cli.dialect,
        apply: apply_to,
        policy,
        state: match (cli.no_state, state) {
            (true, _) => StateLocation::None,
            (false, Some(s)) => s,
            (false, None) => StateLocation::Default,
        },
        all: cli.all,
        force: cli.force,
        skip_invalid: cli.skip_invalid,
        lock_timeout: Duration::from_secs_f64(cli.lock_timeout),
        dry_run: cli.dry_run,
        list_size: cli.list_size,
        limits: Limits {
            max_age_days: cli.max_age,
            good: cli.good,
            scope: cli.scope,
        },
        require_provenance: cli.require_provenance,
    };
    let stdout = io::stdout();
    // Block-buffered: updates are written in one go at the end of a run.
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut warn = |m: &str| {
        let _ = writeln!(io::stderr(), "bapply: {m}");
    };
    // A spinner on a terminal only, for runs long enough to wonder about
    // (it first draws after a second); cleared before the summary.
    let spinner = (!cli.quiet && io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} bapply: {msg} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(if opts.dry_run {
            "reading records and deciding (dry run)"
        } else {
            "reading records, deciding and writing"
        });
        bar.enable_steady_tick(Duration::from_secs(1));
        bar
    });
    let summary = apply::run(&opts, &mut io::stdin(), &mut out, &mut warn);
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    let summary = summary?;
    out.flush().context("stdout")?;
    if !cli.quiet {
        let mut err = io::stderr().lock();
        for line in summary.lines() {
            writeln!(err, "bapply: {line}")?;
        }
    }
    Ok(())
}
