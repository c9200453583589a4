//! btag's command line: sign a subscriber address into a return path,
//! check one, make a key (btag(1)).

use crate::exit::{ExitCode, Failure};
use crate::paths::{self, Purpose};
use crate::tag::{self, Keys, Verdict};
use clap::{Parser, Subcommand};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};

/// Signed return paths: a VERP address that carries the subscriber, a day
/// stamp and an HMAC tag, so that bclassify --tag-key can tell a bounce of
/// your own mail from a forged one.
#[derive(Parser, Debug)]
#[command(
    name = "btag",
    version,
    max_term_width = 100,
    after_help = "Exit status: 0 ok; 64 usage; 65 an address that is not valid (verify: not a tag, altered, expired); 66 input missing; 74 I/O error; 78 no key, or a key too short.\n\
Shell completions: btag --completions bash|zsh|fish prints a script and exits.\nSee btag(1) and bounce-tools(7), PROVENANCE."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the signed return path for each ADDRESS (one a line; none
    /// reads addresses from standard input, one a line).
    Sign {
        #[command(flatten)]
        key: KeyArg,
        /// The plain bounce address to sign from, e.g. bounces@list.example.
        #[arg(long, value_name = "ADDRESS")]
        return_path: String,
        /// Character between the bounce address's local part and the tag:
        /// the recipient delimiter of the MTA that receives the bounces.
        #[arg(long, value_name = "CHAR", default_value = "+", value_parser = ["+", "-"])]
        delimiter: String,
        /// Sign as of this day (YYYY-MM-DD, UTC) instead of today.
        #[arg(long, value_name = "DAY")]
        date: Option<String>,
        /// Subscriber addresses.
        #[arg(value_name = "ADDRESS")]
        addresses: Vec<String>,
    },
    /// Check a signed return path: print the address it carries and exit 0
    /// when the tag is ours and not expired; else one line on standard
    /// error (not a tag, altered, expired) and exit 65.
    Verify {
        #[command(flatten)]
        key: KeyArg,
        /// Days a tag stays valid.
        #[arg(long, value_name = "N", default_value_t = tag::DEFAULT_MAX_AGE)]
        max_age_days: u32,
        /// The address a bounce came back to.
        #[arg(value_name = "ADDRESS")]
        address: String,
    },
    /// Print a new random key (32 octets as 64 hex digits) for a key file.
    Keygen,
}

#[derive(clap::Args, Debug)]
struct KeyArg {
    /// Key file: one key a line (at least 16 octets, used as written);
    /// the first signs, every one verifies [default:
    /// $XDG_CONFIG_HOME/bounce-tools/btag.key].
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

/// btag's `main`.
pub fn main() -> ExitCode {
    super::drive(
        "btag",
        ExitCode::Usage,
        |cli: Cli| run(cli),
        |e| eprintln!("btag: {e:#}"),
    )
}

/// The key file given, or the default one.
fn key_path(arg: &KeyArg) -> anyhow::Result<PathBuf> {
    match &arg.key_file {
        Some(p) => Ok(p.clone()),
        None => paths::default_file(Purpose::Config, "btag.key").map_err(|e| {
            Failure::new(ExitCode::Config, format!("{e}; give --key-file FILE")).into()
        }),
    }
}

/// Reads the keys of a key file; every problem is a configuration error.
pub fn load_keys(path: &Path) -> anyhow::Result<Keys> {
    let config = |m: String| Failure::new(ExitCode::Config, format!("{}: {m}", path.display()));
    let text = std::fs::read(path).map_err(|e| config(e.to_string()))?;
    Keys::parse(&text).map_err(|e| config(e.to_string()).into())
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    match cli.command {
        Command::Keygen => {
            let mut key = [0u8; 32];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut key))
                .map_err(|e| Failure::new(ExitCode::IoErr, format!("/dev/urandom: {e}")))?;
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            writeln!(out, "{hex}")?;
        }
        Command::Sign {
            key,
            return_path,
            delimiter,
            date,
            addresses,
        } => {
            let keys = load_keys(&key_path(&key)?)?;
            let day = match date {
                None => tag::today(),
                Some(d) => day_of(&d)?,
            };
            let delimiter = delimiter.chars().next().unwrap_or('+');
            let sign_one = |address: &str, out: &mut dyn Write| -> anyhow::Result<()> {
                let signed = tag::sign(&keys, &return_path, address, day, delimiter)?;
                if signed.local_len > tag::MAX_LOCAL_PART {
                    eprintln!(
                        "btag: warning: {address}: the local part is {} octets, over the {} \
                         RFC 5321 promises (most MTAs take it; a shorter --return-path helps)",
                        signed.local_len,
                        tag::MAX_LOCAL_PART
                    );
                }
                writeln!(out, "{}", signed.address)?;
                Ok(())
            };
            if addresses.is_empty() {
                for (n, line) in io::stdin().lock().lines().enumerate() {
                    let line = line.map_err(|e| {
                        Failure::new(ExitCode::IoErr, format!("standard input: {e}"))
                    })?;
                    let address = line.trim();
                    if address.is_empty() {
                        continue;
                    }
                    sign_one(address, &mut out)
                        .map_err(|e| e.context(format!("standard input: line {}", n + 1)))?;
                }
            } else {
                for address in &addresses {
                    sign_one(address, &mut out)?;
                }
            }
        }
        Command::Verify {
            key,
            max_age_days,
            address,
        } => {
            if max_age_days > tag::MAX_AGE_LIMIT {
                let m = format!("--max-age-days: at most {}", tag::MAX_AGE_LIMIT);
                return Err(Failure::new(ExitCode::Usage, m).into());
            }
            let keys = load_keys(&key_path(&key)?)?;
            match tag::verify(&keys, &address, tag::today(), max_age_days) {
                Verdict::Valid { subscriber, .. } => writeln!(out, "{subscriber}")?,
                verdict => {
                    let m = format!("{}: {}", address.trim(), verdict.reason());
                    return Err(Failure::new(ExitCode::DataErr, m).into());
                }
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` day.
fn day_of(text: &str) -> anyhow::Result<u32> {
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| Failure::new(ExitCode::Usage, format!("--date {text:?}: {e}")))?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid day");
    u32::try_from((date - epoch).num_days())
        .map_err(|_| Failure::new(ExitCode::Usage, format!("--date {text:?}: before 1970")).into())
}
