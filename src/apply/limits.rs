//! The policy limits of a run (bapply(1), POLICY LIMITS): how old an
//! event may be and still lead to an action (`--max-age`), the addresses
//! the sender knows are alive (`--good`), and whether a contact is an
//! address or an address on one list (`--scope`).

use super::error::Error;
use super::state::Store;
use super::summary::GoodCounts;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// What a contact is (`--scope`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// One contact per address (or subscriber id), whatever the list.
    #[default]
    Address,
    /// One contact per (List-Id, address): a complaint about one list
    /// unsubscribes from that list only.
    List,
}

/// The limits of one run.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// `--max-age DAYS`: events dated earlier than this many days before
    /// the run lead to no update; they are still kept in the state.
    pub max_age_days: Option<u32>,
    /// `--good FILE`: one address a line, alive as of this run.
    pub good: Option<PathBuf>,
    pub scope: Scope,
}

impl Limits {
    /// The earliest date (Unix seconds) that still counts, for a run at
    /// `now`; `i64::MIN` without `--max-age`.
    pub(crate) fn cutoff(&self, now: i64) -> i64 {
        self.max_age_days
            .map_or(i64::MIN, |d| now.saturating_sub(i64::from(d) * 86_400))
    }
}

/// Addresses of `--good` staged per statement batch.
const GOOD_CHUNK: usize = 4096;

/// Reads `--good` line by line into the state's run set and resets the
/// contacts it names, before this run's events are counted. Blank lines
/// and `#` comments are allowed; the domain is compared lower-cased.
pub(crate) fn apply_good(
    path: &Path,
    now: i64,
    store: &Store,
    state_err: &dyn Fn(super::state::StateError) -> Error,
) -> Result<GoodCounts, Error> {
    let name = path.display().to_string();
    let io_err = |source| Error::Open {
        path: name.clone(),
        source,
    };
    let mut reader = BufReader::new(std::fs::File::open(path).map_err(io_err)?);
    let mut counts = GoodCounts::default();
    let mut chunk: Vec<String> = Vec::with_capacity(GOOD_CHUNK);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io_err)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        match normalise(text) {
            Some(a) => {
                counts.addresses += 1;
                chunk.push(a);
            }
            None => counts.skipped += 1,
        }
        if chunk.len() == GOOD_CHUNK {
            store.stage_good(&chunk).map_err(state_err)?;
            chunk.clear();
        }
    }
    store.stage_good(&chunk).map_err(state_err)?;
    counts.reset = store.apply_good(now).map_err(state_err)?;
    Ok(counts)
}

/// An address as the state keys it: the domain lower-cased (as bclassify
/// writes recipients), angle brackets dropped; None for no address.
fn normalise(text: &str) -> Option<String> {
    let text = text
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(text);
    let (local, domain) = text.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || text.chars().any(char::is_whitespace) {
        return None;
    }
    Some(format!("{local}@{}", domain.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn addresses_compare_with_the_domain_lower_cased() {
        assert_eq!(
            normalise("<Ann.Smith@Example.ORG>").as_deref(),
            Some("Ann.Smith@example.org")
        );
        assert_eq!(normalise("no-at-sign"), None);
        assert_eq!(normalise("a b@example.org"), None);
        assert_eq!(normalise("@example.org"), None);
    }
}
