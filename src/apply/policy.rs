//! `Policy`: what bapply does for each category (bapply(1), POLICY; the
//! defaults are those of bounce-tools(7), CATEGORIES), how the mass-damage
//! guard is tuned, and how SQL output names its table.
//!
//! The policy file is TOML. Anything it leaves out keeps its default, so a
//! file that only says `[category.soft] threshold = 5` is a complete policy;
//! `--print-policy` writes every default so users start from the real thing.

use super::action::Action;
use crate::record::Category;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The rule for one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryPolicy {
    pub action: Action,
    /// Events needed (within the window) before the action is taken.
    #[serde(default = "one")]
    pub threshold: u32,
    /// Only events this many days apart or closer count together; 0 means
    /// no window (every event since the last reset counts).
    #[serde(default)]
    pub window_days: u32,
    /// Categories whose count an event of this category clears
    /// (`delivered` clears `soft`: the mailbox works again).
    #[serde(default)]
    pub resets: Vec<Category>,
}

fn one() -> u32 {
    1
}

/// The mass-damage guard (bapply(1), Mass-damage guard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardPolicy {
    /// Largest share (0..1) of the addresses seen in one run that may be
    /// blocked, unsubscribed or deleted.
    pub max_share: f64,
    /// The share rule only applies from this many such updates on: one hard
    /// bounce fed by a procmail hook is 100% of what that run saw.
    pub min_updates: u32,
    /// This many such updates sharing one remote host and one diagnostic
    /// (addresses and ids masked) look like an outage or a block of the
    /// sender, not like dead addresses.
    pub cluster_min: u32,
}

impl Default for GuardPolicy {
    fn default() -> Self {
        GuardPolicy {
            max_share: 0.20,
            min_updates: 10,
            cluster_min: 10,
        }
    }
}

/// SQL dialects for `--format sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

/// How updates become SQL (`--format sql` and `--apply`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlPolicy {
    pub dialect: Dialect,
    pub table: String,
    /// Column holding the address; `change-address` rewrites it.
    pub key_column: String,
    /// When set, contacts that carry a subscriber id are matched on this
    /// column instead of the address.
    pub id_column: String,
    pub status_column: String,
    /// `--scope list`: the column holding the List-Id, matched besides the
    /// address; required for SQL under `--scope list`.
    pub list_column: String,
    /// Status value written per action; an empty value writes no statement.
    pub values: BTreeMap<String, String>,
    /// Extra columns set on every status change: column name to update
    /// field (`reason`, `category`, `evidence`, `rule`, `count`, ...).
    pub set: BTreeMap<String, String>,
}

impl Default for SqlPolicy {
    fn default() -> Self {
        let values = [
            ("block", "blocked"),
            ("unsubscribe", "unsubscribed"),
            ("manual", ""),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        SqlPolicy {
            dialect: Dialect::Sqlite,
            table: "contacts".into(),
            key_column: "email".into(),
            id_column: String::new(),
            status_column: "status".into(),
            list_column: String::new(),
            values,
            set: BTreeMap::new(),
        }
    }
}

impl SqlPolicy {
    /// The status value an action writes, or None for no statement.
    pub fn value_for(&self, action: Action) -> Option<&str> {
        self.values
            .get(action.as_str())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Update fields that `[sql.set]` may name: the output columns.
pub const SET_FIELDS: &[&str] = super::update::COLUMNS;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub categories: BTreeMap<Category, CategoryPolicy>,
    pub guard: GuardPolicy,
    pub sql: SqlPolicy,
}

/// A category as the file gives it: what it leaves out keeps the
/// category's default (`[category.soft] threshold = 5` keeps `block`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryOverride {
    action: Option<Action>,
    threshold: Option<u32>,
    window_days: Option<u32>,
    resets: Option<Vec<Category>>,
}

impl CategoryOverride {
    fn over(self, default: &CategoryPolicy) -> CategoryPolicy {
        CategoryPolicy {
            action: self.action.unwrap_or(default.action),
            threshold: self.threshold.unwrap_or(default.threshold),
            window_days: self.window_days.unwrap_or(default.window_days),
            resets: self.resets.unwrap_or_else(|| default.resets.clone()),
        }
    }
}

/// The file as written: every section and key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    category: BTreeMap<String, CategoryOverride>,
    #[serde(default)]
    guard: Option<GuardPolicy>,
    #[serde(default)]
    sql: Option<SqlPolicy>,
}

fn cat(action: Action, threshold: u32, window_days: u32) -> CategoryPolicy {
    CategoryPolicy {
        action,
        threshold,
        window_days,
        resets: Vec::new(),
    }
}

impl Default for Policy {
    /// bounce-tools(7), CATEGORIES: the default action of each.
    fn default() -> Self {
        use Category::*;
        let mut categories = BTreeMap::new();
        for c in Category::ALL {
            let p = match c {
                Hard => cat(Action::Block, 1, 0),
                Soft => cat(Action::Block, 3, 30),
                Blocked => cat(Action::None, 1, 0),
                Failed => cat(Action::Block, 2, 0),
                Undetermined => cat(Action::Manual, 1, 0),
                Delayed => cat(Action::None, 1, 0),
                Delivered => CategoryPolicy {
                    resets: vec![Soft],
                    ..cat(Action::None, 1, 0)
                },
                Autoreply => cat(Action::None, 1, 0),
                Challenge => cat(Action::Manual, 1, 0),
                Complaint => cat(Action::Unsubscribe, 1, 0),
                Report => cat(Action::None, 1, 0),
                Unsubscribe => cat(Action::Unsubscribe, 1, 0),
                Subscribe => cat(Action::Manual, 1, 0),
                AddressChange => cat(Action::ChangeAddress, 1, 0),
                Virus => cat(Action::None, 1, 0),
                Unknown => cat(Action::Manual, 1, 0),
            };
            categories.insert(*c, p);
        }
        Policy {
            categories,
            guard: GuardPolicy::default(),
            sql: SqlPolicy::default(),
        }
    }
}

impl Policy {
    pub fn for_category(&self, c: Category) -> &CategoryPolicy {
        &self.categories[&c]
    }

    /// Parses a policy file over the defaults. The error is one line,
    /// without the file name (the caller adds it).
    pub fn from_toml(text: &str) -> Result<Policy, String> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        let mut policy = Policy::default();
        for (name, p) in file.category {
            let c: Category = name
                .parse()
                .map_err(|e: String| format!("[category.{name}]: {e}"))?;
            let p = p.over(policy.for_category(c));
            policy.categories.insert(c, p);
        }
        if let Some(g) = file.guard {
            policy.guard = g;
        }
        if let Some(s) = file.sql {
            policy.sql = s;
        }
        policy.validate()?;
        Ok(policy)
    }

    fn validate(&self) -> Result<(), String> {
        for (c, p) in &self.categories {
            if p.threshold == 0 {
                return Err(format!("[category.{c}]: threshold must be at least 1"));
            }
        }
        let g = &self.guard;
        if !(0.0..=1.0).contains(&g.max_share) {
            return Err("[guard]: max_share must be between 0 and 1".into());
        }
        let s = &self.sql;
        for (what, v) in [
            ("table", &s.table),
            ("key_column", &s.key_column),
            ("status_column", &s.status_column),
        ] {
            if v.is_empty() {
                return Err(format!("[sql]: {what} must not be empty"));
            }
        }
        for k in s.values.keys() {
            let a: Action = k.parse().map_err(|e| format!("[sql.values]: {e}"))?;
            if !matches!(a, Action::Block | Action::Unsubscribe | Action::Manual) {
                return Err(format!(
                    "[sql.values]: {k} takes no status value (only block, unsubscribe, manual)"
                ));
            }
        }
        for (col, field) in &s.set {
            if !SET_FIELDS.contains(&field.as_str()) {
                return Err(format!(
                    "[sql.set]: {col} = {field:?}: unknown field (one of {})",
                    SET_FIELDS.join(", ")
                ));
            }
        }
        let idents = [
            &s.table,
            &s.key_column,
            &s.id_column,
            &s.status_column,
            &s.list_column,
        ];
        if idents
            .iter()
            .chain(s.set.keys().collect::<Vec<_>>().iter())
            .any(|i| i.contains('\0'))
        {
            return Err("[sql]: names must not contain NUL".into());
        }
        Ok(())
    }

    /// The whole policy as a commented TOML file that `from_toml` reads back.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# bapply policy. Every setting shown is the default; leave out what you\n\
             # do not change. Actions: none, block, unsubscribe, delete,\n\
             # change-address, manual. An update is emitted once, when a contact\n\
             # reaches `threshold` events of a category no more than `window_days`\n\
             # apart (0: no window) since the last event of a category that\n\
             # `resets` it.\n",
        );
        for (c, p) in &self.categories {
            let _ = writeln!(out, "\n# {}", category_note(*c));
            let _ = writeln!(out, "[category.{}]", c.as_str());
            let _ = writeln!(out, "action = {:?}", p.action.as_str());
            let _ = writeln!(out, "threshold = {}", p.threshold);
            let _ = writeln!(out, "window_days = {}", p.window_days);
            let resets: Vec<String> = p
                .resets
                .iter()
                .map(|r| format!("{:?}", r.as_str()))
                .collect();
            let _ = writeln!(out, "resets = [{}]", resets.join(", "));
        }
        let g = &self.guard;
        out.push_str(
            "\n# Mass-damage guard: a run that would block, unsubscribe or delete more\n\
             # than max_share of the addresses it saw (once there are at least\n\
             # min_updates such updates), or cluster_min of them behind one remote\n\
             # host and one diagnostic, applies nothing unless run with --force.\n\
             [guard]\n",
        );
        let _ = writeln!(out, "max_share = {:?}", g.max_share);
        let _ = writeln!(out, "min_updates = {}", g.min_updates);
        let _ = writeln!(out, "cluster_min = {}", g.cluster_min);
        let s = &self.sql;
        out.push_str(
            "\n# SQL output (--format sql) and --apply. Names are quoted for the\n\
             # dialect; values are literals quoted for the dialect in SQL output,\n\
             # and bound parameters (never SQL text) with --apply.\n\
             [sql]\n",
        );
        let dialect = match s.dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        };
        let _ = writeln!(out, "dialect = {dialect:?}");
        let _ = writeln!(out, "table = {}", toml_str(&s.table));
        let _ = writeln!(out, "key_column = {}", toml_str(&s.key_column));
        out.push_str("# set to match contacts that carry a subscriber id on this column\n");
        let _ = writeln!(out, "id_column = {}", toml_str(&s.id_column));
        let _ = writeln!(out, "status_column = {}", toml_str(&s.status_column));
        out.push_str(
            "# --scope list: the column holding the List-Id, matched besides the address\n",
        );
        let _ = writeln!(out, "list_column = {}", toml_str(&s.list_column));
        out.push_str("\n# status value per action; \"\" writes no statement\n[sql.values]\n");
        for (k, v) in &s.values {
            let _ = writeln!(out, "{} = {}", k, toml_str(v));
        }
        out.push_str(
            "\n# extra columns set with each status change, column = field, e.g.\n\
             # bounce_reason = \"reason\"\n[sql.set]\n",
        );
        for (k, v) in &s.set {
            let _ = writeln!(out, "{} = {}", toml_str(k), toml_str(v));
        }
        out
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn category_note(c: Category) -> &'static str {
    use Category::*;
    match c {
        Hard => "hard: permanent failure for this address; block at once",
        Soft => "soft: temporary failure; block after 3 within 30 days",
        Blocked => "blocked: refused because of the sender; reported, no action",
        Failed => "failed: permanent failure without a usable reason; block after 2",
        Undetermined => "undetermined: looks like a failure, reason unknown; a person decides",
        Delayed => "delayed: still being retried; no action",
        Delivered => "delivered: success notice; clears the soft count",
        Autoreply => "autoreply: out-of-office and the like; no action",
        Challenge => "challenge: challenge-response; a person must act",
        Complaint => "complaint: feedback-loop or abuse report; unsubscribe",
        Report => {
            "report: machine report about our sending (DMARC, TLS-RPT, ARF not-spam, auth-failure); no action"
        }
        Unsubscribe => "unsubscribe: unsubscribe request",
        Subscribe => "subscribe: subscribe request; a person decides",
        AddressChange => {
            "address-change: change-address when the new address is known, else manual"
        }
        Virus => "virus: virus notification; no action",
        Unknown => "unknown: not recognised; a person decides",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_defaults_read_back() {
        let p = Policy::default();
        let text = p.to_toml();
        assert_eq!(Policy::from_toml(&text).unwrap(), p);
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let p = Policy::from_toml("[category.soft]\naction = \"block\"\nthreshold = 5\n").unwrap();
        assert_eq!(p.for_category(Category::Soft).threshold, 5);
        assert_eq!(p.for_category(Category::Hard).action, Action::Block);
    }

    /// A category that sets only its threshold or window keeps its
    /// default action (and resets).
    #[test]
    fn partial_category_inherits_the_default_action() {
        let p = Policy::from_toml("[category.soft]\nthreshold = 5\n").unwrap();
        let soft = p.for_category(Category::Soft);
        assert_eq!(
            (soft.action, soft.threshold, soft.window_days),
            (Action::Block, 5, 30)
        );
        let p = Policy::from_toml("[category.delivered]\nwindow_days = 7\n").unwrap();
        assert_eq!(p.for_category(Category::Delivered).resets, [Category::Soft]);
        assert!(Policy::from_toml("[category.soft]\nthreshhold = 5\n").is_err());
    }

    #[test]
    fn rejects_unknowns() {
        assert!(Policy::from_toml("[category.nope]\naction = \"block\"\n").is_err());
        assert!(Policy::from_toml("[category.soft]\naction = \"zap\"\n").is_err());
        assert!(Policy::from_toml("[sql]\ntabel = \"x\"\n").is_err());
        assert!(Policy::from_toml("[sql.set]\nx = \"nope\"\n").is_err());
    }
}
