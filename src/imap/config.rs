//! One IMAP account: where the server is, how to trust it, and where the
//! secret comes from. Built from flags, or from a TOML file for cron jobs
//! that should not carry connection details on their command line.
//!
//! Secrets are never values in flags or in the file: only a command to
//! run, a file to read, or an environment variable.

use super::{Error, Kind, Result};
use crate::paths::{self, Purpose};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Environment variable read for the password when no command or file is given.
pub const PASSWORD_ENV: &str = "BFETCH_PASSWORD";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (port 993).
    Implicit,
    /// Plain connection upgraded with STARTTLS before anything else (port 143).
    Starttls,
    /// No TLS at all; credentials are sent only with --insecure-plaintext.
    None,
}

impl TlsMode {
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Implicit => 993,
            TlsMode::Starttls | TlsMode::None => 143,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthMech {
    /// XOAUTH2 when a token command is set, else AUTHENTICATE PLAIN, else LOGIN.
    Auto,
    Plain,
    Login,
    Xoauth2,
    Oauthbearer,
}

/// Where the password or token comes from. Commands run through `sh -c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    PasswordCommand(String),
    PasswordFile(PathBuf),
    PasswordEnv(String),
    OAuth2Command(String),
}

impl Secret {
    pub fn is_oauth(&self) -> bool {
        matches!(self, Secret::OAuth2Command(_))
    }

    /// The password or token, without its trailing newline.
    pub fn fetch(&self) -> Result<String> {
        let raw = match self {
            Secret::PasswordCommand(cmd) => run_secret_command("--password-command", cmd)?,
            Secret::OAuth2Command(cmd) => run_secret_command("--oauth2-token-command", cmd)?,
            Secret::PasswordFile(path) => std::fs::read_to_string(path).map_err(|e| {
                Error::new(
                    Kind::Config,
                    format!("--password-file {}: {e}", path.display()),
                )
            })?,
            Secret::PasswordEnv(var) => std::env::var(var).map_err(|_| {
                Error::new(
                    Kind::Config,
                    format!("environment variable {var} is not set"),
                )
            })?,
        };
        let s = raw.strip_suffix('\n').unwrap_or(&raw);
        let s = s.strip_suffix('\r').unwrap_or(s);
        if s.is_empty() {
            return Err(Error::new(Kind::Config, "the password or token is empty"));
        }
        Ok(s.to_string())
    }
}

fn run_secret_command(flag: &str, cmd: &str) -> Result<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::new(Kind::Config, format!("{flag}: cannot run sh: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("").trim();
        return Err(Error::new(
            Kind::Config,
            format!(
                "{flag} failed ({}){}",
                out.status,
                if first.is_empty() {
                    String::new()
                } else {
                    format!(": {first}")
                }
            ),
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| {
        Error::new(
            Kind::Config,
            format!("{flag} printed something that is not UTF-8"),
        )
    })
}

/// A resolved account, ready to connect.
#[derive(Debug, Clone)]
pub struct Account {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub insecure_plaintext: bool,
    pub ca_file: Option<PathBuf>,
    pub user: String,
    pub secret: Secret,
    pub auth: AuthMech,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
    pub debug_protocol: bool,
}

impl Account {
    /// `host:port`, the prefix of every connection error.
    pub fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Key for the `--new` state: who, where. Stable across config renames.
    pub fn state_key(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// One `[account.NAME]` table of the config file. Every field can be
/// overridden by the flag of the same name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountFile {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<TlsMode>,
    pub insecure_plaintext: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub user: Option<String>,
    pub auth: Option<AuthMech>,
    pub password_command: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub oauth2_token_command: Option<String>,
    pub mailboxes: Option<Vec<String>>,
    pub connect_timeout: Option<u64>,
    pub timeout: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Account used when `--account` is not given.
    pub default: Option<String>,
    #[serde(default)]
    pub account: BTreeMap<String, AccountFile>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(Kind::Config, format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| {
            let msg = e.message().to_string();
            Error::new(Kind::Config, format!("{}: {msg}", path.display()))
        })
    }

    /// The named account, or the default one, or the only one.
    pub fn pick(&self, name: Option<&str>, path: &Path) -> Result<(String, AccountFile)> {
        let wanted = match name.or(self.default.as_deref()) {
            Some(n) => n.to_string(),
            None if self.account.len() == 1 => {
                self.account.keys().next().cloned().unwrap_or_default()
            }
            None => {
                return Err(Error::new(
                    Kind::Config,
                    format!(
                        "{}: several accounts and no `default`; use --account NAME",
                        path.display()
                    ),
                ));
            }
        };
        match self.account.get(&wanted) {
            Some(a) => Ok((wanted, a.clone())),
            None => Err(Error::new(
                Kind::Config,
                format!("{}: no [account.{wanted}]", path.display()),
            )),
        }
    }
}

/// `$XDG_CONFIG_HOME/bounce-tools/bfetch.toml` (or under `~/.config`;
/// the platform's directory outside Linux); None without a home.
pub fn default_config_path() -> Option<PathBuf> {
    paths::default_file(Purpose::Config, "bfetch.toml").ok()
}

/// `$XDG_STATE_HOME/bounce-tools/bfetch-state.json` (or under
/// `~/.local/state`; the platform's directory outside Linux); None
/// without a home.
pub fn default_state_path() -> Option<PathBuf> {
    paths::default_file(Purpose::State, "bfetch-state.json").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_account_file() {
        let c: ConfigFile = toml::from_str(
            r#"
default = "b"
[account.b]
host = "imap.example.com"
tls = "starttls"
user = "u"
password_command = "pass show x"
mailboxes = ["INBOX", "Bounces"]
"#,
        )
        .unwrap();
        let (name, a) = c.pick(None, Path::new("x")).unwrap();
        assert_eq!(name, "b");
        assert_eq!(a.tls, Some(TlsMode::Starttls));
        assert!(c.pick(Some("nope"), Path::new("x")).is_err());
    }

    #[test]
    fn secret_strips_one_newline() {
        let s = Secret::PasswordCommand("printf 'a b\\n'".into());
        assert_eq!(s.fetch().unwrap(), "a b");
        let bad = Secret::PasswordCommand("echo oops >&2; exit 3".into());
        let e = bad.fetch().unwrap_err();
        assert_eq!(e.kind, Kind::Config);
        assert!(e.message.contains("oops"), "{}", e.message);
    }
}
