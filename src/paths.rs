//! Where the tools keep their state and look for their configuration when
//! no path is given: one rule for every tool (bapply(1) `--state`,
//! bfetch(1) ENVIRONMENT).
//!
//! - Linux and the other XDG systems: `$XDG_STATE_HOME` and
//!   `$XDG_CONFIG_HOME` when set to an absolute path, else
//!   `~/.local/state` and `~/.config` under `$HOME`.
//! - macOS and Windows: the platform's own directory (the `dirs` crate:
//!   Application Support, AppData).
//! - No home directory at all (HOME unset or empty, as under some cron
//!   and MTA set-ups): an error, so that the caller can ask for an explicit
//!   path rather than write somewhere unexpected.
//!
//! This module imports nothing from the crate.

use std::path::PathBuf;

/// The crate's directory under the state or config base directory.
const APP_DIR: &str = "bounce-tools";

/// What a default path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// What a tool remembers between runs (bapply's history, bfetch's
    /// last UIDs).
    State,
    /// What a user writes (bfetch's accounts).
    Config,
}

/// There is no directory to put the file in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {what} directory: {why}")]
pub struct NoDirectory {
    pub what: &'static str,
    pub why: &'static str,
}

/// The default path of `file` for `purpose`:
/// `$XDG_STATE_HOME/bounce-tools/FILE` and the like (see the module doc).
pub fn default_file(purpose: Purpose, file: &str) -> Result<PathBuf, NoDirectory> {
    Ok(base_dir(purpose)?.join(APP_DIR).join(file))
}

#[cfg(all(unix, not(target_os = "macos")))]
fn base_dir(purpose: Purpose) -> Result<PathBuf, NoDirectory> {
    xdg_base_dir(purpose, |name| std::env::var_os(name))
}

/// The XDG rule, with the environment passed in so that tests need not
/// change the process's own.
#[cfg_attr(not(all(unix, not(target_os = "macos"))), allow(dead_code))]
fn xdg_base_dir(
    purpose: Purpose,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<PathBuf, NoDirectory> {
    let (var, under_home, what) = match purpose {
        Purpose::State => ("XDG_STATE_HOME", ".local/state", "state"),
        Purpose::Config => ("XDG_CONFIG_HOME", ".config", "config"),
    };
    // The XDG Base Directory spec: a relative value is invalid and ignored.
    if let Some(dir) = env(var).map(PathBuf::from).filter(|d| d.is_absolute()) {
        return Ok(dir);
    }
    match env("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(under_home)),
        None => Err(NoDirectory {
            what,
            why: match purpose {
                Purpose::State => "neither XDG_STATE_HOME nor HOME is set",
                Purpose::Config => "neither XDG_CONFIG_HOME nor HOME is set",
            },
        }),
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn base_dir(purpose: Purpose) -> Result<PathBuf, NoDirectory> {
    let (dir, what) = match purpose {
        // macOS and Windows have no state directory of their own: local
        // application data is where such files go there.
        Purpose::State => (dirs::state_dir().or_else(dirs::data_local_dir), "state"),
        Purpose::Config => (dirs::config_dir(), "config"),
    };
    dir.ok_or(NoDirectory {
        what,
        why: "no home directory",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn xdg_variables_first_then_home() {
        let state = |vars: &[(&str, &str)]| xdg_base_dir(Purpose::State, env(vars));
        let config = |vars: &[(&str, &str)]| xdg_base_dir(Purpose::Config, env(vars));
        let all = [
            ("XDG_STATE_HOME", "/s"),
            ("XDG_CONFIG_HOME", "/c"),
            ("HOME", "/h"),
        ];
        assert_eq!(state(&all), Ok(PathBuf::from("/s")));
        assert_eq!(config(&all), Ok(PathBuf::from("/c")));
        let home = [("HOME", "/h"), ("XDG_STATE_HOME", "relative")];
        assert_eq!(state(&home), Ok(PathBuf::from("/h/.local/state")));
        assert_eq!(config(&home), Ok(PathBuf::from("/h/.config")));
    }

    #[test]
    fn no_home_is_an_error() {
        for vars in [&[][..], &[("HOME", "")][..], &[("XDG_STATE_HOME", "x")][..]] {
            let e = xdg_base_dir(Purpose::State, env(vars)).unwrap_err();
            assert_eq!(
                e.to_string(),
                "no state directory: neither XDG_STATE_HOME nor HOME is set"
            );
        }
        assert!(xdg_base_dir(Purpose::Config, env(&[])).is_err());
    }
}
