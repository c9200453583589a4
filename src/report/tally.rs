//! The counters a report is made of, filled record by record on the
//! parsing threads, one [`Tally`] per stretch of input, and merged in
//! input order. Memory is flat in the number of records: fixed arrays per
//! category and reason, and maps per receiving domain, per day and per
//! masked diagnostic, each with a bound so that hostile input cannot grow
//! them without end.

use super::mask::mask;
use crate::record::{Category, Reason, RecordRef};
use hashbrown::HashMap;
use std::collections::BTreeMap;

pub(crate) const CATEGORIES: usize = Category::ALL.len();
pub(crate) const REASONS: usize = Reason::ALL.len();

/// Receiving domains kept at most; past this, the ones with fewest
/// records are dropped (counted in [`Tally::domains_dropped`]).
const MAX_DOMAINS: usize = 100_000;
/// Days kept at most (about 27 years); records of other days are counted
/// in [`Tally::days_dropped`].
const MAX_DAYS: usize = 10_000;
/// Masked diagnostics kept at most; past twice this, the least frequent
/// are dropped, so the counts of rare ones are a lower bound.
const MAX_DIAGNOSTICS: usize = 5_000;

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// What is counted per receiving domain.
#[derive(Debug, Clone, Default)]
pub(crate) struct DomainTally {
    pub records: u64,
    pub by_category: [u32; CATEGORIES],
    /// Failure records per reason, few per domain.
    pub failure_reasons: Vec<(Reason, u32)>,
}

/// What is counted per masked diagnostic.
#[derive(Debug, Clone, Default)]
pub(crate) struct DiagnosticTally {
    pub count: u64,
    pub by_category: [u32; CATEGORIES],
}

/// Which records count: a day range, inclusive, in days since 1970-01-01.
#[derive(Debug, Clone, Copy, Default)]
pub struct DayRange {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl DayRange {
    fn is_set(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }
    fn holds(&self, day: i64) -> bool {
        self.since.is_none_or(|s| day >= s) && self.until.is_none_or(|u| day <= u)
    }
}

/// The counters of one stretch of input, or of the whole after merging.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    pub records: u64,
    /// Records outside --since/--until (or without a date when one is given).
    pub left_out: u64,
    pub undated: u64,
    pub no_recipient: u64,
    pub by_category: [u64; CATEGORIES],
    pub by_reason: [u64; REASONS],
    pub domains: Map<Box<str>, DomainTally>,
    pub domains_dropped: u64,
    pub days: BTreeMap<i64, [u64; CATEGORIES]>,
    pub days_dropped: u64,
    pub diagnostics: Map<Box<str>, DiagnosticTally>,
}

// Written out: arrays this long have no derived `Default`.
impl Default for Tally {
    fn default() -> Tally {
        Tally {
            records: 0,
            left_out: 0,
            undated: 0,
            no_recipient: 0,
            by_category: [0; CATEGORIES],
            by_reason: [0; REASONS],
            domains: Map::default(),
            domains_dropped: 0,
            days: BTreeMap::new(),
            days_dropped: 0,
            diagnostics: Map::default(),
        }
    }
}

impl Tally {
    /// Counts one record.
    pub(crate) fn add(&mut self, r: &RecordRef<'_>, range: DayRange) {
        let day = r.date.as_deref().and_then(day_of);
        if range.is_set() && !day.is_some_and(|d| range.holds(d)) {
            self.left_out += 1;
            return;
        }
        let c = r.category as usize;
        let failure = r.category.is_failure();
        self.records += 1;
        self.by_category[c] += 1;
        self.by_reason[r.reason as usize] += 1;
        match day {
            Some(d) => {
                if let Some(row) = self.days.get_mut(&d) {
                    row[c] += 1;
                } else if self.days.len() < MAX_DAYS {
                    let mut row = [0; CATEGORIES];
                    row[c] = 1;
                    self.days.insert(d, row);
                } else {
                    self.days_dropped += 1;
                }
            }
            None => self.undated += 1,
        }
        match r.recipient.as_deref().and_then(domain_of) {
            Some(domain) => {
                let lower;
                let domain = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
                    lower = domain.to_ascii_lowercase();
                    lower.as_str()
                } else {
                    domain
                };
                let t = match self.domains.get_mut(domain) {
                    Some(t) => t,
                    None => self.domains.entry(domain.into()).or_default(),
                };
                t.records += 1;
                t.by_category[c] += 1;
                if failure {
                    match t.failure_reasons.iter_mut().find(|(x, _)| *x == r.reason) {
                        Some((_, n)) => *n += 1,
                        None => t.failure_reasons.push((r.reason, 1)),
                    }
                }
                if self.domains.len() > MAX_DOMAINS {
                    self.domains_dropped +=
                        prune(&mut self.domains, MAX_DOMAINS / 2, |t| t.records);
                }
            }
            None => self.no_recipient += 1,
        }
        if let Some(d) = r.diagnostic.as_deref().filter(|d| !d.trim().is_empty()) {
            let key = mask(d);
            let t = match self.diagnostics.get_mut(key.as_str()) {
                Some(t) => t,
                None => self.diagnostics.entry(key.into_boxed_str()).or_default(),
            };
            t.count += 1;
            t.by_category[c] += 1;
            if self.diagnostics.len() > 2 * MAX_DIAGNOSTICS {
                prune(&mut self.diagnostics, MAX_DIAGNOSTICS, |t| t.count);
            }
        }
    }

    /// Adds `other`, the counters of the input after this one's.
    pub(crate) fn merge(&mut self, other: Tally) {
        self.records += other.records;
        self.left_out += other.left_out;
        self.undated += other.undated;
        self.no_recipient += other.no_recipient;
        add_arrays(&mut self.by_category, &other.by_category);
        add_arrays(&mut self.by_reason, &other.by_reason);
        self.domains_dropped += other.domains_dropped;
        for (k, v) in other.domains {
            match self.domains.get_mut(&k) {
                Some(t) => {
                    t.records += v.records;
                    add_arrays(&mut t.by_category, &v.by_category);
                    for (reason, n) in v.failure_reasons {
                        match t.failure_reasons.iter_mut().find(|(x, _)| *x == reason) {
                            Some((_, m)) => *m += n,
                            None => t.failure_reasons.push((reason, n)),
                        }
                    }
                }
                None => {
                    self.domains.insert(k, v);
                }
            }
        }
        if self.domains.len() > MAX_DOMAINS {
            self.domains_dropped += prune(&mut self.domains, MAX_DOMAINS / 2, |t| t.records);
        }
        self.days_dropped += other.days_dropped;
        for (d, row) in other.days {
            if let Some(mine) = self.days.get_mut(&d) {
                add_arrays(mine, &row);
            } else if self.days.len() < MAX_DAYS {
                self.days.insert(d, row);
            } else {
                self.days_dropped += row.iter().sum::<u64>();
            }
        }
        for (k, v) in other.diagnostics {
            match self.diagnostics.get_mut(&k) {
                Some(t) => {
                    t.count += v.count;
                    add_arrays(&mut t.by_category, &v.by_category);
                }
                None => {
                    self.diagnostics.insert(k, v);
                }
            }
        }
        if self.diagnostics.len() > 2 * MAX_DIAGNOSTICS {
            prune(&mut self.diagnostics, MAX_DIAGNOSTICS, |t| t.count);
        }
    }
}

fn add_arrays<T: Copy + std::ops::AddAssign, const N: usize>(a: &mut [T; N], b: &[T; N]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// Keeps the `keep` entries with the highest `weight`; returns the total
/// weight of the others, which are dropped.
fn prune<V>(map: &mut Map<Box<str>, V>, keep: usize, weight: impl Fn(&V) -> u64) -> u64 {
    let mut weights: Vec<u64> = map.values().map(&weight).collect();
    if weights.len() <= keep {
        return 0;
    }
    let cut = weights.len() - keep;
    let (_, floor, _) = weights.select_nth_unstable(cut);
    let floor = *floor;
    let mut dropped = 0;
    map.retain(|_, v| {
        let w = weight(v);
        if w < floor {
            dropped += w;
            false
        } else {
            true
        }
    });
    // Ties at the floor may leave more than `keep`; drop them too when
    // the map would otherwise not shrink.
    if map.len() > keep * 2 {
        map.retain(|_, v| {
            let w = weight(v);
            if w <= floor {
                dropped += w;
                false
            } else {
                true
            }
        });
    }
    dropped
}

/// The receiving domain of an address: after the last `@`, without a
/// trailing `>` or dot, at most 255 bytes (longer than any DNS name, so
/// only hostile input is cut); `None` when there is none.
pub(crate) fn domain_of(address: &str) -> Option<&str> {
    let (_, d) = address.rsplit_once('@')?;
    let mut d = d.trim().trim_end_matches(['>', '.']);
    if d.len() > 255 {
        let mut cut = 255;
        while !d.is_char_boundary(cut) {
            cut -= 1;
        }
        d = &d[..cut];
    }
    (!d.is_empty()).then_some(d)
}

/// Days since 1970-01-01 (UTC) of an RFC 3339 date. The form bclassify
/// writes (`2024-01-31T12:00:00Z`) is read directly; others go through
/// chrono.
pub(crate) fn day_of(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() == 20 && b[19] == b'Z' && b[10] == b'T' {
        return parse_day(&date[..10]);
    }
    chrono::DateTime::parse_from_rfc3339(date)
        .ok()
        .map(|d| d.timestamp().div_euclid(86_400))
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
pub(crate) fn parse_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let days =
        crate::record::date::days_from_civil(y, u32::try_from(m).ok()?, u32::try_from(d).ok()?)?;
    Some(days)
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn day_name(day: i64) -> String {
    let (y, m, d) = crate::record::date::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days() {
        assert_eq!(day_of("1970-01-02T00:00:00Z"), Some(1));
        assert_eq!(day_of("2024-01-01T23:30:00-01:00"), parse_day("2024-01-02"));
        assert_eq!(day_of("2024-02-30T00:00:00Z"), None);
        assert_eq!(day_of("soon"), None);
        assert_eq!(day_name(parse_day("2026-12-04").unwrap()), "2026-12-04");
        assert_eq!(parse_day("2026-13-01"), None);
    }

    #[test]
    fn domains() {
        assert_eq!(domain_of("a@Example.COM"), Some("Example.COM"));
        assert_eq!(domain_of("<a@b.example.>"), Some("b.example"));
        assert_eq!(domain_of("a@"), None);
        assert_eq!(domain_of("nobody"), None);
        let long = format!("a@{}", "é".repeat(300));
        assert!(domain_of(&long).unwrap().len() <= 255);
    }

    #[test]
    fn pruning_keeps_the_largest() {
        let mut m: Map<Box<str>, u64> = Map::default();
        for i in 0..100u64 {
            m.insert(i.to_string().into(), i);
        }
        let dropped = prune(&mut m, 10, |v| *v);
        assert_eq!(m.len(), 10);
        assert!(m.contains_key("99") && m.contains_key("90") && !m.contains_key("89"));
        assert_eq!(dropped, (0..90).sum::<u64>());
    }
}
