//! Alerts (`--alert`, breport(1), ALERTS): thresholds on the share or
//! count of a category, overall or for any receiving domain past the
//! floor, for a cron job to mail about when one is crossed.

use super::tally::{CATEGORIES, Tally};
use crate::record::Category;
use serde::Serialize;
use std::fmt;

/// What an alert measures: one category, or every failure category.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    Category(Category),
    Failures,
}

/// One threshold: `[domain:]NAME>N%` (share of the records in scope) or
/// `[domain:]NAME>N` (a count).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    text: String,
    per_domain: bool,
    measure: Measure,
    /// A share (0 to 1) when `percent`, else a count.
    limit: f64,
    percent: bool,
}

impl std::str::FromStr for Alert {
    type Err = String;
    fn from_str(s: &str) -> Result<Alert, String> {
        let text = s.trim();
        let bad = |why: &str| {
            format!(
                "alert {s:?}: {why} (expected [domain:]CATEGORY>N% or [domain:]CATEGORY>N, e.g. blocked>10%)"
            )
        };
        let (per_domain, rest) = match text.strip_prefix("domain:") {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (name, limit) = rest.split_once('>').ok_or_else(|| bad("no '>'"))?;
        let name = name.trim();
        let measure = if name == "failures" {
            Measure::Failures
        } else {
            Measure::Category(
                name.parse()
                    .map_err(|_| bad(&format!("{name:?} is not a category nor 'failures'")))?,
            )
        };
        let limit = limit.trim();
        let (number, percent) = match limit.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (limit, false),
        };
        let n: f64 = number
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| bad(&format!("{number:?} is not a number")))?;
        if percent && n > 100.0 {
            return Err(bad("a share above 100%"));
        }
        Ok(Alert {
            text: text.to_string(),
            per_domain,
            measure,
            limit: if percent { n / 100.0 } else { n },
            percent,
        })
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where an alert was crossed: the whole report, or one domain.
#[derive(Debug, Clone, Serialize)]
pub struct Crossing {
    /// The domain, for a `domain:` alert.
    pub domain: Option<String>,
    pub count: u64,
    /// The records in scope: all, or the domain's.
    pub of: u64,
}

/// An alert and whether it fired.
#[derive(Debug, Clone, Serialize)]
pub struct AlertResult {
    pub alert: String,
    pub fired: bool,
    /// Where it was crossed, the worst first (for a `domain:` alert, every
    /// domain past the floor that crossed it).
    pub crossed: Vec<Crossing>,
}

impl AlertResult {
    /// The one stderr line of a fired alert.
    pub fn message(&self) -> String {
        let what = |c: &Crossing| {
            format!(
                "{}{} of {} records ({:.1}%)",
                c.domain
                    .as_deref()
                    .map(|d| format!("{d}: "))
                    .unwrap_or_default(),
                c.count,
                c.of,
                if c.of == 0 {
                    0.0
                } else {
                    c.count as f64 * 100.0 / c.of as f64
                }
            )
        };
        let mut parts: Vec<String> = self.crossed.iter().take(5).map(what).collect();
        if self.crossed.len() > 5 {
            parts.push(format!("and {} more domains", self.crossed.len() - 5));
        }
        format!("alert {}: {}", self.alert, parts.join(", "))
    }
}

impl Alert {
    fn count(&self, by_category: &[u64; CATEGORIES]) -> u64 {
        match self.measure {
            Measure::Category(c) => by_category[c as usize],
            Measure::Failures => Category::ALL
                .iter()
                .filter(|c| c.is_failure())
                .map(|c| by_category[*c as usize])
                .sum(),
        }
    }

    fn crossed(&self, count: u64, of: u64) -> bool {
        if self.percent {
            of > 0 && count as f64 > self.limit * of as f64
        } else {
            count as f64 > self.limit
        }
    }

    /// Checks the alert against the counters; domains count only with at
    /// least `min_count` failures.
    pub(crate) fn check(&self, t: &Tally, min_count: u64) -> AlertResult {
        let mut crossed = Vec::new();
        if self.per_domain {
            for (name, d) in &t.domains {
                let by: [u64; CATEGORIES] = d.by_category.map(u64::from);
                let failures = Alert {
                    measure: Measure::Failures,
                    ..self.clone()
                }
                .count(&by);
                let count = self.count(&by);
                if failures >= min_count && self.crossed(count, d.records) {
                    crossed.push(Crossing {
                        domain: Some(name.to_string()),
                        count,
                        of: d.records,
                    });
                }
            }
            crossed.sort_by(|a, b| {
                let ra = a.count as f64 / a.of as f64;
                let rb = b.count as f64 / b.of as f64;
                rb.total_cmp(&ra).then_with(|| a.domain.cmp(&b.domain))
            });
        } else {
            let count = self.count(&t.by_category);
            if self.crossed(count, t.records) {
                crossed.push(Crossing {
                    domain: None,
                    count,
                    of: t.records,
                });
            }
        }
        AlertResult {
            alert: self.text.clone(),
            fired: !crossed.is_empty(),
            crossed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_of_the_man_page() {
        for ok in [
            "blocked>10%",
            "complaint>0.1%",
            "hard>5%",
            "domain:blocked>30%",
            "failures>100",
            " soft > 2 % ",
        ] {
            ok.parse::<Alert>().unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "blocked",
            "blocked<10%",
            "bloked>10%",
            "blocked>x%",
            "blocked>101%",
            "blocked>-1",
            "blocked>NaN",
            "domain:>5%",
        ] {
            assert!(bad.parse::<Alert>().is_err(), "{bad}");
        }
        let a: Alert = "complaint>0.1%".parse().unwrap();
        assert!((a.limit - 0.001).abs() < 1e-12);
    }

    #[test]
    fn fires_only_past_the_threshold() {
        let mut t = Tally {
            records: 100,
            ..Tally::default()
        };
        t.by_category[Category::Blocked as usize] = 10;
        let at: Alert = "blocked>10%".parse().unwrap();
        assert!(!at.check(&t, 5).fired, "10 of 100 is not more than 10%");
        t.by_category[Category::Blocked as usize] = 11;
        assert!(at.check(&t, 5).fired);
        let count: Alert = "blocked>11".parse().unwrap();
        assert!(!count.check(&t, 5).fired);
    }
}
