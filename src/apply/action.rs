//! `Action`: what bapply does to a contact once a category of its events
//! reaches the policy's threshold (bapply(1)). It sits below
//! the policy, which assigns actions, and the update, which carries one.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// What happens to a contact once its category reaches the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    None,
    Block,
    Unsubscribe,
    Delete,
    ChangeAddress,
    Manual,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::None,
        Action::Block,
        Action::Unsubscribe,
        Action::Delete,
        Action::ChangeAddress,
        Action::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Block => "block",
            Action::Unsubscribe => "unsubscribe",
            Action::Delete => "delete",
            Action::ChangeAddress => "change-address",
            Action::Manual => "manual",
        }
    }

    /// Actions that take a contact off the list; these are what the guard
    /// counts, because they are the ones a misclassified outage makes costly.
    pub fn is_damaging(self) -> bool {
        matches!(self, Action::Block | Action::Unsubscribe | Action::Delete)
    }

    /// Order of updates for one contact within a run: a review note first,
    /// a deletion last, so that no statement targets a row already gone.
    pub fn rank(self) -> u8 {
        match self {
            Action::None => 0,
            Action::Manual => 1,
            Action::Block => 2,
            Action::Unsubscribe => 3,
            Action::ChangeAddress => 4,
            Action::Delete => 5,
        }
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Action::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown action {s:?}"))
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
