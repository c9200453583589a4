//! breport's command line: classification records in, a summary of what
//! came back out (breport(1)).

use crate::exit::{ExitCode, Failure};
use crate::report::{self, Alert, DayRange, Limits, Options, text};
use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

/// Summarise classification records (bclassify's JSON lines): counts by
/// category and reason, the share of failures that are the sender's
/// problem (blocked), the receiving domains with most failures, per day,
/// and the most frequent diagnostics with addresses masked.
#[derive(Parser, Debug)]
#[command(
    name = "breport",
    version,
    max_term_width = 100,
    after_help = "Exit status: 0, or 1 when an --alert fired; 64 usage, 65 a bad record, 66 a missing input, 74 I/O.\n\
Shell completions: breport --completions bash|zsh|fish prints a script and exits."
)]
pub struct Cli {
    /// Record files to read; `-` or none reads standard input.
    #[arg(value_name = "FILE")]
    files: Vec<String>,

    /// Write the figures as one JSON object instead of the tables.
    #[arg(long, conflicts_with = "by")]
    json: bool,

    /// Also write the report as one self-contained HTML page (inline CSS
    /// and SVG charts, no scripts, no fetches) to FILE; `-` writes the page
    /// to standard output instead of the tables.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,

    /// Print one table alone.
    #[arg(long, value_enum, value_name = "TABLE")]
    by: Option<By>,

    /// Only records dated on or after this day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DAY")]
    since: Option<String>,

    /// Only records dated on or before this day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DAY")]
    until: Option<String>,

    /// Failures a receiving domain needs to be shown or alerted on, so
    /// that one message is not a trend.
    #[arg(long, value_name = "N", default_value_t = 5)]
    min_count: u64,

    /// Rows of the domain and diagnostic tables.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,

    /// Exit 1, with one line on standard error, when a threshold is
    /// crossed: CATEGORY>N% (share of all records), CATEGORY>N (a count),
    /// `failures` for every failure category, and `domain:` before either
    /// for any receiving domain past --min-count (e.g. blocked>10%,
    /// complaint>0.1%, hard>5%, domain:blocked>30%). Repeatable.
    #[arg(long, value_name = "EXPR")]
    alert: Vec<String>,

    /// Colour the tables: auto (when standard output is a terminal),
    /// always, never.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum By {
    Domain,
    Day,
    Reason,
    Category,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

pub fn main() -> ExitCode {
    super::drive("breport", ExitCode::Usage, run, |e| {
        let _ = writeln!(io::stderr(), "breport: {e:#}");
    })
}

fn day(flag: &str, value: &Option<String>) -> Result<Option<i64>, Failure> {
    value
        .as_deref()
        .map(|v| {
            report::parse_day(v).ok_or_else(|| {
                Failure::new(
                    ExitCode::Usage,
                    format!("{flag} {v:?}: give a day as YYYY-MM-DD"),
                )
            })
        })
        .transpose()
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let alerts = cli
        .alert
        .iter()
        .map(|a| a.parse::<Alert>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::new(ExitCode::Usage, e))?;
    let range = DayRange {
        since: day("--since", &cli.since)?,
        until: day("--until", &cli.until)?,
    };
    if cli.files.is_empty() && io::stdin().is_terminal() {
        return Err(Failure::new(
            ExitCode::Usage,
            "reading records from a terminal; give files or pipe records in (--help)",
        )
        .into());
    }
    let opts = Options {
        inputs: cli.files,
        range,
        limits: Limits {
            min_count: cli.min_count,
            top: cli.top,
        },
        alerts,
    };
    let summary = report::summarise(&opts, &mut io::stdin())?;
    // `--html -`: the page is the output.
    let page_only = cli.html.as_deref() == Some(std::path::Path::new("-"));
    if let Some(path) = &cli.html {
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
        let page = report::html::render(&summary, &now)?;
        write_file(path, page.as_bytes()).map_err(|source| report::Error::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    let stdout = io::stdout();
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut out = io::BufWriter::new(stdout.lock());
    let section = match cli.by {
        None => text::Section::All,
        Some(By::Domain) => text::Section::Domain,
        Some(By::Day) => text::Section::Day,
        Some(By::Reason) => text::Section::Reason,
        Some(By::Category) => text::Section::Category,
    };
    if cli.json && !page_only {
        serde_json::to_writer_pretty(&mut out, &summary).context("stdout")?;
        writeln!(out).context("stdout")?;
    } else if !page_only {
        text::write(&mut out, &summary, section, text::Style { color }).context("stdout")?;
    }
    out.flush().context("stdout")?;
    let mut fired = false;
    let mut err = io::stderr().lock();
    for a in summary.alerts.iter().filter(|a| a.fired) {
        fired = true;
        writeln!(err, "breport: {}", text::printable(&a.message()))?;
    }
    Ok(if fired {
        ExitCode::NotBounce
    } else {
        ExitCode::Ok
    })
}

/// Writes `bytes` to `path` through a temporary file beside it, so that a
/// reader never sees half a page.
fn write_file(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    if path == std::path::Path::new("-") {
        let mut out = io::stdout().lock();
        out.write_all(bytes)?;
        return out.flush();
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
