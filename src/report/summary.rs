//! The figures of a report, worked out from the merged counters: what the
//! terminal table, `--json` and `--html` all show (breport(1), OUTPUT).

use super::alert::AlertResult;
use super::tally::{Tally, day_name};
use crate::record::{Category, Reason};
use serde::Serialize;
use std::collections::BTreeMap;

/// How much of each table a report shows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Domains with fewer failures than this are not shown (nor alerted on).
    pub min_count: u64,
    /// Rows of the domain and diagnostic tables.
    pub top: usize,
}

/// A count and its share of the records in scope (0 to 1).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: &'static str,
    pub count: u64,
    pub share: f64,
}

/// The share of failures that are the sender's problem.
#[derive(Debug, Clone, Serialize)]
pub struct SenderSide {
    pub blocked: u64,
    /// `blocked` over all failures (0 to 1).
    pub share_of_failures: f64,
    pub complaint: u64,
    /// Reports about our own sending (category `report`), where the
    /// record vocabulary has it.
    pub report: u64,
}

/// A receiving domain with failures past the floor.
#[derive(Debug, Clone, Serialize)]
pub struct DomainRow {
    pub domain: String,
    pub records: u64,
    pub failures: u64,
    pub hard: u64,
    pub soft: u64,
    pub blocked: u64,
    /// The most frequent reason among the domain's failures.
    pub reason: &'static str,
    pub reason_count: u64,
}

/// One day, UTC.
#[derive(Debug, Clone, Serialize)]
pub struct DayRow {
    pub day: String,
    pub records: u64,
    pub failures: u64,
    /// Counts per category; categories without records that day left out.
    pub categories: BTreeMap<&'static str, u64>,
}

/// A masked diagnostic and how often it came back.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosticRow {
    pub text: String,
    pub count: u64,
    /// The category most of its records have.
    pub category: &'static str,
}

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub records: u64,
    pub failures: u64,
    /// Records outside --since/--until, not counted anywhere else.
    pub left_out: u64,
    pub undated: u64,
    pub no_recipient: u64,
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    pub sender_side: SenderSide,
    /// Categories with records, most first.
    pub categories: Vec<Row>,
    /// Reasons with records, most first.
    pub reasons: Vec<Row>,
    pub min_count: u64,
    /// Receiving domains with at least `min_count` failures, most failures first.
    pub domains: Vec<DomainRow>,
    /// Domains with failures that are not in `domains` (below the floor or
    /// past the top).
    pub domains_not_shown: u64,
    pub days: Vec<DayRow>,
    pub diagnostics: Vec<DiagnosticRow>,
    pub alerts: Vec<AlertResult>,
}

fn share(n: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

impl Summary {
    pub(crate) fn new(t: &Tally, limits: Limits, alerts: Vec<AlertResult>) -> Summary {
        let failures: u64 = Category::ALL
            .iter()
            .filter(|c| c.is_failure())
            .map(|c| t.by_category[*c as usize])
            .sum();
        let mut categories: Vec<Row> = Category::ALL
            .iter()
            .map(|c| Row {
                name: c.as_str(),
                count: t.by_category[*c as usize],
                share: share(t.by_category[*c as usize], t.records),
            })
            .filter(|r| r.count > 0)
            .collect();
        categories.sort_by_key(|r| std::cmp::Reverse(r.count));
        let mut reasons: Vec<Row> = Reason::ALL
            .iter()
            .map(|r| Row {
                name: r.as_str(),
                count: t.by_reason[*r as usize],
                share: share(t.by_reason[*r as usize], t.records),
            })
            .filter(|r| r.count > 0)
            .collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.count));
        let blocked = t.by_category[Category::Blocked as usize];
        let fails = |by: &[u32]| -> u64 {
            Category::ALL
                .iter()
                .filter(|c| c.is_failure())
                .map(|c| u64::from(by[*c as usize]))
                .sum()
        };
        let mut domains: Vec<DomainRow> = Vec::new();
        let mut with_failures = 0u64;
        for (name, d) in &t.domains {
            let f = fails(&d.by_category);
            if f == 0 {
                continue;
            }
            with_failures += 1;
            if f < limits.min_count {
                continue;
            }
            let (reason, reason_count) = d
                .failure_reasons
                .iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                .map_or(("", 0), |(r, n)| (r.as_str(), u64::from(*n)));
            domains.push(DomainRow {
                domain: name.to_string(),
                records: d.records,
                failures: f,
                hard: u64::from(d.by_category[Category::Hard as usize]),
                soft: u64::from(d.by_category[Category::Soft as usize]),
                blocked: u64::from(d.by_category[Category::Blocked as usize]),
                reason,
                reason_count,
            });
        }
        domains.sort_by(|a, b| {
            b.failures
                .cmp(&a.failures)
                .then_with(|| a.domain.cmp(&b.domain))
        });
        domains.truncate(limits.top);
        let days = t
            .days
            .iter()
            .map(|(d, row)| DayRow {
                day: day_name(*d),
                records: row.iter().sum(),
                failures: Category::ALL
                    .iter()
                    .filter(|c| c.is_failure())
                    .map(|c| row[*c as usize])
                    .sum(),
                categories: Category::ALL
                    .iter()
                    .map(|c| (c.as_str(), row[*c as usize]))
                    .filter(|(_, n)| *n > 0)
                    .collect(),
            })
            .collect();
        let mut diagnostics: Vec<DiagnosticRow> = t
            .diagnostics
            .iter()
            .map(|(text, d)| {
                let c = (0..d.by_category.len())
                    .max_by(|a, b| d.by_category[*a].cmp(&d.by_category[*b]).then(b.cmp(a)))
                    .unwrap_or(0);
                DiagnosticRow {
                    text: text.to_string(),
                    count: d.count,
                    category: Category::ALL[c].as_str(),
                }
            })
            .collect();
        diagnostics.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
        diagnostics.truncate(limits.top);
        Summary {
            records: t.records,
            failures,
            left_out: t.left_out,
            undated: t.undated,
            no_recipient: t.no_recipient,
            first_day: t.days.keys().next().map(|d| day_name(*d)),
            last_day: t.days.keys().next_back().map(|d| day_name(*d)),
            sender_side: SenderSide {
                blocked,
                share_of_failures: share(blocked, failures),
                complaint: t.by_category[Category::Complaint as usize],
                report: t.by_category[Category::Report as usize],
            },
            categories,
            reasons,
            min_count: limits.min_count,
            domains_not_shown: with_failures - domains.len() as u64,
            domains,
            days,
            diagnostics,
            alerts,
        }
    }
}
