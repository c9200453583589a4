//! `--new` state: per account and mailbox, the UIDVALIDITY and the last UID
//! already written out. A UID means nothing without its UIDVALIDITY (RFC
//! 3501 §2.3.1.1), so the pair is stored together and checked together.
//!
//! The lock file is held for the whole run: two overlapping runs (cron
//! firing while the last run is still busy) would otherwise both emit the
//! same messages. Each save re-writes the file through a temporary file and
//! a rename, so a crash leaves either the old or the new state, never half.

use super::{Error, Kind, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct StateFile {
    v: u32,
    /// account key → mailbox → position
    #[serde(default)]
    accounts: BTreeMap<String, BTreeMap<String, Position>>,
}

pub struct State {
    path: PathBuf,
    account: String,
    data: StateFile,
    _lock: File,
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::new(Kind::Io, format!("state file {}: {e}", path.display()))
}

impl State {
    /// Opens (or starts) the state file and takes its lock for the run.
    pub fn open(path: &Path, account: &str) -> Result<State> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let lock_path = lock_path(path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::new(
                    Kind::Temporary,
                    format!(
                        "state file {}: another bfetch run holds its lock; try again later",
                        path.display()
                    ),
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path, e)),
        }
        let data = match fs::read(path) {
            Ok(bytes) => parse(path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile {
                v: 1,
                ..Default::default()
            },
            Err(e) => return Err(io_err(path, e)),
        };
        Ok(State {
            path: path.to_path_buf(),
            account: account.to_string(),
            data,
            _lock: lock,
        })
    }

    pub fn get(&self, mailbox: &str) -> Option<Position> {
        self.data.accounts.get(&self.account)?.get(mailbox).copied()
    }

    /// Records a position and writes the file before returning.
    pub fn set(&mut self, mailbox: &str, pos: Position) -> Result<()> {
        if self.get(mailbox) == Some(pos) {
            return Ok(());
        }
        self.data
            .accounts
            .entry(self.account.clone())
            .or_default()
            .insert(mailbox.to_string(), pos);
        self.save()
    }

    fn save(&self) -> Result<()> {
        let tmp = self
            .path
            .with_extension(format!("tmp.{}", std::process::id()));
        let mut bytes = serde_json::to_vec_pretty(&self.data).map_err(|e| {
            Error::new(Kind::Io, format!("state file {}: {e}", self.path.display()))
        })?;
        bytes.push(b'\n');
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                // The rename is durable only once the directory is synced.
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_err(&self.path, e)
        })
    }
}

/// The state file's contents; any bytes give a state or a `Data` error.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<StateFile> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            Kind::Data,
            format!(
                "state file {}: not readable ({e}); move it away to start over",
                path.display()
            ),
        )
    })
}

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_locks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/state.json");
        {
            let mut s = State::open(&p, "u@h:993").unwrap();
            assert_eq!(s.get("INBOX"), None);
            s.set(
                "INBOX",
                Position {
                    uidvalidity: 7,
                    last_uid: 42,
                },
            )
            .unwrap();
            let second = State::open(&p, "u@h:993");
            assert_eq!(second.err().map(|e| e.kind), Some(Kind::Temporary));
        }
        let s = State::open(&p, "u@h:993").unwrap();
        assert_eq!(
            s.get("INBOX"),
            Some(Position {
                uidvalidity: 7,
                last_uid: 42
            })
        );
        let other = State::open(&dir.path().join("x.json"), "other");
        assert!(other.is_ok());
    }
}
