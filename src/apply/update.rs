//! `Update`: one contact change, the row bapply writes (CSV, JSON Lines,
//! SQL) or applies to a database.

use super::action::Action;
use crate::record::{Category, Reason};
use serde::Serialize;
use std::borrow::Cow;

/// Field order is the CSV column order (issue #4). The text borrows from
/// the run's input where it can: an update is built for the state and
/// again for the output, and a hundred thousand of them are written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Update<'a> {
    pub email: Option<Cow<'a, str>>,
    pub action: Action,
    pub category: Category,
    pub reason: Reason,
    pub status: Option<Cow<'a, str>>,
    pub count: u32,
    pub first_seen: Cow<'a, str>,
    pub last_seen: Cow<'a, str>,
    pub subscriber: Option<Cow<'a, str>>,
    pub new_email: Option<Cow<'a, str>>,
    pub rule: Cow<'a, str>,
    pub evidence: Option<Cow<'a, str>>,
    /// Under `--scope list`: the List-Id the update is about (None: every
    /// list). A column only in that mode ([`LIST_COLUMN`]); a JSON field
    /// only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_id: Option<Cow<'a, str>>,
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

/// The column `--scope list` adds after [`COLUMNS`].
pub const LIST_COLUMN: &str = "list_id";

/// A field's value as text, for writers that treat every column alike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Text(&'a str),
    Int(u32),
    Null,
}

impl<'a> Update<'a> {
    /// The same update, as one that may borrow for `'a` (an owned update
    /// read back from the state among borrowed ones).
    pub fn borrowed(u: Update<'static>) -> Update<'a> {
        u
    }

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
            "list_id" => opt(&self.list_id),
            _ => Field::Null,
        }
    }
}

fn opt<'a>(o: &'a Option<Cow<'_, str>>) -> Field<'a> {
    match o {
        Some(s) => Field::Text(s),
        None => Field::Null,
    }
}

/// A date as an update writes it, `2024-01-31T12:00:00Z`. Dates from 1970
/// to 9999, which is what mailboxes hold, are written here directly (two
/// per update, twice per run); chrono writes the rest.
pub fn rfc3339(t: i64) -> String {
    const LAST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    if !(0..=LAST).contains(&t) {
        return chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
    }
    let (days, secs) = (t / 86_400, t % 86_400);
    let (year, month, day) = crate::record::date::civil_from_days(days);
    let (month, day) = (i64::from(month), i64::from(day));
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let d = |n: i64| b'0' + (n % 10) as u8;
    let text = [
        d(year / 1000),
        d(year / 100),
        d(year / 10),
        d(year),
        b'-',
        d(month / 10),
        d(month),
        b'-',
        d(day / 10),
        d(day),
        b'T',
        d(h / 10),
        d(h),
        b':',
        d(m / 10),
        d(m),
        b':',
        d(s / 10),
        d(s),
        b'Z',
    ];
    text.iter().map(|&c| char::from(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn dates_as_chrono_writes_them() {
        let chrono = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        let mut t = 0i64;
        while t < 253_402_400_000 {
            assert_eq!(rfc3339(t), chrono(t), "{t}");
            assert_eq!(rfc3339(t + 86_399), chrono(t + 86_399), "{t}");
            t += 86_400 * 7 + 3_601;
        }
        for t in [
            -1,
            -86_400,
            951_782_400,
            1_704_067_200,
            4_107_542_400,
            253_402_300_799,
            253_402_300_800,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(rfc3339(t), chrono(t), "{t}");
        }
    }
}
