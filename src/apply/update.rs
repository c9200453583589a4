//! `Update`: one contact change, the row bapply writes (CSV, JSON Lines,
//! SQL) or applies to a database.

use super::policy::Action;
use crate::classify::taxonomy::{Category, Reason};
use serde::Serialize;

/// Field order is the CSV column order (issue #4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Update {
    pub email: Option<String>,
    pub action: Action,
    pub category: Category,
    pub reason: Reason,
    pub status: Option<String>,
    pub count: u32,
    pub first_seen: String,
    pub last_seen: String,
    pub subscriber: Option<String>,
    pub new_email: Option<String>,
    pub rule: String,
    pub evidence: Option<String>,
}

/// Column names, in order.
pub const COLUMNS: &[&str] = &[
    "email",
    "action",
    "category",
    "reason",
    "status",
    "count",
    "first_seen",
    "last_seen",
    "subscriber",
    "new_email",
    "rule",
    "evidence",
];

/// A field's value as text, for writers that treat every column alike.
pub enum Field<'a> {
    Text(&'a str),
    Int(u32),
    Null,
}

impl Update {
    pub fn field(&self, name: &str) -> Field<'_> {
        match name {
            "email" => opt(&self.email),
            "action" => Field::Text(self.action.as_str()),
            "category" => Field::Text(self.category.as_str()),
            "reason" => Field::Text(self.reason.as_str()),
            "status" => opt(&self.status),
            "count" => Field::Int(self.count),
            "first_seen" => Field::Text(&self.first_seen),
            "last_seen" => Field::Text(&self.last_seen),
            "subscriber" => opt(&self.subscriber),
            "new_email" => opt(&self.new_email),
            "rule" => Field::Text(&self.rule),
            "evidence" => opt(&self.evidence),
            _ => Field::Null,
        }
    }
}

fn opt(o: &Option<String>) -> Field<'_> {
    match o {
        Some(s) => Field::Text(s),
        None => Field::Null,
    }
}
