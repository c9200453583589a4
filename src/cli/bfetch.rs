//! bfetch's command line: an IMAP mailbox to a message stream, and `ack`
//! for what was handled (bfetch(1)).

use crate::exit::ExitCode;
use crate::imap::ack::{self, AckOptions};
use crate::imap::config::{self, Account, AccountFile, AuthMech, ConfigFile, Secret, TlsMode};
use crate::imap::fetch::{self, FetchOptions, Fetcher, UidvalidityPolicy};
use crate::imap::output::Format;
use crate::imap::{Error, Kind};
use clap::{Args, Parser, Subcommand};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
The password never goes on the command line: use --password-command, \
--password-file, or the BFETCH_PASSWORD environment variable; for OAuth2 \
use --oauth2-token-command.

Shell completions:
  --completions bash|zsh|fish   print a completion script and exit

Exit status: 0 ok, 64 usage, 65 UIDVALIDITY changed or bad ack input, \
69 server unreachable or not speaking IMAP as needed, 74 I/O error, \
75 temporary failure (timeout, connection lost), 77 authentication refused, \
78 configuration error (including an untrusted certificate).

Examples:
  bfetch --host imap.example.com --user bounces@example.com \\
         --password-command 'pass show mail/bounces' --new > batch.ndjson
  bfetch --account bounces --new | bclassify | bapply --format csv
  bfetch ack --account bounces --move Processed < events.jsonl";

/// Fetch a bounce mailbox over IMAP as NDJSON or mbox, read-only; `bfetch
/// ack` changes the mailbox afterwards.
#[derive(Debug, Parser)]
#[command(name = "bfetch", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mark seen, flag, move or delete the messages named in bclassify
    /// records or bfetch NDJSON (read from files or stdin).
    Ack(AckArgs),
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnArgs {
    /// Read accounts from this TOML file [default: $XDG_CONFIG_HOME/bounce-tools/bfetch.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use the account [account.NAME] of the config file
    #[arg(long, global = true, value_name = "NAME")]
    pub account: Option<String>,
    /// IMAP server host name
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Server port [default: 993 with implicit TLS, else 143]
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// How to secure the connection [default: implicit]
    #[arg(long, global = true, value_enum, value_name = "MODE")]
    pub tls: Option<TlsMode>,
    /// Allow --tls none to send the password unencrypted
    #[arg(long, global = true)]
    pub insecure_plaintext: bool,
    /// Trust the certificates in this PEM file (a self-signed server certificate or a private CA)
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Login name
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// Authentication mechanism [default: auto]
    #[arg(long, global = true, value_enum, value_name = "MECH")]
    pub auth: Option<AuthMech>,
    /// Run this shell command and use its first output line as the password
    #[arg(long, global = true, value_name = "CMD", group = "secret")]
    pub password_command: Option<String>,
    /// Read the password from this file
    #[arg(long, global = true, value_name = "FILE", group = "secret")]
    pub password_file: Option<PathBuf>,
    /// Run this shell command at each connect for an OAuth2 access token (XOAUTH2/OAUTHBEARER)
    #[arg(long, global = true, value_name = "CMD", group = "secret")]
    pub oauth2_token_command: Option<String>,
    /// Seconds to wait for the TCP connection [default: 30]
    #[arg(long, global = true, value_name = "SECS")]
    pub connect_timeout: Option<u64>,
    /// Seconds to wait for any answer from the server [default: 120]
    #[arg(long, global = true, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Print the IMAP conversation on stderr, credentials redacted
    #[arg(long, global = true)]
    pub debug_protocol: bool,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Fetching")]
pub struct FetchArgs {
    /// Mailbox to fetch; repeat for several [default: INBOX]
    #[arg(long, short = 'm', value_name = "NAME")]
    pub mailbox: Vec<String>,
    /// List the folders with their message and unseen counts, then exit
    #[arg(long, conflicts_with = "check")]
    pub list: bool,
    /// Connect, log in, print the message count of each mailbox, then exit
    #[arg(long)]
    pub check: bool,
    /// Only messages without the \Seen flag (flags are left as they are)
    #[arg(long)]
    pub unseen: bool,
    /// Only messages that arrived on or after DATE (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only messages after those of the last --new run (state per account, mailbox and UIDVALIDITY)
    #[arg(long)]
    pub new: bool,
    /// State file for --new [default: $XDG_STATE_HOME/bounce-tools/bfetch-state.json]
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Write at most N messages (the oldest first)
    #[arg(long, value_name = "N", conflicts_with = "idle")]
    pub limit: Option<u64>,
    /// What --new does when a mailbox's UIDVALIDITY changed since the last run
    #[arg(long, value_enum, value_name = "WHAT", default_value = "fail")]
    pub on_uidvalidity_change: UidvalidityPolicy,
    /// Output format
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: Format,
    /// Fetch bodies in batches of at most this many bytes (memory use follows it)
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    pub batch_bytes: u64,
    /// Fetch at most this many messages per batch
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub batch_messages: usize,
    /// Reconnect this many times after a timeout or dropped connection
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    /// After the fetch, stay connected and write new messages as they arrive
    #[arg(long)]
    pub idle: bool,
    /// Seconds before IDLE is renewed (servers drop IDLE after 30 minutes)
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub idle_interval: u64,
    /// Seconds between checks when IDLE cannot be used (several mailboxes, or no IDLE)
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub poll_interval: u64,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// Files of bclassify records or bfetch NDJSON; none or - for stdin
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Set the \Seen flag
    #[arg(long)]
    pub seen: bool,
    /// Move the messages to FOLDER (MOVE, else COPY and UID EXPUNGE)
    #[arg(long = "move", value_name = "FOLDER", conflicts_with = "delete")]
    pub move_to: Option<String>,
    /// Delete the messages (needs UIDPLUS, so that nothing else is expunged)
    #[arg(long)]
    pub delete: bool,
    /// Set this keyword; repeat for several
    #[arg(long = "flag", value_name = "KEYWORD")]
    pub keywords: Vec<String>,
    /// Check everything and report what would be done, changing nothing
    #[arg(long)]
    pub dry_run: bool,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::new(Kind::Usage, msg)
}

/// Flags over the config file over defaults. Returns the account and the
/// config file's mailbox list, if any.
pub fn resolve_account(c: &ConnArgs) -> Result<(Account, Option<Vec<String>>), Error> {
    let from_file = if c.account.is_some() || c.config.is_some() || c.host.is_none() {
        let path = c.config.clone().or_else(config::default_config_path);
        match path {
            Some(p) if p.exists() || c.account.is_some() || c.config.is_some() => {
                let file = ConfigFile::load(&p)?;
                Some(file.pick(c.account.as_deref(), &p)?.1)
            }
            _ => None,
        }
    } else {
        None
    };
    let f = from_file.unwrap_or_default();
    let secret = pick_secret(c, &f)?;
    let host = c.host.clone().or(f.host).ok_or_else(|| {
        usage("no server: give --host HOST (or --account NAME with a config file)")
    })?;
    let tls = c.tls.or(f.tls).unwrap_or(TlsMode::Implicit);
    let user = c
        .user
        .clone()
        .or(f.user)
        .ok_or_else(|| usage("no login name: give --user USER"))?;
    Ok((
        Account {
            port: c.port.or(f.port).unwrap_or(tls.default_port()),
            host,
            tls,
            insecure_plaintext: c.insecure_plaintext || f.insecure_plaintext.unwrap_or(false),
            ca_file: c.ca_file.clone().or(f.ca_file),
            user,
            secret,
            auth: c.auth.or(f.auth).unwrap_or(AuthMech::Auto),
            connect_timeout: Duration::from_secs(
                c.connect_timeout.or(f.connect_timeout).unwrap_or(30).max(1),
            ),
            io_timeout: Duration::from_secs(c.timeout.or(f.timeout).unwrap_or(120).max(1)),
            debug_protocol: c.debug_protocol,
        },
        f.mailboxes,
    ))
}

fn pick_secret(c: &ConnArgs, f: &AccountFile) -> Result<Secret, Error> {
    if let Some(cmd) = &c.oauth2_token_command {
        return Ok(Secret::OAuth2Command(cmd.clone()));
    }
    if let Some(cmd) = &c.password_command {
        return Ok(Secret::PasswordCommand(cmd.clone()));
    }
    if let Some(p) = &c.password_file {
        return Ok(Secret::PasswordFile(p.clone()));
    }
    let in_file = [
        f.oauth2_token_command.clone().map(Secret::OAuth2Command),
        f.password_command.clone().map(Secret::PasswordCommand),
        f.password_file.clone().map(Secret::PasswordFile),
        f.password_env.clone().map(Secret::PasswordEnv),
    ];
    let mut set = in_file.into_iter().flatten();
    match (set.next(), set.next()) {
        (Some(_), Some(_)) => Err(Error::new(
            Kind::Config,
            "the account sets more than one of password_command, password_file, password_env, oauth2_token_command",
        )),
        (Some(s), None) => Ok(s),
        (None, _) => Ok(Secret::PasswordEnv(config::PASSWORD_ENV.to_string())),
    }
}

/// `2024-02-01` → `1-Feb-2024` (IMAP date, RFC 3501 §9).
pub fn imap_date(s: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut it = s.trim().splitn(3, '-');
    let y: u32 = it.next()?.parse().ok()?;
    let m: usize = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1000..=9999).contains(&y) {
        return None;
    }
    Some(format!("{d}-{}-{y}", MONTHS[m - 1]))
}

/// bfetch's `main`: parses the command line, runs, and picks the exit code.
pub fn main() -> ExitCode {
    super::drive(
        "bfetch",
        ExitCode::Usage,
        |cli: Cli| run(cli).map(|()| ExitCode::Ok),
        |e| eprintln!("bfetch: {e:#}"),
    )
}

/// Runs bfetch as the command line says.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let (account, file_mailboxes) = resolve_account(&cli.conn)?;
    if let Some(Command::Ack(a)) = cli.command {
        if a.files.is_empty() && std::io::stdin().is_terminal() {
            return Err(usage(
                "ack: no input: pipe records in, or name files (see bfetch ack --help)",
            )
            .into());
        }
        let opts = AckOptions {
            seen: a.seen,
            move_to: a.move_to,
            delete: a.delete,
            keywords: a.keywords,
            dry_run: a.dry_run,
            inputs: a.files,
        };
        return ack::run(&account, &opts);
    }
    let f = cli.fetch;
    let mailboxes = if !f.mailbox.is_empty() {
        f.mailbox
    } else {
        file_mailboxes
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| vec!["INBOX".to_string()])
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(256 << 10, stdout.lock());
    if f.list {
        return fetch::list(&account, &mut out);
    }
    if f.check {
        return fetch::check(&account, &mailboxes, &mut out);
    }
    let since = match &f.since {
        Some(s) => Some(
            imap_date(s)
                .ok_or_else(|| usage(format!("--since {s:?}: expected a date as YYYY-MM-DD")))?,
        ),
        None => None,
    };
    if f.state.is_some() && !f.new {
        return Err(usage("--state only makes sense with --new").into());
    }
    let opts = FetchOptions {
        mailboxes,
        format: f.format,
        unseen: f.unseen,
        since,
        new: f.new,
        state_path: f.state,
        limit: f.limit,
        on_uidvalidity_change: f.on_uidvalidity_change,
        batch_bytes: f.batch_bytes.max(1),
        batch_messages: f.batch_messages.max(1),
        retries: f.retries,
        idle: f.idle,
        idle_interval: Duration::from_secs(f.idle_interval.max(1)),
        poll_interval: Duration::from_secs(f.poll_interval.max(1)),
        progress: std::io::stderr().is_terminal(),
    };
    let mut fetcher = Fetcher::new(&account, &opts)?;
    fetcher.run(&mut out)?;
    out.flush()
        .map_err(|e| anyhow::Error::new(e).context("stdout"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_dates() {
        assert_eq!(imap_date("2024-02-01").as_deref(), Some("1-Feb-2024"));
        assert_eq!(imap_date("2024-13-01"), None);
        assert_eq!(imap_date("yesterday"), None);
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
