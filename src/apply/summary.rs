//! The summary of a run, written to stderr (bapply(1)): what
//! was read, what the guard saw, what was written or applied. The last
//! stage of the pipeline: every other stage hands it its counts.

use super::action::Action;
use super::emit::Applied;
use super::guard::Report;
use super::printable::printable;
use std::collections::BTreeMap;

/// Blocked addresses named in the summary; the rest are counted.
const SHOWN_BLOCKED: usize = 10;

/// What reading `--good` did, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct GoodCounts {
    /// Addresses read.
    pub addresses: u64,
    /// Lines that are no address (no `@`), skipped.
    pub skipped: u64,
    /// Contacts in the state whose counts were reset.
    pub reset: u64,
}

/// What a run saw and did, for the summary on stderr.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub records: u64,
    pub invalid: u64,
    pub duplicates: u64,
    /// Records naming neither an address nor a subscriber id.
    pub unattributed: u64,
    /// Records whose recipient was no mailbox or a placeholder: never
    /// acted on by address.
    pub placeholders: u64,
    /// Distinct contacts in the input.
    pub addresses: usize,
    /// New updates per action.
    pub actions: BTreeMap<Action, usize>,
    /// The first few contacts blocked by this run, and how many in all.
    pub newly_blocked: Vec<String>,
    pub blocked: usize,
    /// Thresholds crossed again for updates already emitted earlier.
    pub already_emitted: usize,
    /// `--require-provenance`: destructive updates left to a person
    /// (`manual`) because no record was signed or known.
    pub unverified: usize,
    /// `--all`: every emitted update was written, old and new.
    pub all: bool,
    pub written: usize,
    pub guard: Report,
    pub sql_skipped: usize,
    pub nul_replaced: usize,
    pub applied: Option<Applied>,
    /// `--dry-run`: nothing was applied and the state is unchanged.
    pub dry_run: bool,
    /// `--max-age`: events of this input too old to count.
    pub too_old: u64,
    /// `--good`: what reading the file did.
    pub good: Option<GoodCounts>,
}

impl Summary {
    /// Counts one new update; `contact` names it (address, else
    /// subscriber id) for the first few blocked.
    pub(crate) fn count_update(&mut self, action: Action, contact: impl FnOnce() -> String) {
        *self.actions.entry(action).or_default() += 1;
        if action == Action::Block {
            self.blocked += 1;
            if self.newly_blocked.len() < SHOWN_BLOCKED {
                self.newly_blocked.push(contact());
            }
        }
    }

    /// The summary lines, without the program name.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} records, {} contacts, {} duplicates, {} without address, {} invalid",
            self.records, self.addresses, self.duplicates, self.unattributed, self.invalid
        )];
        if self.placeholders > 0 {
            out.push(format!(
                "not a mailbox or a placeholder, never acted on: {}",
                self.placeholders
            ));
        }
        if self.too_old > 0 {
            out.push(format!(
                "older than --max-age, kept but never acted on: {}",
                self.too_old
            ));
        }
        if let Some(g) = &self.good {
            out.push(format!(
                "--good: {} addresses, {} contacts' counts reset{}",
                g.addresses,
                g.reset,
                if g.skipped > 0 {
                    format!(", {} lines without an address skipped", g.skipped)
                } else {
                    String::new()
                }
            ));
        }
        let per: Vec<String> = self
            .actions
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect();
        let total: usize = self.actions.values().sum();
        out.push(if per.is_empty() {
            "updates: none".to_string()
        } else {
            format!("updates: {total} ({})", per.join(", "))
        });
        if self.unverified > 0 {
            out.push(format!(
                "not signed or known, left to a person (--require-provenance): {}",
                self.unverified
            ));
        }
        if self.blocked > 0 {
            let mut list: Vec<String> = self.newly_blocked.iter().map(|e| printable(e)).collect();
            if self.blocked > list.len() {
                list.push(format!("and {} more", self.blocked - list.len()));
            }
            out.push(format!(
                "newly blocked: {} ({})",
                self.blocked,
                list.join(", ")
            ));
        }
        if self.all {
            out.push(format!("--all: wrote {} current updates", self.written));
        }
        if self.already_emitted > 0 {
            out.push(format!(
                "{} updates already emitted by earlier runs, not repeated",
                self.already_emitted
            ));
        }
        out.push(format!("guard: {}", self.guard.describe()));
        if self.guard.fired && !self.guard.forced {
            out.push(if self.dry_run {
                format!(
                    "the guard would hold a real run back ({} updates): apply with --force, \
                     or give --list-size",
                    self.guard.updates
                )
            } else {
                format!("held back by the guard: {} updates", self.guard.updates)
            });
        }
        if self.sql_skipped > 0 {
            out.push(format!(
                "{} updates wrote no SQL statement (no value for the action, or no address to match)",
                self.sql_skipped
            ));
        }
        if self.nul_replaced > 0 {
            out.push(format!(
                "{} values held NUL, which PostgreSQL text cannot store; written as U+FFFD",
                self.nul_replaced
            ));
        }
        if self.dry_run {
            out.push("dry run: nothing applied, state unchanged".to_string());
        }
        if let Some(a) = &self.applied {
            out.push(format!(
                "applied to {}: {} statements, {} rows changed, {} matched no row",
                a.target, a.statements, a.rows, a.unmatched
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_blocked_and_counts_the_rest() {
        let mut s = Summary {
            records: 20,
            addresses: 12,
            ..Summary::default()
        };
        for i in 0..12 {
            s.count_update(Action::Block, || format!("u{i}@x\x1b"));
        }
        s.count_update(Action::Manual, || unreachable!());
        let lines = s.lines();
        assert_eq!(
            lines[0],
            "20 records, 12 contacts, 0 duplicates, 0 without address, 0 invalid"
        );
        assert_eq!(lines[1], "updates: 13 (block 12, manual 1)");
        assert!(
            lines[2].starts_with("newly blocked: 12 (u0@x\\u{1b}, u1@x\\u{1b}, ")
                && lines[2].ends_with("u9@x\\u{1b}, and 2 more)"),
            "{}",
            lines[2]
        );
        assert!(lines[3].starts_with("guard: "), "{}", lines[3]);
    }
}
