//! bclassify's command line: a message stream in, one JSON record per
//! affected address out (bclassify(1)).

use crate::classify::ProvenanceCheck;
use crate::classify::batch::{self, MaildirSink, MboxSink, Output, UnmatchedSink};
use crate::classify::rules::{BUILTIN_RULES, RuleSet};
use crate::classify::{Classifier, Options as ClassifyOptions};
use crate::exit::{ExitCode, Failure};
use crate::stream::{self, Format, Messages};
use crate::tag;
use anyhow::Context;
use clap::Parser;
use std::collections::HashSet;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// Classify bounce messages into JSON records, one per affected address.
///
/// Reads mbox (mboxo/mboxrd; LF, CRLF or CR), NDJSON from bfetch, Maildir
/// folders, .eml files, or ONE message on stdin (procmail, maildrop,
/// formail -s). Writes JSON Lines as described in bounce-tools(7).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, after_help = "Exit status: 0 ok; 1 (-q only) not a bounce or notice; 64 usage; 65 bad input data; 66 input missing; 74 I/O error; 75 temporary failure (--hook: any failure); 78 bad rule file or tag key.\nShell completions: bclassify --completions bash|zsh|fish prints a script and exits.\nSee bclassify(1) and bounce-tools(7).")]
pub struct Args {
    /// Files, Maildir folders or `-` (stdin); none means stdin.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Input format instead of detecting it: auto, mbox, ndjson, eml,
    /// maildir, events (ESP webhook JSON), reply (ADDRESS<TAB>SMTP reply
    /// lines), maillog (Postfix, Exim, Sendmail logs; PowerMTA CSV).
    #[arg(long = "input", value_name = "FORMAT", default_value = "auto")]
    format: Format,

    /// TOML rule file, tried before the built-in rules (or instead of them
    /// when it says `replace = true`). Repeatable.
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,

    /// Write the built-in rules in the rule-file format and exit.
    #[arg(long)]
    print_rules: bool,

    /// No output; exit 0 when the input is a bounce or notice, 1 when not.
    #[arg(short, long)]
    quiet: bool,

    /// procmail/maildrop mode: any failure, a panic included, exits 75 so
    /// the MTA keeps the message and retries.
    #[arg(long)]
    hook: bool,

    /// The review mailbox: messages that need a person (unknown,
    /// undetermined, challenge, subscribe, address-change without the new
    /// address) are delivered there: a Maildir when it is a folder or ends
    /// with `/`, else appended to an mbox file. With --hook, a failed
    /// delivery exits 75.
    #[arg(long, value_name = "MAILBOX")]
    unmatched: Option<PathBuf>,

    /// Header of the returned message that carries the subscriber id.
    #[arg(long, value_name = "NAME", default_value = "X-Subscriber-Id")]
    subscriber_header: String,

    /// Key file of btag(1): verify the tag in the address each bounce came
    /// back to and set `provenance` (signed or unverified); a valid tag
    /// also gives the recipient when the report names none.
    #[arg(long, value_name = "FILE")]
    tag_key: Option<PathBuf>,

    /// Days a tag stays valid, for --tag-key.
    #[arg(long, value_name = "N", default_value_t = tag::DEFAULT_MAX_AGE)]
    tag_max_age: u32,

    /// File of the Message-IDs of the mail you sent, one a line: a bounce
    /// whose returned original names one is `known`.
    #[arg(long, value_name = "FILE")]
    sent_log: Option<PathBuf>,

    /// Worker threads (default: number of CPUs).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,

    /// Longest message kept whole; longer ones are cut with a warning.
    #[arg(long, value_name = "BYTES", default_value_t = stream::DEFAULT_MAX_MESSAGE_BYTES)]
    max_message_size: usize,

    /// No progress display on stderr, even on a terminal.
    #[arg(long)]
    no_progress: bool,
}

/// bclassify's `main`. In hook mode (procmail, maildrop) every failure, a
/// panic included, exits 75 so that the MTA keeps the message and retries
/// rather than bouncing a bounce.
pub fn main() -> ExitCode {
    let hook = std::env::args_os().any(|a| a == "--hook");
    // One line, not a backtrace: a message that trips a bug is still
    // classified (as unknown, rule internal-error) and the run goes on.
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("bclassify: internal error: {info}");
        if hook {
            std::process::exit(ExitCode::TempFail.code());
        }
    }));
    let parse_error_code = if hook {
        ExitCode::TempFail
    } else {
        ExitCode::Usage
    };
    let code = super::drive(
        "bclassify",
        parse_error_code,
        |args: Args| run(&args),
        |e| eprintln!("bclassify: {e:#}"),
    );
    if hook && !matches!(code, ExitCode::Ok | ExitCode::NotBounce) {
        return ExitCode::TempFail;
    }
    code
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.print_rules {
        let mut out = io::stdout().lock();
        out.write_all(BUILTIN_RULES.as_bytes())?;
        out.flush()?;
        return Ok(ExitCode::Ok);
    }
    if args.inputs.is_empty() && io::stdin().is_terminal() {
        return Err(Failure::new(
            ExitCode::Usage,
            "no input: give files or folders, or pipe a message or mbox to stdin (see --help)",
        )
        .into());
    }
    let mut rule_files = Vec::new();
    for path in &args.rules {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(ExitCode::Config, format!("{}: {e}", path.display())))?;
        rule_files.push((path.display().to_string(), text));
    }
    let rules = RuleSet::load(&rule_files)?;
    let classifier = Classifier::new(
        rules,
        ClassifyOptions {
            subscriber_header: args.subscriber_header.clone(),
            provenance: provenance_check(args)?.map(Arc::new),
        },
    );
    let workers = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let messages = Messages::new(
        &args.inputs,
        stream::Options {
            format: args.format,
            max_message_bytes: args.max_message_size.max(1024),
        },
    );

    let mut unmatched_file: Option<Box<dyn UnmatchedSink>> = match &args.unmatched {
        Some(path) if stream::maildir_writer::is_maildir_path(path) => {
            Some(Box::new(MaildirSink(path.clone())))
        }
        Some(path) => Some(Box::new(MboxSink(io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("{}: cannot open for appending", path.display()))?,
        )))),
        None => None,
    };
    let unmatched = unmatched_file
        .as_mut()
        .map(|s| &mut **s as &mut dyn UnmatchedSink);

    let bar = progress_bar(args);
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let mut report_error = |msg: &str| {
        let line = format!("bclassify: {msg}");
        match &bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    };

    let stdout = io::stdout();
    // Line-buffered on a terminal so records show as they come; block
    // buffered into a pipe or file.
    let mut writer: Box<dyn Write> = if stdout.is_terminal() {
        Box::new(io::LineWriter::new(stdout.lock()))
    } else {
        Box::new(io::BufWriter::with_capacity(256 << 10, stdout.lock()))
    };
    let output = if args.quiet {
        Output::Quiet
    } else {
        Output::Records(&mut writer)
    };
    let summary = batch::run(
        &classifier,
        messages,
        output,
        unmatched,
        &mut report_error,
        &tick,
        workers,
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(code) = summary.failure {
        return Ok(code);
    }
    if args.quiet && summary.notices == 0 {
        return Ok(ExitCode::NotBounce);
    }
    Ok(ExitCode::Ok)
}

/// What `--tag-key` and `--sent-log` ask to check; None for neither.
fn provenance_check(args: &Args) -> anyhow::Result<Option<ProvenanceCheck>> {
    if args.tag_key.is_none() && args.sent_log.is_none() {
        return Ok(None);
    }
    if args.tag_max_age > tag::MAX_AGE_LIMIT {
        let m = format!("--tag-max-age: at most {}", tag::MAX_AGE_LIMIT);
        return Err(Failure::new(ExitCode::Usage, m).into());
    }
    let keys = args
        .tag_key
        .as_deref()
        .map(super::btag::load_keys)
        .transpose()?;
    let sent = match &args.sent_log {
        None => None,
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
            let text = String::from_utf8_lossy(&text);
            let ids: HashSet<String> = text
                .lines()
                .map(ProvenanceCheck::log_id)
                .filter(|id| !id.is_empty())
                .map(str::to_string)
                .collect();
            Some(ids)
        }
    };
    Ok(Some(ProvenanceCheck {
        keys,
        max_age_days: args.tag_max_age,
        today: tag::today(),
        sent,
    }))
}

fn progress_bar(args: &Args) -> Option<indicatif::ProgressBar> {
    if args.no_progress || args.quiet || args.hook || !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} messages ({per_sec}, {elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}
