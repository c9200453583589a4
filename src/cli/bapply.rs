//! bapply's command line: classification records in, contact updates out
//! (bapply(1)).

use crate::apply::{self, Dialect, Format, Options, Policy, StateLocation, Target};
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

    /// State database (SQLite) [default:
    /// $XDG_STATE_HOME/bounce-tools/bapply.sqlite].
    #[arg(long, value_name = "PATH", conflicts_with = "no_state")]
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
    /// holds locked; then exit 75.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    lock_timeout: f64,

    /// No summary on standard error.
    #[arg(short, long)]
    quiet: bool,
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
    if cli.check_state {
        let path = match cli.state {
            Some(p) => p,
            None => apply::default_state_path().ok_or_else(|| {
                let m = "no XDG state directory (HOME unset); give --state PATH";
                Failure::new(ExitCode::Usage, m)
            })?,
        };
        let check = apply::check_state(&path, Duration::from_secs_f64(cli.lock_timeout))?;
        let mut out = io::stdout().lock();
        writeln!(out, "state {}: {check}", path.display())?;
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
    let usage = |m: String| Failure::new(ExitCode::Usage, m);
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
    let opts = Options {
        inputs: cli.files,
        format: cli.format,
        dialect: cli.dialect,
        apply: apply_to,
        policy,
        state: match (cli.no_state, cli.state) {
            (true, _) => StateLocation::None,
            (false, Some(p)) => StateLocation::Path(p),
            (false, None) => StateLocation::Default,
        },
        all: cli.all,
        force: cli.force,
        skip_invalid: cli.skip_invalid,
        lock_timeout: Duration::from_secs_f64(cli.lock_timeout),
        dry_run: cli.dry_run,
        list_size: cli.list_size,
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
